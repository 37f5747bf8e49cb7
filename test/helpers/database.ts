import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Where tests create their databases; PostgreSQL's own default on these machines. */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export function databaseUrl(name: string): string {
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh database for one test file, cloned from the migrated template (fast). */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  // The time in the name lets a later run drop what a killed run left (global-setup.ts).
  const name = `onair_test_t${Date.now().toString(36)}_${randomBytes(6).toString('hex')}`;
  const template = process.env.ONAIR_TEST_TEMPLATE;
  if (!template)
    throw new Error('ONAIR_TEST_TEMPLATE is unset: run the tests through vitest (test/helpers/global-setup.ts)');
  await adminQuery(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  return {
    url: databaseUrl(name),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}
