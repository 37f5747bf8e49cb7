import type { Principal } from './principal.ts';

/**
 * Principals by Authorization header, for a moment: authentication is the one
 * statement every request pays, and an operator's or integration's token
 * repeats. This process forgets a user at once when its tokens or roles change
 * here; another replica within `ttlMs` at most.
 */
export class PrincipalCache {
  private readonly entries = new Map<string, { principal: Principal; expires: number }>();

  /**
   * @param ttlMs how long a principal is reused; 0 turns the cache off. @defaultValue 1000
   * @param maxEntries beyond this the cache starts over. @defaultValue 10000
   */
  constructor(
    private readonly ttlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

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

  /** A user's tokens or roles changed: its cached principals go. */
  forgetUser(userId: string): void {
    for (const [header, entry] of this.entries) if (entry.principal.userId === userId) this.entries.delete(header);
  }

  /** A token was revoked. */
  forgetToken(tokenId: string): void {
    for (const [header, entry] of this.entries) if (entry.principal.tokenId === tokenId) this.entries.delete(header);
  }
}
