import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** One queue per concern (BullMQ). */
export const QueueName = { staging: 'onair-staging', control: 'onair-control' } as const;

/** A staging job names its asset only: no paths, keys or secrets in job data. */
export interface StagingJob {
  assetId: string;
}

export interface StagingPolicy {
  /** Attempts while the store is unreachable. */
  attempts: number;
  /** First retry delay, doubled at each attempt. */
  backoffMs: number;
}

export interface Queues {
  staging: Queue<StagingJob>;
  /** The control loop's ticks (reconciliation, later heartbeats): one job per tick, whatever the number of workers. */
  control: Queue;
  /**
   * Queues the staging of an asset. The job id is the asset's, so however many
   * items or replicas ask at once, one job exists while it waits or runs.
   */
  stageAsset(assetId: string): Promise<void>;
  close(): Promise<void>;
}

export function createQueues(connection: Redis, prefix: string, policy: StagingPolicy): Queues {
  const staging = new Queue<StagingJob>(QueueName.staging, { connection, prefix });
  const control = new Queue(QueueName.control, { connection, prefix });
  return {
    staging,
    control,
    async stageAsset(assetId) {
      await staging.add(
        'stage',
        { assetId },
        {
          jobId: `asset-${assetId}`,
          attempts: policy.attempts,
          backoff: { type: 'exponential', delay: policy.backoffMs },
          // Gone once finished, so a later restage can queue the asset again;
          // the outcome lives on the asset row.
          removeOnComplete: true,
          removeOnFail: true,
        },
      );
    },
    close: async () => {
      await Promise.allSettled([staging.close(), control.close()]);
    },
  };
}
