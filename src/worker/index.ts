import { mkdir } from 'node:fs/promises';
import { cleanupPartials } from '../domain/media/staging/copy.ts';
import { assetsAwaitingStaging } from '../domain/media/staging/media.ts';
import type { Services } from '../services/index.ts';
import { createMediaStore } from '../services/storage/index.ts';
import type { MediaStore } from '../services/storage/store.ts';
import { startControlLoop } from './control.ts';
import { startIngest } from './ingest/index.ts';
import { startStagingWorker } from './staging.ts';

export interface Workers {
  close(): Promise<void>;
}

export interface WorkerOptions {
  /** The media store; by default the one the configuration names. */
  store?: MediaStore;
}

/**
 * Starts the BullMQ workers of this process: staging, and the control loop
 * (reconciliation of sidecars every RECONCILE_INTERVAL_MS); and the readers of
 * running channels' sidecar events (as-run, heartbeats, engine status). At start-up it also clears copies
 * that a crashed worker left half-written, and queues again every asset items
 * still wait for, so a lost queue (Redis restart) loses no staging.
 */
export async function startWorkers(services: Services, options: WorkerOptions = {}): Promise<Workers> {
  const { config, log } = services;
  const store = options.store ?? createMediaStore(config.mediaStore);
  await mkdir(config.mediaVolumeDir, { recursive: true });
  // Older than two lock periods: no live worker still writes it.
  const removed = await cleanupPartials(config.mediaVolumeDir, { olderThanMs: 2 * config.staging.lockMs });
  if (removed.length) log.info({ removed: removed.length }, 'removed partial copies of crashed workers');
  const staging = startStagingWorker(services, store);
  const control = await startControlLoop(services);
  // Every worker reads sidecar events; leases give each channel one reader.
  const ingest = startIngest(services);
  for (const assetId of await assetsAwaitingStaging(services)) await services.queues.stageAsset(assetId);
  return {
    async close() {
      const results = await Promise.allSettled([staging.close(), control.close(), ingest.close()]);
      if (!options.store) await store.close();
      for (const r of results) if (r.status === 'rejected') log.warn({ err: String(r.reason) }, 'worker close failed');
    },
  };
}
