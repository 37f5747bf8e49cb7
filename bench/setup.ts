import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ensureDatabase, migrate } from '../src/services/migrate.ts';

// What every benchmark's server starts from: a database of its own on the
// benchmark server, migrated, and a production configuration that logs nothing.

/** Where the benchmark databases live (the as-run one is this URL itself). */
export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/onair_bench';

/**
 * The database `name` on the benchmark server, created if missing and
 * migrated; `fresh` drops it first, so that the run starts from nothing.
 */
export async function benchDatabase(name: string, { fresh = false } = {}): Promise<string> {
  const url = new URL(BENCH_DATABASE_URL);
  url.pathname = `/${name}`;
  if (fresh) {
    const admin = new URL(url);
    admin.pathname = '/postgres';
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
  await ensureDatabase(url.toString());
  await migrate(url.toString());
  return url.toString();
}

/**
 * The environment of a benchmark's server over `databaseUrl`: production,
 * silent, a secret key and an installation name (QUEUE_PREFIX) of this run.
 * The WebSocket limits are lifted: a bench plays a thousand viewers, on one
 * token when BENCH_SUB_DISTINCT_TOKENS=false.
 */
export function benchEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    ONAIR_SECRET_KEY: process.env.ONAIR_SECRET_KEY ?? randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    QUEUE_PREFIX: `onair-bench-${randomBytes(4).toString('hex')}`,
    WS_MAX_CONNECTIONS_PER_TOKEN: '100000',
    WS_MAX_OPERATIONS_PER_CONNECTION: '100000',
    ...extra,
  };
}
