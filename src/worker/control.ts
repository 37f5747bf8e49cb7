import { Worker } from 'bullmq';
import type { Services } from '../services/index.ts';
import { QueueName } from '../services/queues.ts';
import { announceAlarms, syncNodeAlarms } from '../domain/channels/alarms.ts';
import { failOverSilentChannels } from './heartbeat-timeouts.ts';
import { checkNodes } from './node-health.ts';
import { reconcile } from './reconcile.ts';
import { markMissingMedia } from '../domain/media/staging/missing.ts';

/** Tick jobs leave nothing behind in Redis but their last failures. */
const TICK_JOB_OPTS = { removeOnComplete: true, removeOnFail: 50 };

/**
 * The control loop: BullMQ's job scheduler puts one job on the queue per
 * tick, so however many workers run, each tick's work runs once.
 */
export async function startControlLoop(services: Services): Promise<Worker> {
  const { config, log, redis, queues } = services;
  // A control plane that was down wrote no heartbeats: right after its start every channel looks
  // silent, though its sidecars kept playing (local ones are adopted). The event readers get one
  // HEARTBEAT_TIMEOUT_MS to read them again before silence means a lost sidecar; sidecars that
  // died meanwhile are found sooner by reconciliation (dead pids, missing containers).
  let heartbeatsFrom = Date.now() + config.heartbeatTimeoutMs;
  const schedule = async () => {
    await queues.control.upsertJobScheduler(
      'reconcile',
      { every: config.reconcileIntervalMs },
      { name: 'reconcile', opts: TICK_JOB_OPTS },
    );
    await queues.control.upsertJobScheduler(
      'node-health',
      { every: config.controlTickMs },
      { name: 'node-health', opts: TICK_JOB_OPTS },
    );
    await queues.control.upsertJobScheduler(
      'heartbeats',
      { every: config.controlTickMs },
      { name: 'heartbeats', opts: TICK_JOB_OPTS },
    );
  };
  await schedule();
  // A Redis restarted without persistence forgets the schedulers: each reconnection puts them back
  // (an upsert of the same scheduler changes nothing), or the ticks would stop until onair restarts.
  // The event readers hold their channels through Redis leases: while it was away none read, and no
  // heartbeat was written. Silence then is Redis's, not the sidecars': they get the same grace as at start.
  const reschedule = () => {
    heartbeatsFrom = Math.max(heartbeatsFrom, Date.now() + config.heartbeatTimeoutMs);
    void schedule().catch((err: Error) => log.warn({ err: err.message }, 'control loop not rescheduled'));
  };
  redis.on('ready', reschedule);
  const worker = new Worker(
    QueueName.control,
    async (job) => {
      switch (job.name) {
        case 'reconcile': {
          const result = await reconcile(services);
          if (result.removed || result.lost) log.info(result, 'reconciled sidecars');
          // Staged files that left the volume stop reading READY.
          const missing = await markMissingMedia(services);
          return { ...result, missingMedia: missing.length };
        }
        case 'node-health': {
          const result = await checkNodes(services);
          if (result.wentOffline || result.cameOnline) log.info(result, 'node health changed');
          for (const change of await syncNodeAlarms(services.db)) announceAlarms(services, change.projectId, [change]);
          return result;
        }
        case 'heartbeats': {
          if (Date.now() < heartbeatsFrom) return { stale: 0, restarted: 0, failed: 0, skipped: 'starting' };
          const result = await failOverSilentChannels(services);
          if (result.stale) log.info(result, 'failed over channels without heartbeat');
          return result;
        }
        default:
          throw new Error(`unknown control job ${job.name}`);
      }
    },
    // Ticks of different kinds side by side, so a failover's restarts do not hold node health up;
    // overlapping ticks are safe, every change they make being a conditional write.
    { connection: redis, prefix: config.queuePrefix, concurrency: 3 },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'control loop error'));
  worker.on('closed', () => redis.off('ready', reschedule));
  return worker;
}
