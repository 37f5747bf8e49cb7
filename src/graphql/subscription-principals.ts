import { authenticateMany, readPrincipals, tokenHashOf } from '../auth/authenticate.ts';
import type { Principal } from '../auth/principal.ts';
import type { PrincipalCache } from '../auth/principal-cache.ts';
import type { Services } from '../services/index.ts';

// The principals of this replica's subscribers, kept fresh away from the
// events' path. A status change goes to a thousand operators, each with a
// token of its own: re-resolving a thousand principals on each event, or each
// time the cache lets them expire, would put the database on the way of every
// delivery. Instead they are re-read together, in one statement, shortly before
// they would expire; an event only asks whether they are all still fresh.

type Batch = { headers: Set<string>; answers: Promise<Map<string, Principal | null>> };
type Lookups = { inFlight: Map<string, Promise<Principal | null>>; batch: Batch | null };
const lookups = new WeakMap<PrincipalCache, Lookups>();

/**
 * The subscriber as its credentials resolve now; null once they no longer
 * authenticate (revoked token, deleted user). The principal cache answers
 * most calls. The others are collected until the running code yields and
 * answered together, in one statement (the WebSocket connections' re-check).
 */
export function currentPrincipal(
  services: Pick<Services, 'sql' | 'principals'>,
  authorization: string | null,
): Promise<Principal | null> {
  if (!authorization) return Promise.resolve(null);
  const cached = services.principals.get(authorization);
  if (cached) return Promise.resolve(cached);
  let state = lookups.get(services.principals);
  if (!state) lookups.set(services.principals, (state = { inFlight: new Map(), batch: null }));
  const lookup = state;
  const known = lookup.inFlight.get(authorization);
  if (known) return known;
  if (!lookup.batch) {
    const headers = new Set<string>();
    const answers = Promise.resolve().then(() => {
      lookup.batch = null;
      return authenticateMany(services.sql, [...headers], services.principals);
    });
    lookup.batch = { headers, answers };
  }
  lookup.batch.headers.add(authorization);
  const answer = lookup.batch.answers
    .then((found) => found.get(authorization) ?? null)
    .finally(() => lookup.inFlight.delete(authorization));
  lookup.inFlight.set(authorization, answer);
  return answer;
}

/** Whether two principals may see and do the same (what subscription-execution.ts's rightsKey tells apart). */
function sameRights(a: Principal, b: Principal): boolean {
  if (a.isAdmin || b.isAdmin) return a.isAdmin === b.isAdmin;
  if (a.roles.size !== b.roles.size) return false;
  for (const [project, role] of a.roles) if (b.roles.get(project) !== role) return false;
  return true;
}

/** Told the subscriber's principal when its rights changed; null when its token no longer authenticates. */
export type PrincipalWatcher = (principal: Principal | null) => void;

interface Entry {
  /** null: not a Bearer header; it never authenticates. */
  hash: string | null;
  principal: Principal | null;
  /** Until when this principal may be relied on (as the principal cache would reuse it). */
  until: number;
  watchers: Set<PrincipalWatcher>;
}

/**
 * How far ahead of their expiry the watched principals are re-read: a quarter
 * of the cache time, or twice what the last read took when that is more (a
 * loaded database), up to half of it.
 */
const LEAD = 0.25;
const MAX_LEAD = 0.5;

/**
 * The principals of the subscribers of one replica, by Authorization header.
 * Each is relied on for at most the principal cache's time (AUTH_CACHE_MS),
 * as a request would: they are re-read together ahead of that, in the
 * background, while events are being delivered; when this process learns of a
 * change (PrincipalCache.version: a revocation, a role changed) or the re-read
 * is late, the next event waits for a re-read first.
 */
export class SubscriberPrincipals {
  private readonly entries = new Map<string, Entry>();
  /** Every watched principal may be relied on until then. */
  private freshUntil = 0;
  /** The principal cache's version the watched principals were read at. */
  private readVersion: number;
  private round: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** An event asked since the last re-read: subscriptions are busy, so keep them fresh ahead of time. */
  private asked = false;
  /** How long the last read took (ms). */
  private lastReadMs = 0;

  constructor(private readonly services: Pick<Services, 'sql' | 'principals' | 'log'>) {
    this.readVersion = services.principals.version;
  }

  /** Whether every watched principal may be relied on now. Called once per group of subscribers and event. */
  fresh(): boolean {
    this.asked = true;
    return this.readVersion === this.services.principals.version && Date.now() < this.freshUntil;
  }

  /**
   * Starts watching a subscriber's credentials; returns the principal to use
   * now (that of the others with the same header, if any) and the function
   * that stops watching.
   */
  watch(authorization: string, principal: Principal, watcher: PrincipalWatcher): [Principal | null, () => void] {
    let entry = this.entries.get(authorization);
    if (!entry) {
      const cached = this.services.principals.expiresAt(authorization);
      entry = { hash: tokenHashOf(authorization), principal, until: cached ?? 0, watchers: new Set() };
      this.entries.set(authorization, entry);
      if (entry.until < this.freshUntil) this.freshUntil = entry.until;
      this.schedule();
    }
    entry.watchers.add(watcher);
    const watched = entry;
    return [
      entry.principal,
      () => {
        watched.watchers.delete(watcher);
        if (watched.watchers.size === 0 && this.entries.get(authorization) === watched)
          this.entries.delete(authorization);
      },
    ];
  }

  /** Resolves once every watched principal has been read again (joins a read under way). */
  refresh(): Promise<void> {
    if (!this.round) {
      const round = this.read().finally(() => {
        if (this.round === round) this.round = null;
        this.schedule();
      });
      this.round = round;
    }
    return this.round;
  }

  private async read(): Promise<void> {
    const { principals, sql } = this.services;
    for (;;) {
      const version = principals.version;
      const started = Date.now();
      const read = [...this.entries];
      const found = await readPrincipals(
        sql,
        read.flatMap(([, entry]) => (entry.hash ? [entry.hash] : [])),
      );
      // A change learnt while reading may not be in what was read: read again.
      if (principals.version !== version) continue;
      const until = started + principals.ttl;
      const changed: Entry[] = [];
      for (const [header, entry] of read) {
        const now = entry.hash ? (found.get(entry.hash) ?? null) : null;
        if (now) principals.set(header, now);
        entry.until = until;
        const before = entry.principal;
        if (now && before && sameRights(now, before)) continue;
        entry.principal = now;
        changed.push(entry);
      }
      this.readVersion = version;
      let fresh = Number.POSITIVE_INFINITY;
      for (const entry of this.entries.values()) fresh = Math.min(fresh, entry.until);
      this.freshUntil = fresh;
      this.asked = false;
      this.lastReadMs = Date.now() - started;
      // Told once the principals are fresh: a subscriber that changes groups may get events at once.
      for (const entry of changed) for (const watcher of [...entry.watchers]) watcher(entry.principal);
      return;
    }
  }

  /** The next re-read, ahead of the earliest expiry, if events are being delivered. */
  private schedule(): void {
    if (this.timer || this.round || this.entries.size === 0) return;
    const ttl = this.services.principals.ttl;
    if (ttl <= 0) return;
    const lead = Math.min(ttl * MAX_LEAD, Math.max(ttl * LEAD, 2 * this.lastReadMs));
    const wait = Math.max(0, this.freshUntil - lead - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      // Idle subscriptions are not kept fresh: their next event waits for the read.
      if (!this.asked || this.entries.size === 0) return;
      this.refresh().catch((err: unknown) =>
        this.services.log.warn({ err: (err as Error).message }, 'subscriptions: could not re-read principals'),
      );
    }, wait);
    this.timer.unref();
  }
}

const registries = new WeakMap<PrincipalCache, SubscriberPrincipals>();

/** The replica's SubscriberPrincipals (one per principal cache). */
export function subscriberPrincipals(services: Pick<Services, 'sql' | 'principals' | 'log'>): SubscriberPrincipals {
  let registry = registries.get(services.principals);
  if (!registry) registries.set(services.principals, (registry = new SubscriberPrincipals(services)));
  return registry;
}
