// Applies pending migrations to DATABASE_URL (what `npm start` also does at start-up).
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/services/logger.ts';
import { ensureDatabase, migrate } from '../src/services/migrate.ts';

const config = loadConfig();
const log = createLogger(config.logLevel);
if (config.env !== 'production') await ensureDatabase(config.databaseUrl);
const applied = await migrate(config.databaseUrl, log);
log.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
