import { Worker } from 'bullmq';
import type { Services } from '../services/index.ts';
import { QueueName } from '../services/queues.ts';
import { reconcile } from './reconcile.ts';

/**
 * The control loop: BullMQ's job scheduler puts one job on the queue per
 * tick, so however many workers run, each tick's work runs once.
 */
export async function startControlLoop(services: Services): Promise<Worker> {
  const { config, log, redis, queues } = services;
  await queues.control.upsertJobScheduler('reconcile', { every: config.reconcileIntervalMs }, { name: 'reconcile' });
  const worker = new Worker(
    QueueName.control,
    async (job) => {
      switch (job.name) {
        case 'reconcile': {
          const result = await reconcile(services);
          if (result.removed || result.lost) log.info(result, 'reconciled sidecars');
          return result;
        }
        default:
          throw new Error(`unknown control job ${job.name}`);
      }
    },
    { connection: redis, prefix: config.queuePrefix, concurrency: 1 },
  );
  worker.on('error', (err) => log.warn({ err: err.message }, 'control loop error'));
  return worker;
}
