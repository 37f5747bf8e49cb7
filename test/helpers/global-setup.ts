import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/services/migrate.ts';
import { TEST_PG_URL, adminQuery, databaseUrl } from './database.ts';

/** Test databases older than this come from runs that were killed. */
const STALE_MS = 3 * 3600 * 1000;

/** Drops test databases (named onair_test_…_<epoch ms base 36>_…) that a killed run left. */
async function dropStaleDatabases(): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'onair\\_test\\_%'",
    );
    for (const { datname } of rows) {
      // Anchored: a bare /_t(...)_/ matches "_test_" and would drop a concurrent run's databases.
      const stamp = /^onair_test_(?:template_)?t([0-9a-z]+)_/.exec(datname)?.[1];
      if (stamp && Date.now() - parseInt(stamp, 36) > STALE_MS) {
        await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
      }
    }
  } finally {
    await client.end();
  }
}

/**
 * Builds the migrated template database every test file clones. Its name is
 * unique per run (workers inherit it through the environment), so two runs on
 * one machine do not trip over each other.
 */
export default async function setup() {
  await dropStaleDatabases();
  const template = `onair_test_template_t${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  process.env.ONAIR_TEST_TEMPLATE = template;
  await adminQuery(`CREATE DATABASE "${template}"`);
  await migrate(databaseUrl(template));
  return async () => {
    await adminQuery(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  };
}
