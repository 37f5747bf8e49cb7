import type { Redis } from '../../services/redis.ts';

// Renew and release only what this holder still owns: a lease that expired and
// was taken by another worker must not be extended or deleted by the old one.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Ownership of channels' event readers: one Redis key per channel
 * (`<prefix>:ingest:<channel>`) holding the owner's token with a time to live.
 * Taken with SET NX PX, renewed while the owner lives, released on stop; an
 * owner that dies lets its leases expire and another worker takes them.
 */
export class ChannelLeases {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Unique to this holder (one per worker process). */
    readonly token: string,
    readonly ttlMs: number,
  ) {}

  key(channelId: string): string {
    return `${this.prefix}:ingest:${channelId}`;
  }

  /** Tries to take each channel's lease; returns those taken (one round trip for all). */
  async acquire(channelIds: string[]): Promise<string[]> {
    if (channelIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of channelIds) pipeline.set(this.key(id), this.token, 'PX', this.ttlMs, 'NX');
    const replies = (await pipeline.exec()) ?? [];
    return channelIds.filter((_, i) => replies[i]?.[0] === null && replies[i]?.[1] === 'OK');
  }

  /** Extends each lease still ours; returns the channels whose lease is lost (expired, or taken by another). */
  async renew(channelIds: string[]): Promise<string[]> {
    if (channelIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of channelIds) pipeline.eval(RENEW, 1, this.key(id), this.token, String(this.ttlMs));
    const replies = (await pipeline.exec()) ?? [];
    return channelIds.filter((_, i) => replies[i]?.[0] !== null || replies[i]?.[1] !== 1);
  }

  async release(channelIds: string[]): Promise<void> {
    if (channelIds.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const id of channelIds) pipeline.eval(RELEASE, 1, this.key(id), this.token);
    await pipeline.exec();
  }
}
