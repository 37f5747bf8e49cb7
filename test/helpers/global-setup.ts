import { randomBytes } from 'node:crypto';
import { migrate } from '../../src/services/migrate.ts';
import { adminQuery, databaseUrl } from './database.ts';

/**
 * Builds the migrated template database every test file clones. Its name is
 * unique per run (workers inherit it through the environment), so two runs on
 * one machine do not trip over each other.
 */
export default async function setup() {
  const template = `onair_test_template_${randomBytes(4).toString('hex')}`;
  process.env.ONAIR_TEST_TEMPLATE = template;
  await adminQuery(`CREATE DATABASE "${template}"`);
  await migrate(databaseUrl(template));
  return async () => {
    await adminQuery(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  };
}
