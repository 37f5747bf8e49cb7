import { Redis } from 'ioredis';

export type { Redis };

export function createRedis(url: string): Redis {
  // maxRetriesPerRequest: null keeps commands queued across a Redis restart
  // instead of failing them (BullMQ requires it too).
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}
