import type { Principal } from './principal.ts';

/**
 * Principals by Authorization header, for a moment: authentication is the one
 * statement every request pays, and an operator's or integration's token
 * repeats. This process forgets a user at once when its tokens or roles change
 * here; another replica within `ttlMs` at most.
 */
export class PrincipalCache {
  private readonly entries = new Map<string, { principal: Principal; expires: number }>();
  /** Reads under way, by key: the requests that ask meanwhile share them. */
  private readonly pending = new Map<string, Promise<Principal | null>>();
  /** Moves on with every forget: a read that began before one is not kept. */
  private generation = 0;

  /**
   * @param ttlMs how long a principal is reused; 0 turns the cache off. @defaultValue 1000
   * @param maxEntries beyond this the cache starts over. @defaultValue 10000
   */
  constructor(
    private readonly ttlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

  /** How long a principal is reused (0: not at all). */
  get ttl(): number {
    return this.ttlMs;
  }

  /**
   * Moves on whenever this process learns that cached rights changed (a
   * token revoked, a user's roles or tokens changed): whoever keeps principals
   * of its own (subscriptions: graphql/subscription-principals.ts) reads them
   * again before it relies on them.
   */
  get version(): number {
    return this.generation;
  }

  /** When the cached principal of `header` stops being reused; undefined when none is cached. */
  expiresAt(header: string): number | undefined {
    return this.entries.get(header)?.expires;
  }

  get(header: string): Principal | undefined {
    const entry = this.entries.get(header);
    if (!entry) return undefined;
    if (entry.expires > Date.now()) return entry.principal;
    this.entries.delete(header);
    return undefined;
  }

  set(header: string, principal: Principal): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(header, { principal, expires: Date.now() + this.ttlMs });
  }

  /**
   * The principal of `key`: cached, or read by `load` once for all the requests
   * that ask while the read is under way. When a principal expires under a
   * steady stream of requests with its token, each request arriving before the
   * read returned would otherwise send the same statement (and, on an idle
   * pool, open a connection for it). null (no such principal) is shared, never kept.
   */
  resolve(key: string, load: () => Promise<Principal | null>): Promise<Principal | null> {
    const cached = this.get(key);
    if (cached) return Promise.resolve(cached);
    if (this.ttlMs <= 0) return load();
    const pending = this.pending.get(key);
    if (pending) return pending;
    const generation = this.generation;
    const read = load()
      .then((principal) => {
        if (principal && generation === this.generation) this.set(key, principal);
        return principal;
      })
      .finally(() => {
        if (this.pending.get(key) === read) this.pending.delete(key);
      });
    this.pending.set(key, read);
    return read;
  }

  /** A user's tokens or roles changed: its cached principals go. */
  forgetUser(userId: string): void {
    this.forgetPending();
    for (const [header, entry] of this.entries) if (entry.principal.userId === userId) this.entries.delete(header);
  }

  /** A token was revoked. */
  forgetToken(tokenId: string): void {
    this.forgetPending();
    for (const [header, entry] of this.entries) if (entry.principal.tokenId === tokenId) this.entries.delete(header);
  }

  /** Reads under way may predate the change: later requests read again, and their results are not kept. */
  private forgetPending(): void {
    this.generation++;
    this.pending.clear();
  }
}
