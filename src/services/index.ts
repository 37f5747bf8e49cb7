import { PrincipalCache } from '../auth/principal-cache.ts';
import { EngineReadCache } from './engine-reads.ts';
import type { Config } from '../config.ts';
import { ChannelRoutes } from './channel-routes.ts';
import { createDatabase, type Db, type Sql } from './db.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createOrchestrator } from './orchestrator/index.ts';
import type { Orchestrator } from './orchestrator/orchestrator.ts';
import { createEventBus, type PubSub } from './pubsub.ts';
import { SidecarClient } from './sidecar-client.ts';
import { createQueues, type Queues } from './queues.ts';
import { createRedis, type Redis } from './redis.ts';

/** Every client to the outside world, built once and closed together. */
export interface Services {
  config: Config;
  log: Logger;
  db: Db;
  sql: Sql;
  redis: Redis;
  queues: Queues;
  /** What runs channel sidecars (Docker engines or local processes). */
  orchestrator: Orchestrator;
  /** The sidecars' HTTP API, bounded by SIDECAR_TIMEOUT_MS. */
  sidecars: SidecarClient;
  /** The event bus (Redis pub/sub): what subscriptions and other replicas hear. */
  pubsub: PubSub;
  metrics: Metrics;
  /** Recently authenticated principals (see PrincipalCache). */
  principals: PrincipalCache;
  /** Channel.engine as queries read it: one sidecar request per channel per ENGINE_CACHE_MS (see EngineReadCache). */
  engineReads: EngineReadCache;
  /** Each channel's sidecar route, kept while the database announces its changes (see ChannelRoutes). */
  channelRoutes: ChannelRoutes;
  /** Before serving: opens the connections the first requests would otherwise wait for. */
  warm(): Promise<void>;
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
  // Redis pub/sub takes a connection over: subscriptions get one of their own.
  const subscriber = createRedis(config.redisUrl);
  for (const client of [redis, subscriber]) client.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  const queues = createQueues(redis, config.queuePrefix, config.staging);
  const orchestrator = createOrchestrator(config.orchestrator, log);
  const channelRoutes = new ChannelRoutes({ databaseUrl: config.databaseUrl, sql: database.sql, log });
  return {
    config,
    log,
    db: database.db,
    sql: database.sql,
    redis,
    queues,
    orchestrator,
    sidecars: new SidecarClient(config.sidecar.timeoutMs),
    pubsub: createEventBus(redis, subscriber, config.queuePrefix),
    metrics: createMetrics(),
    principals: new PrincipalCache(config.authCacheMs),
    engineReads: new EngineReadCache(config.engineCacheMs),
    channelRoutes,
    warm: () => database.warm(),
    async close() {
      // Each step runs even if another fails; the queue before the connection it uses.
      const first = await Promise.allSettled([
        queues.close(),
        database.close(),
        orchestrator.close(),
        channelRoutes.close(),
      ]);
      const second = await Promise.allSettled([redis.quit(), subscriber.quit()]);
      for (const r of [...first, ...second])
        if (r.status === 'rejected') log.warn({ err: String(r.reason) }, 'close failed');
    },
  };
}
