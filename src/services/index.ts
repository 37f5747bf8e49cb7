import type { Config } from '../config.ts';
import { createDatabase, type Db, type Sql } from './db.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createRedis, type Redis } from './redis.ts';

/** Every client to the outside world, built once and closed together. */
export interface Services {
  config: Config;
  log: Logger;
  db: Db;
  sql: Sql;
  redis: Redis;
  metrics: Metrics;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  onQuery?: (sql: string) => void;
  log?: Logger;
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): Services {
  const log = overrides.log ?? createLogger(config.logLevel);
  const database = createDatabase({ url: config.databaseUrl, poolSize: config.dbPoolSize, onQuery: overrides.onQuery });
  const redis = createRedis(config.redisUrl);
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  return {
    config,
    log,
    db: database.db,
    sql: database.sql,
    redis,
    metrics: createMetrics(),
    async close() {
      // Each step runs even if another fails.
      const results = await Promise.allSettled([database.close(), redis.quit()]);
      for (const r of results) if (r.status === 'rejected') log.warn({ err: String(r.reason) }, 'close failed');
    },
  };
}
