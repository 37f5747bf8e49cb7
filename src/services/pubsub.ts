import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import type { MediaStatus } from '../../prisma/generated/client/enums.ts';

/** A change of an asset's staging: every item of the asset shows it. */
export interface AssetMediaEvent {
  assetId: string;
  status: MediaStatus;
  /** Bytes copied and expected, while STAGING. */
  progress?: { copiedBytes: number; totalBytes: number };
  error?: string | null;
}

/**
 * Every topic of onair's event bus, keyed by project so that a subscriber only
 * ever listens to projects it may see. Events cross replicas through Redis.
 */
export type Topics = {
  /** Keyed by project id ('admin' for project-less assets). */
  assetMedia: [projectKey: string, event: AssetMediaEvent];
};

export type PubSub = ReturnType<typeof createPubSub<Topics>>;

/** Publishing uses `publish`; subscribing needs a connection of its own (Redis pub/sub mode). */
export function createEventBus(publishClient: Redis, subscribeClient: Redis): PubSub {
  return createPubSub<Topics>({ eventTarget: createRedisEventTarget({ publishClient, subscribeClient }) });
}

export const projectKey = (projectId: string | null) => projectId ?? 'admin';
