import { Worker } from 'bullmq';
import type { Services } from '../services/index.ts';
import { QueueName } from '../services/queues.ts';
import { failOverSilentChannels } from './heartbeat-timeouts.ts';
import { checkNodes } from './node-health.ts';
import { reconcile } from './reconcile.ts';

/** Tick jobs leave nothing behind in Redis but their last failures. */
const TICK_JOB_OPTS = { removeOnComplete: true, removeOnFail: 50 };

/**
 * The control loop: BullMQ's job scheduler puts one job on the queue per
 * tick, so however many workers run, each tick's work runs once.
 */
export async function startControlLoop(services: Services): Promise<Worker> {
  const { config, log, redis, queues } = services;
  await queues.control.upsertJobScheduler('reconcile', { every: config.reconcileIntervalMs }, { name: 'reconcile', opts: TICK_JOB_OPTS });
  await queues.control.upsertJobScheduler('node-health', { every: config.controlTickMs }, { name: 'node-health', opts: TICK_JOB_OPTS });
  await queues.control.upsertJobScheduler('heartbeats', { every: config.controlTickMs }, { name: 'heartbeats', opts: TICK_JOB_OPTS });
  const worker = new Worker(
    QueueName.control,
    async (job) => {
      switch (job.name) {
        case 'reconcile': {
          const result = await reconcile(services);
          if (result.removed || result.lost) log.info(result, 'reconciled sidecars');
          return result;
        }
        case 'node-health': {
          const result = await checkNodes(services);
          if (result.wentOffline || result.cameOnline) log.info(result, 'node health changed');
          return result;
        }
        case 'heartbeats': {
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
  return worker;
}
