import { migrate } from '../../src/services/migrate.ts';
import { TEMPLATE_DB, adminQuery, databaseUrl } from './database.ts';

/** Builds the migrated template database every test file clones. */
export default async function setup() {
  await adminQuery(`DROP DATABASE IF EXISTS "${TEMPLATE_DB}" WITH (FORCE)`);
  await adminQuery(`CREATE DATABASE "${TEMPLATE_DB}"`);
  await migrate(databaseUrl(TEMPLATE_DB));
}
