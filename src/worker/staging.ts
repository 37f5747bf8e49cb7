import { Worker, type Job } from 'bullmq';
import { createHash } from 'node:crypto';
import { rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Asset } from '../../prisma/generated/client/client.ts';
import { StagingError, cleanupPartials, partialHasTag, stageFile } from '../domain/media/staging/copy.ts';
import { pushAssetOnAir } from '../domain/channels/on-air-edits.ts';
import { mediaChanged } from '../domain/schedules/schedule-content.ts';
import { NotMediaError, checkMediaFile } from '../domain/media/staging/media-check.ts';
import { publishAssetMedia, setAssetMedia } from '../domain/media/staging/media.ts';
import type { Services } from '../services/index.ts';
import { resolveInside } from '../services/storage/local-store.ts';
import {
  StoreError,
  isAbortError,
  projectStore,
  type MediaStore,
  type StoreObjectInfo,
} from '../services/storage/store.ts';
import { QueueName, type StagingJob } from '../services/queues.ts';

/** Progress reaches the event bus at most this often per job. */
const PROGRESS_INTERVAL_MS = 500;

/** Failures a retry can cure; the others need an operator (restageItem once fixed). */
const TRANSIENT = new Set(['STORE_UNREACHABLE', 'ABORTED']);

/**
 * Where a store object is staged on the playout volume: one file per object
 * and version (project, key, size and checksum), however many assets name
 * it, so five assets of one clip take its size once.
 */
export function stagedPathFor(projectId: string, storageKey: string, info: StoreObjectInfo): string {
  const version = info.checksum ? `${info.checksum.algorithm}:${info.checksum.value}` : '';
  const id = createHash('sha256')
    .update([projectId, storageKey, String(info.size), version].join('\0'))
    .digest('hex')
    .slice(0, 32);
  let base = path.posix.basename(storageKey);
  // NAME_MAX is 255 bytes, and the partial file beside it needs room.
  if (Buffer.byteLength(base) > 160) base = `media${path.posix.extname(base).slice(0, 16)}`;
  return path.posix.join('objects', id, base);
}

const fail = (kind: StagingError['kind'], message: string) => new StagingError(kind, message);

/**
 * Counts the bytes the asset's project has on the volume (each staged file
 * once) and reserves this one's under QUOTA_PROJECT_BYTES: the project's row
 * lock makes concurrent stagings count one after the other. A waiting asset
 * holds its reservation (mediaPath, mediaBytes) until it is READY or fails;
 * a READY one (verified again) keeps its path until the copy is done.
 */
async function reserveBytes(
  services: Services,
  asset: Asset & { projectId: string },
  dest: string,
  size: number,
): Promise<void> {
  const limit = services.config.quotas.projectBytes;
  await services.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM projects WHERE id = ${asset.projectId}::uuid FOR UPDATE`;
    const [row] = await tx.$queryRaw<{ used: bigint; shared: boolean | null }[]>`
      SELECT coalesce(sum(bytes), 0)::bigint AS used, bool_or(media_path = ${dest}) AS shared FROM (
        SELECT DISTINCT ON (media_path) media_path, coalesce(media_bytes, 0) AS bytes FROM assets
         WHERE project_id = ${asset.projectId}::uuid AND media_path IS NOT NULL
           AND media_status IN ('STAGING', 'READY') AND id <> ${asset.id}::uuid
      ) staged`;
    const used = Number(row.used);
    if (!row.shared && used + size > limit) {
      throw fail(
        'QUOTA_EXCEEDED',
        `the project's media quota is reached: ${used} of ${limit} bytes staged, this file needs ${size} (QUOTA_PROJECT_BYTES)`,
      );
    }
    if (asset.mediaStatus !== 'READY') {
      await tx.asset.update({ where: { id: asset.id }, data: { mediaPath: dest, mediaBytes: BigInt(size) } });
    }
  });
}

/** Removes a staged file (and its folder) that no asset names any more. */
async function releaseStaged(services: Services, relPath: string): Promise<void> {
  const users = await services.db.asset.count({ where: { mediaPath: relPath } });
  if (users > 0) return;
  const full = resolveInside(services.config.mediaVolumeDir, relPath);
  await unlink(full).catch(() => {});
  await rmdir(path.dirname(full)).catch(() => {});
}

async function verifyMedia(file: string): Promise<void> {
  try {
    await checkMediaFile(file);
  } catch (err) {
    if (err instanceof NotMediaError) throw fail('NOT_MEDIA', err.message);
    throw err;
  }
}

/**
 * Stages one asset: copies its media from its project's part of the store
 * onto the playout volume, verified, and marks the asset READY (so every
 * item of it is), or ERROR with the reason. A store that cannot be reached
 * is retried with backoff by BullMQ; the reason stays visible meanwhile.
 */
export async function stageAsset(
  services: Services,
  store: MediaStore,
  job: Job<StagingJob>,
  signal: AbortSignal,
): Promise<string> {
  const { db, config, log } = services;
  const asset = await db.asset.findUnique({ where: { id: job.data.assetId } });
  if (!asset) return 'asset deleted';
  // A staged asset keeps READY while its file is verified (restage).
  if (asset.mediaStatus !== 'READY') await setAssetMedia(services, asset.id, { mediaStatus: 'STAGING' });

  let lastProgress = 0;
  try {
    if (asset.projectId === null)
      throw fail('NOT_FOUND', 'the asset belongs to no project: its media cannot be staged');
    const owned = { ...asset, projectId: asset.projectId };
    const projectMedia = projectStore(store, asset.projectId);
    signal.throwIfAborted();
    const info = await projectMedia.stat(asset.storageKey);
    if (!info) throw fail('NOT_FOUND', `not found in the media store: ${asset.storageKey}`);
    if (info.size > config.quotas.maxObjectBytes) {
      throw fail(
        'TOO_LARGE',
        `too large: ${asset.storageKey} is ${info.size} bytes, at most ${config.quotas.maxObjectBytes} are staged (MEDIA_MAX_OBJECT_BYTES)`,
      );
    }
    const dest = stagedPathFor(asset.projectId, asset.storageKey, info);
    await reserveBytes(services, owned, dest, info.size);
    // This job's lock makes it the asset's only copier: a partial file of the asset is what a crashed attempt
    // left. Other assets' copies of the same object may be live beside it: theirs go only once long abandoned.
    const dir = path.join(config.mediaVolumeDir, path.posix.dirname(dest));
    await cleanupPartials(dir, { olderThanMs: 0, match: (name) => partialHasTag(name, asset.id) }).catch(() => []);
    await cleanupPartials(dir, { olderThanMs: Math.max(config.staging.lockMs * 4, 60_000) }).catch(() => []);

    const result = await stageFile(projectMedia, asset.storageKey, config.mediaVolumeDir, dest, {
      signal,
      info,
      verify: verifyMedia,
      partialTag: asset.id,
      onProgress: (copiedBytes, totalBytes) => {
        const now = Date.now();
        if (now - lastProgress < PROGRESS_INTERVAL_MS) return;
        lastProgress = now;
        publishAssetMedia(services, asset.projectId, {
          assetId: asset.id,
          status: 'STAGING',
          progress: { copiedBytes, totalBytes },
        });
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
    if (asset.mediaPath && asset.mediaPath !== dest) await releaseStaged(services, asset.mediaPath).catch(() => {});
    log.info({ assetId: asset.id, copied: result.copied, bytes: result.size }, 'asset staged');
    // Items of it left out of a playlist on air air from now on.
    await pushAssetOnAir(services, asset.id).catch((err: Error) =>
      log.warn({ assetId: asset.id, err: err.message }, 'pushing playlists on air failed'),
    );
    // Schedules airing it: their clips now have a media path.
    await mediaChanged(services, asset.id);
    return result.copied ? 'copied' : 'already staged';
  } catch (caught) {
    const err = caught instanceof StoreError ? storeFailure(caught, asset.storageKey) : caught;
    const kind = err instanceof StagingError ? err.kind : isAbortError(err) ? 'ABORTED' : 'OTHER';
    const reason = err instanceof Error ? err.message : String(err);
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    if (TRANSIENT.has(kind) && attempt < attempts) {
      // Still STAGING; the reason shows why it takes long. BullMQ retries after its backoff.
      await db.asset.update({
        where: { id: asset.id },
        data: { mediaError: `${reason} (attempt ${attempt} of ${attempts}, retrying)` },
      });
      throw err;
    }
    const final = TRANSIENT.has(kind) ? `${reason} (gave up after ${attempts} attempts)` : reason;
    await setAssetMedia(services, asset.id, { mediaStatus: 'ERROR', mediaError: final, mediaPath: null });
    log.warn({ assetId: asset.id, kind, reason: final }, 'staging failed');
    return `failed: ${kind}`;
  }
}

/** A store failure before the copy began, as the copy would report it. */
function storeFailure(err: StoreError, key: string): StagingError {
  if (err.kind === 'NOT_FOUND')
    return new StagingError('NOT_FOUND', `not found in the media store: ${key}`, { cause: err });
  if (err.kind === 'UNREACHABLE') return new StagingError('STORE_UNREACHABLE', err.message, { cause: err });
  return new StagingError('OTHER', err.message, { cause: err });
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
