import { PrismaPg } from '@prisma/adapter-pg';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { PrismaClient } from '../../prisma/generated/client/client.ts';

export type Db = PrismaClient;
export type { Prisma } from '../../prisma/generated/client/client.ts';

/**
 * Plain parameterized SQL on the same connection pool as Prisma, for the few
 * hot read paths (authentication, as-run pages) where Prisma's per-row cost
 * outweighs the query itself (see bench/).
 */
export interface Sql {
  query<T>(text: string, params?: unknown[]): Promise<T[]>;
  /**
   * Rows as arrays of column values, in the order of the select list: for
   * callers that build their own objects (a row object of the driver is slow
   * to extend, and its column names are looked up per value).
   */
  queryArrays(text: string, params?: unknown[]): Promise<unknown[][]>;
  /**
   * queryArrays() as a named prepared statement on connections that always
   * use its generic plan (plan_cache_mode = force_generic_plan): PostgreSQL
   * parses and plans it once per connection instead of at every call. Only for
   * statements whose one plan suits every parameter (a keyset page on its
   * index); replanning one as-run page cost PostgreSQL more than running it.
   */
  queryGenericArrays(text: string, params?: unknown[]): Promise<unknown[][]>;
}

export interface DatabaseOptions {
  url: string;
  /** @defaultValue 10 */
  poolSize?: number;
  /** Called once per SQL statement sent, by Prisma or by `sql` (tests count statements with it). */
  onQuery?: (sql: string) => void;
}

export interface Database {
  db: Db;
  sql: Sql;
  /** Opens the connections the pool keeps while idle (POOL_MIN), so that the first requests find them. */
  warm(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connections the shared pool keeps however long it stays idle (the rest close
 * after the driver's 10 s). An operator's action after a quiet spell otherwise
 * waits for a new connection (a backend started, authenticated), and a burst
 * of them starts the whole pool at once: in `npm run bench -- transport` the
 * first paced row after 10 s without requests opened all 10 (bench/README.md).
 */
const POOL_MIN = 2;

export function createDatabase({ url, poolSize = 10, onQuery }: DatabaseOptions): Database {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, min: Math.min(POOL_MIN, poolSize) });
  // An idle connection that the server drops (restart, failover) must not crash the process.
  pool.on('error', () => {});
  const db = new PrismaClient({
    adapter: new PrismaPg(pool),
    log: onQuery ? [{ emit: 'event', level: 'query' }] : [],
  });
  if (onQuery) db.$on('query' as never, (e: { query: string }) => onQuery(e.query));
  // Its own pool, since the setting applies to every statement of a connection, Prisma's
  // unnamed ones included; connections open on first use, so a process without such reads has none.
  const generic = new pg.Pool({
    connectionString: url,
    max: poolSize,
    options: '-c plan_cache_mode=force_generic_plan',
  });
  generic.on('error', () => {});
  const statementNames = new Map<string, string>();
  const statementName = (text: string) => {
    let name = statementNames.get(text);
    if (!name) statementNames.set(text, (name = `onair_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`));
    return name;
  };
  const sql: Sql = {
    async query<T>(text: string, params: unknown[] = []) {
      onQuery?.(text);
      return (await pool.query(text, params)).rows as T[];
    },
    async queryArrays(text: string, params: unknown[] = []) {
      onQuery?.(text);
      return (await pool.query({ text, values: params, rowMode: 'array' })).rows as unknown[][];
    },
    async queryGenericArrays(text: string, params: unknown[] = []) {
      onQuery?.(text);
      return (await generic.query({ name: statementName(text), text, values: params, rowMode: 'array' }))
        .rows as unknown[][];
    },
  };
  return {
    db,
    sql,
    async warm() {
      const clients = await Promise.all(Array.from({ length: Math.min(POOL_MIN, poolSize) }, () => pool.connect()));
      for (const client of clients) client.release();
    },
    async close() {
      await db.$disconnect();
      await Promise.all([pool.end(), generic.end()]);
    },
  };
}
