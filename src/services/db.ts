import { PrismaPg } from '@prisma/adapter-pg';
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
  close(): Promise<void>;
}

export function createDatabase({ url, poolSize = 10, onQuery }: DatabaseOptions): Database {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle connection that the server drops (restart, failover) must not crash the process.
  pool.on('error', () => {});
  const db = new PrismaClient({
    adapter: new PrismaPg(pool),
    log: onQuery ? [{ emit: 'event', level: 'query' }] : [],
  });
  if (onQuery) db.$on('query' as never, (e: { query: string }) => onQuery(e.query));
  const sql: Sql = {
    async query<T>(text: string, params: unknown[] = []) {
      onQuery?.(text);
      return (await pool.query(text, params)).rows as T[];
    },
    async queryArrays(text: string, params: unknown[] = []) {
      onQuery?.(text);
      return (await pool.query({ text, values: params, rowMode: 'array' })).rows as unknown[][];
    },
  };
  return {
    db,
    sql,
    async close() {
      await db.$disconnect();
      await pool.end();
    },
  };
}
