import type { EngineState } from '../domain/channels/engine-status.ts';

/**
 * Channel.engine in queries and mutations, read from the sidecar at most once
 * per channel per `ttlMs` on a replica: a document may name `engine` on many
 * channels or many times (aliases), and many viewers may ask at once, but the
 * sidecar sees a request rate set by channels alone. Reads of one channel while
 * its request is in flight share it. A transport command's answer is the
 * freshest state there is, and replaces the channel's entry.
 */
export class EngineReadCache {
  private readonly entries = new Map<string, { run: string | null; state: Promise<EngineState>; expires: number }>();

  /**
   * @param ttlMs how long a read is reused (ENGINE_CACHE_MS); 0 shares only reads in flight. @defaultValue 250
   * @param maxEntries beyond this the cache starts over. @defaultValue 10000
   */
  constructor(
    private readonly ttlMs = 250,
    private readonly maxEntries = 10_000,
  ) {}

  /**
   * The channel's state, from `load` unless a read of the same sidecar run
   * (`run`: its URL, new at each start) is recent or in flight. `load` must not reject.
   */
  read(channelId: string, run: string | null, load: () => Promise<EngineState>): Promise<EngineState> {
    const now = Date.now();
    const entry = this.entries.get(channelId);
    if (entry && entry.run === run && entry.expires > now) return entry.state;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    const state = load();
    // Counted from the answer, so a slow sidecar is not asked again while it answers.
    const fresh = { run, state, expires: Number.POSITIVE_INFINITY };
    this.entries.set(channelId, fresh);
    void state.then(
      () => void (fresh.expires = Date.now() + this.ttlMs),
      () => void (this.entries.get(channelId) === fresh && this.entries.delete(channelId)),
    );
    return state;
  }

  /** A state just answered by the sidecar (a transport command): reads within ttlMs see it. */
  remember(state: EngineState, run: string | null): void {
    this.entries.set(state.channelId, { run, state: Promise.resolve(state), expires: Date.now() + this.ttlMs });
  }

  /** The channel's engine may have changed (a refused command): its next read asks the sidecar. */
  forget(channelId: string): void {
    this.entries.delete(channelId);
  }

  /**
   * A mutation ran on this replica (a playlist edit pushed to a sidecar, a
   * start, a play): every channel's next read asks its sidecar, so a client
   * reads its own writes. Changes made elsewhere show within ttlMs.
   */
  clear(): void {
    this.entries.clear();
  }
}
