import { Worker, type Job } from 'bullmq';
import path from 'node:path';
import { StagingError, cleanupPartials, stageFile } from '../domain/staging/copy.ts';
import { publishAssetMedia, setAssetMedia } from '../domain/staging/media.ts';
import type { Services } from '../services/index.ts';
import type { MediaStore } from '../services/storage/store.ts';
import { QueueName, type StagingJob } from '../services/queues.ts';

/** Progress reaches the event bus at most this often per job. */
const PROGRESS_INTERVAL_MS = 500;

/** Failures a retry can cure; the others need an operator (restageItem once fixed). */
const TRANSIENT = new Set(['STORE_UNREACHABLE', 'ABORTED']);

/** Where an asset's media lives on the playout volume: its id keeps names unique. */
export function volumePathFor(asset: { id: string; filename: string }): string {
  return path.posix.join(asset.id, asset.filename);
}

/**
 * Stages one asset: copies its media onto the playout volume, verified, and
 * marks the asset READY (so every item of it is), or ERROR with the reason.
 * A store that cannot be reached is retried with backoff by BullMQ; the
 * reason stays visible meanwhile.
 */
export async function stageAsset(services: Services, store: MediaStore, job: Job<StagingJob>, signal: AbortSignal): Promise<string> {
  const { db, config, log } = services;
  const asset = await db.asset.findUnique({ where: { id: job.data.assetId } });
  if (!asset) return 'asset deleted';
  const dest = volumePathFor(asset);
  // A staged asset keeps READY while its file is verified (restage).
  if (asset.mediaStatus !== 'READY') await setAssetMedia(services, asset.id, { mediaStatus: 'STAGING' });
  // This job's lock makes it the asset's only copier: a partial file beside the
  // destination is what a crashed attempt left.
  await cleanupPartials(path.join(config.mediaVolumeDir, asset.id), { olderThanMs: 0 }).catch(() => []);

  let lastProgress = 0;
  try {
    const result = await stageFile(store, asset.storageKey, config.mediaVolumeDir, dest, {
      signal,
      onProgress: (copiedBytes, totalBytes) => {
        const now = Date.now();
        if (now - lastProgress < PROGRESS_INTERVAL_MS) return;
        lastProgress = now;
        publishAssetMedia(services, asset.projectId, { assetId: asset.id, status: 'STAGING', progress: { copiedBytes, totalBytes } });
        void job.updateProgress({ copiedBytes, totalBytes }).catch(() => {});
      },
    });
    await setAssetMedia(services, asset.id, {
      mediaStatus: 'READY',
      mediaError: null,
      mediaPath: dest,
      mediaBytes: BigInt(result.size),
      mediaStagedAt: new Date(),
    });
    log.info({ assetId: asset.id, copied: result.copied, bytes: result.size }, 'asset staged');
    return result.copied ? 'copied' : 'already staged';
  } catch (err) {
    const kind = err instanceof StagingError ? err.kind : 'OTHER';
    const reason = err instanceof Error ? err.message : String(err);
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    if (TRANSIENT.has(kind) && attempt < attempts) {
      // Still STAGING; the reason shows why it takes long. BullMQ retries after its backoff.
      await db.asset.update({ where: { id: asset.id }, data: { mediaError: `${reason} (attempt ${attempt} of ${attempts}, retrying)` } });
      throw err;
    }
    const final = TRANSIENT.has(kind) ? `${reason} (gave up after ${attempts} attempts)` : reason;
    await setAssetMedia(services, asset.id, { mediaStatus: 'ERROR', mediaError: final, mediaPath: null });
    log.warn({ assetId: asset.id, kind, reason: final }, 'staging failed');
    return `failed: ${kind}`;
  }
}

/** The staging worker: one BullMQ Worker on the staging queue. */
export function startStagingWorker(services: Services, store: MediaStore): Worker<StagingJob> {
  const { config, log, redis } = services;
  const worker = new Worker<StagingJob>(
    QueueName.staging,
    (job, _token, signal) => stageAsset(services, store, job, signal ?? new AbortController().signal),
    {
      connection: redis,
      prefix: config.queuePrefix,
      concurrency: config.staging.concurrency,
      lockDuration: config.staging.lockMs,
      // A job whose worker died is taken over once its lock lapses; a copy restarts from scratch.
      stalledInterval: Math.max(250, Math.floor(config.staging.lockMs / 2)),
      maxStalledCount: 3,
    },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'staging worker error'));
  worker.on('failed', (job, err) => log.debug({ jobId: job?.id, err: err.message }, 'staging attempt failed'));
  return worker;
}
