import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Sql } from './db.ts';
import type { Logger } from './logger.ts';

/** What an operator's transport command needs of its channel: who may send it, and where it goes. */
export interface ChannelRoute {
  id: string;
  projectId: string | null;
  status: string;
  sidecarUrl: string | null;
  /** Sealed (domain/channels/secrets.ts). */
  sidecarSecret: string | null;
}

/** The channel on which the database announces a changed route (prisma/migrations/…_channel_route_notify). */
export const ROUTE_CHANNEL = 'onair_channel_route';
/** Payloads that name no channel: a replica's marker (see ChannelRoutes.caughtUp). */
const MARKER_PREFIX = 'marker:';

const SELECT_ROUTE = `SELECT id, project_id AS "projectId", status::text AS status, sidecar_url AS "sidecarUrl", sidecar_secret AS "sidecarSecret"
  FROM channels WHERE id = $1::uuid AND deleted_at IS NULL`;

export interface ChannelRoutesOptions {
  databaseUrl: string;
  sql: Sql;
  log: Logger;
  /** Beyond this the cache starts over. @defaultValue 10000 */
  maxEntries?: number;
  /** Wait before listening again after the connection was lost. @defaultValue 1000 */
  retryMs?: number;
}

/**
 * Channel routes kept in memory while the database can tell when they change.
 *
 * Transport commands are the operators' hot path: reading the channel for each
 * one costs a round trip to PostgreSQL, the larger part of the API's own time
 * per command. A trigger on `channels` notifies every change of a route's
 * columns (status, sidecar address and secret, project, deletion), whoever made
 * it; each replica LISTENs and forgets the route. Correct under races:
 *
 * - a route is kept only if it was read while listening, and no notification
 *   came in while it was read (a change that committed after the read's
 *   snapshot is announced after LISTEN began, so it either arrives during the
 *   read, and the row is not kept, or after, and the row is forgotten);
 * - when the listening connection is lost, everything is forgotten and routes
 *   are read from the database each time until it listens again.
 *
 * What remains is the delivery time of a notification (well under a
 * millisecond here): a command may reach a sidecar that long after its channel
 * was stopped or moved, as it would have had it arrived that much earlier.
 */
export class ChannelRoutes {
  private readonly routes = new Map<string, ChannelRoute>();
  /** Moves on with every notification and every loss of the connection. */
  private generation = 0;
  private listening = false;
  private client: pg.Client | null = null;
  private starting: Promise<void> | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  /** Markers this replica sent and awaits (see caughtUp). */
  private readonly markers = new Map<string, () => void>();

  constructor(private readonly options: ChannelRoutesOptions) {}

  /** The channel's route (null: no such live channel); a running channel's from memory when it can be. */
  async get(id: string): Promise<ChannelRoute | null> {
    if (this.listening) {
      const known = this.routes.get(id);
      if (known) return known;
    } else {
      this.listen();
    }
    const keepable = this.listening;
    const generation = this.generation;
    const [row] = await this.options.sql.query<ChannelRoute>(SELECT_ROUTE, [id]);
    // Only running channels' routes are kept: the others get no commands to route.
    if (row?.status === 'RUNNING' && row.sidecarUrl && keepable && this.listening && generation === this.generation) {
      if (this.routes.size >= (this.options.maxEntries ?? 10_000)) this.routes.clear();
      this.routes.set(id, row);
    }
    return row ?? null;
  }

  /** Whether `get` would answer from memory now. */
  has(id: string): boolean {
    return this.listening && this.routes.has(id);
  }

  /** Forgets a route (its sidecar refused a command: the next one reads it afresh). */
  forget(id: string): void {
    this.routes.delete(id);
    this.generation++;
  }

  /**
   * Resolves once every route change committed before the call has reached
   * this replica: a marker notification sent now arrives after them (the
   * database delivers notifications in commit order). A change that reaches a
   * replica after it read the changed route only makes it forget that route
   * (a read more, never a wrong route); this lets one that must know for sure
   * what it keeps wait for them. At once when not listening (nothing is kept).
   */
  async caughtUp(timeoutMs = 10_000): Promise<void> {
    if (!this.listening) return;
    const marker = `${MARKER_PREFIX}${randomUUID()}`;
    const arrived = new Promise<void>((resolve) => this.markers.set(marker, resolve));
    let timer: NodeJS.Timeout | undefined;
    try {
      await this.options.sql.query('SELECT pg_notify($1, $2)', [ROUTE_CHANNEL, marker]);
      await Promise.race([
        arrived,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`channel routes: no marker notification within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.markers.delete(marker);
    }
  }

  /** Starts listening, once; a failure leaves the cache off until the next attempt. */
  private listen(): void {
    if (this.starting || this.closed || this.retry) return;
    this.starting = this.connect()
      .catch((err: unknown) => {
        this.options.log.warn(
          { err: (err as Error).message },
          'channel routes: cannot listen; routes are read each time',
        );
        this.stopListening();
      })
      .finally(() => {
        this.starting = null;
      });
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.databaseUrl });
    this.client = client;
    client.on('notification', (message) => {
      if (message.channel !== ROUTE_CHANNEL) return;
      if (message.payload?.startsWith(MARKER_PREFIX)) {
        // No route changed: a replica's marker (this one's, or another's to ignore).
        this.markers.get(message.payload)?.();
        return;
      }
      this.generation++;
      if (message.payload) this.routes.delete(message.payload);
    });
    client.on('error', () => this.stopListening());
    client.on('end', () => this.stopListening());
    await client.connect();
    await client.query(`LISTEN ${ROUTE_CHANNEL}`);
    if (this.client !== client || this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listening = true;
  }

  /** Forgets everything, and listens again after a while (unless closed). */
  private stopListening(): void {
    const client = this.client;
    this.client = null;
    this.listening = false;
    this.routes.clear();
    this.generation++;
    // Nothing is kept any more: whoever awaits a marker has nothing left to wait for.
    for (const arrived of this.markers.values()) arrived();
    client?.removeAllListeners('end');
    client?.end().catch(() => {});
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.listen();
    }, this.options.retryMs ?? 1000);
    this.retry.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    await this.starting;
    const client = this.client;
    this.client = null;
    this.listening = false;
    this.routes.clear();
    for (const arrived of this.markers.values()) arrived();
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
    }
  }
}
