import path from 'node:path';
import { z } from 'zod';
import { projectRoot } from './paths.ts';
import { LOG_LEVELS, type CasparcgSidecarSettings, type LogLevel } from './protocol/sidecar-env.ts';
import type { OrchestratorConfig } from './services/orchestrator/index.ts';
import type { MediaStoreConfig } from './services/storage/index.ts';
import { parseDestinationList, type OutputPolicy } from './domain/channels/output-destinations.ts';

/** Environment → typed configuration, parsed once at start-up. */
const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** @defaultValue postgresql://postgres@127.0.0.1:5432/onair */
  DATABASE_URL: z.string().url().default('postgresql://postgres@127.0.0.1:5432/onair'),
  /** @defaultValue redis://127.0.0.1:6379 */
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** @defaultValue 4000 */
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  /** @defaultValue 0.0.0.0 */
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** GraphiQL on GET /graphql. @defaultValue true outside production */
  GRAPHIQL: z.enum(['true', 'false']).optional(),
  /**
   * The operator console's built files (`npm run build` writes them), served at /console.
   * @defaultValue dist/console in the project's root
   */
  CONSOLE_DIR: z.string().min(1).optional(),
  /** Introspection (`__schema`, `__type`) for every caller. @defaultValue true outside production */
  INTROSPECTION: z.enum(['true', 'false']).optional(),
  /**
   * Browser origins allowed to call the API with credentials (CORS), comma-separated
   * (`https://ops.example.com,https://admin.example.com`). @defaultValue none: same-origin pages only
   */
  CORS_ORIGINS: z.string().default(''),
  /**
   * A document costing more than this is refused before it runs (every object counts once per
   * element of the lists above it; see src/graphql/query-cost.ts). @defaultValue 50000
   */
  MAX_QUERY_COST: z.coerce.number().int().min(100).default(50_000),
  /** A GraphQL response larger than this is replaced by an error. @defaultValue 8 MiB */
  MAX_RESPONSE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(8 * 1024 * 1024),
  /** WebSocket connections one API token may hold open on a replica; one more is closed with 4429. @defaultValue 20 */
  WS_MAX_CONNECTIONS_PER_TOKEN: z.coerce.number().int().min(1).max(100_000).default(20),
  /** Operations (subscriptions, queries in flight) open at once on one WebSocket connection; more are answered with an error. @defaultValue 100 */
  WS_MAX_OPERATIONS_PER_CONNECTION: z.coerce.number().int().min(1).max(100_000).default(100),
  /** How long a channel's engine state read by a query is reused, when the workers keep none. @defaultValue 250 */
  ENGINE_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(250),
  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.string().min(16, 'METRICS_TOKEN must be at least 16 characters').optional(),
  /** When set, /metrics is served on its own listener (METRICS_HOST:METRICS_PORT) and not on PORT. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** @defaultValue 127.0.0.1 */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** When set, start-up ensures an admin user that this token authenticates. */
  ONAIR_ADMIN_TOKEN: z.string().min(16, 'ONAIR_ADMIN_TOKEN must be at least 16 characters').optional(),
  /**
   * Key for output secrets at rest (stream keys, passphrases): 32 bytes, base64 or hex.
   * Required in production; a fixed development key otherwise.
   */
  ONAIR_SECRET_KEY: z.string().optional(),
  /** Apply pending migrations at start-up. @defaultValue true */
  MIGRATE_ON_START: z.enum(['true', 'false']).default('true'),
  /** Largest accepted request body in bytes. @defaultValue 1 MiB */
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /**
   * Largest body of an `importBxfSchedule` request (a traffic day: 2,000 events are about 2.1 MB),
   * accepted with a valid token and for that mutation alone. @defaultValue 10 MiB
   */
  MAX_IMPORT_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024),
  DB_POOL_SIZE: z.coerce.number().int().positive().default(10),
  API_PROCESSES: z.coerce.number().int().positive().max(64).default(1),
  /** How long a token's principal is reused by a replica (0: never); changes made on the same replica apply at once. @defaultValue 1000 */
  AUTH_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  /** This installation's name: its BullMQ keys in Redis, and the label on its sidecar containers. @defaultValue onair */
  QUEUE_PREFIX: z.string().min(1).default('onair'),
  /** Run the BullMQ workers inside `serve` (one machine). @defaultValue true */
  WORKER_IN_PROCESS: z.enum(['true', 'false']).default('true'),
  /** The playout media volume staged files are copied onto. @defaultValue ./data/media */
  MEDIA_VOLUME_DIR: z.string().min(1).default('./data/media'),
  /** Where asset media comes from: a local directory or an S3-compatible bucket. @defaultValue local */
  MEDIA_STORE: z.enum(['local', 's3']).default('local'),
  /** The local media store's directory; keys are paths relative to it. @defaultValue ./data/media-store */
  MEDIA_STORE_DIR: z.string().min(1).default('./data/media-store'),
  S3_BUCKET: z.string().min(1).optional(),
  S3_PREFIX: z.string().default(''),
  S3_REGION: z.string().default('us-east-1'),
  /** For S3-compatible servers (MinIO, Ceph, ...); AWS when unset. */
  S3_ENDPOINT: z.string().url().optional(),
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false'),
  S3_ACCESS_KEY_ID: z.string().optional(),
  S3_SECRET_ACCESS_KEY: z.string().optional(),
  /**
   * What runs channel sidecars: child processes of `serve` (one machine), or
   * containers on the nodes' Docker engines. @defaultValue local
   */
  ORCHESTRATOR: z.enum(['local', 'docker']).default('local'),
  /** The sidecar image on every node (Docker; never pulled by onair). @defaultValue onair:latest */
  SIDECAR_IMAGE: z.string().min(1).default('onair:latest'),
  /** The sidecar container's command, space-separated; empty: the image's own. @defaultValue sidecar (onair's image) */
  SIDECAR_COMMAND: z.string().default('sidecar'),
  /** Docker network mode of sidecars; host lets the control plane reach them on their port. @defaultValue host */
  SIDECAR_NETWORK: z.string().min(1).default('host'),
  /**
   * ORCHESTRATOR=local: where sidecars' pid files and logs go (a folder per
   * installation under it), so that a restarted `serve` adopts and stops the
   * sidecars a killed one left playing. @defaultValue ./data/run
   */
  SIDECAR_RUN_DIR: z.string().min(1).default('./data/run'),
  /** The playout engine sidecars drive. @defaultValue ffmpeg */
  SIDECAR_ENGINE: z.enum(['ffmpeg', 'casparcg']).default('ffmpeg'),
  /** Sidecar API ports on a node: SIDECAR_PORT_BASE, and the SIDECAR_PORT_COUNT after it. @defaultValue 9100, 200 */
  SIDECAR_PORT_BASE: z.coerce.number().int().min(1024).max(65000).default(9100),
  SIDECAR_PORT_COUNT: z.coerce.number().int().min(1).max(10_000).default(200),
  /**
   * Longest wait for a started sidecar to prove itself on its health path; unset, 15000 for a local
   * process and 30000 for a container. A machine short of CPU starts Node slower. @defaultValue unset
   */
  SIDECAR_START_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).optional(),
  /** Longest wait for a sidecar's answer before SIDECAR_UNAVAILABLE. @defaultValue 2000 */
  SIDECAR_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2000),
  /** SIDECAR_ENGINE=casparcg: the CasparCG Server's AMCP endpoint, and the channel and layer sidecars play on. @defaultValue 127.0.0.1, 5250, 1, 10 */
  SIDECAR_CASPARCG_HOST: z.string().min(1).default('127.0.0.1'),
  SIDECAR_CASPARCG_PORT: z.coerce.number().int().min(1).max(65535).default(5250),
  SIDECAR_CASPARCG_CHANNEL: z.coerce.number().int().min(1).default(1),
  SIDECAR_CASPARCG_LAYER: z.coerce.number().int().min(0).max(9999).default(10),
  /** Let sidecars switch the CasparCG channel to the channel's video mode; false: a mismatch refuses to start. @defaultValue false */
  SIDECAR_CASPARCG_SET_MODE: z.enum(['true', 'false']).default('false'),
  /** TLS for tcp:// Docker engines: PEM file paths. */
  DOCKER_TLS_CA: z.string().optional(),
  DOCKER_TLS_CERT: z.string().optional(),
  DOCKER_TLS_KEY: z.string().optional(),
  /**
   * Where players fetch preview segments (a CDN in front of the media volume's
   * live/ folder); this server's own segment route when unset.
   */
  PREVIEW_SEGMENT_BASE: z.string().url().optional(),
  /** Lifetime of the signed token in Channel.previewUrl, seconds. @defaultValue 3600 */
  PREVIEW_TOKEN_TTL_S: z.coerce.number().int().min(30).max(86_400).default(3600),
  /** How often each WebSocket connection re-checks its token; a revoked one is closed (4403). @defaultValue 2000 */
  SUBSCRIPTION_AUTH_CHECK_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  /**
   * A WebSocket connection whose unsent messages pass this many bytes (a client that stopped
   * reading) is closed with 1013, so that it holds no memory for ever. @defaultValue 4194304
   */
  WS_MAX_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024),
  /** How often the control loop reconciles sidecars with the database. @defaultValue 30000 */
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(1000).default(30_000),
  /** How often the control loop checks node health and heartbeats. @defaultValue 2000 */
  CONTROL_TICK_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  /** A RUNNING channel whose sidecar has not answered for this long is failed over. @defaultValue 10000 */
  HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().min(500).max(600_000).default(10_000),
  /** A node whose engine has not answered a ping for this long is offline (no failover lands on it). @defaultValue 6000 */
  NODE_OFFLINE_AFTER_MS: z.coerce.number().int().min(100).max(600_000).default(6000),
  /**
   * A channel STARTING or STOPPING for this long was left there by a process that died mid-way:
   * the control loop moves it to ERROR, so it can be started or stopped again. Above the longest
   * real start (a failover may try several nodes). @defaultValue 120000
   */
  LIFECYCLE_STUCK_MS: z.coerce.number().int().min(1000).default(120_000),
  /** A channel failed over this many times within FAILOVER_WINDOW_MS is left in ERROR instead of restarted again. @defaultValue 5 */
  FAILOVER_MAX_RESTARTS: z.coerce.number().int().min(1).max(1000).default(5),
  /** @defaultValue 600000 (10 minutes) */
  FAILOVER_WINDOW_MS: z.coerce.number().int().min(1000).default(600_000),
  /** Copies run at once per worker process. @defaultValue 2 */
  STAGING_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(2),
  /** Attempts of a staging job while the store is unreachable. @defaultValue 5 */
  STAGING_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  /** First retry delay, doubled at each attempt. @defaultValue 5000 */
  STAGING_BACKOFF_MS: z.coerce.number().int().min(0).default(5000),
  /** How long a worker's claim on a job lasts without renewal: a crashed worker's job is taken over after it. @defaultValue 30000 */
  STAGING_LOCK_MS: z.coerce.number().int().min(500).default(30_000),
  /** Largest media object staged; a larger one fails staging. @defaultValue 53687091200 (50 GB) */
  MEDIA_MAX_OBJECT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(50 * 1024 ** 3),
  /** Bytes one project may have staged on the playout volume (a file shared by several assets counts once). @defaultValue 536870912000 (500 GB) */
  QUOTA_PROJECT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(500 * 1024 ** 3),
  /** Assets one project may hold. @defaultValue 10000 */
  QUOTA_PROJECT_ASSETS: z.coerce.number().int().positive().default(10_000),
  /** Channels of one project STARTING or RUNNING at once. @defaultValue 20 */
  QUOTA_PROJECT_RUNNING_CHANNELS: z.coerce.number().int().positive().default(20),
  /** Outputs may point at loopback, link-local, private and other non-public addresses. @defaultValue false */
  OUTPUT_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),
  /** Comma-separated CIDRs and host names outputs may point at even when private (`*.example.com` for a domain). @defaultValue empty */
  OUTPUT_ALLOWLIST: z.string().default(''),
  /** Comma-separated CIDRs and host names outputs may never point at; wins over the allowlist. @defaultValue empty */
  OUTPUT_DENYLIST: z.string().default(''),
  /**
   * Longest wait of a long poll of a sidecar's event log (each answer is the
   * channel's heartbeat); capped at a third of HEARTBEAT_TIMEOUT_MS. @defaultValue 10000
   */
  EVENTS_WAIT_MS: z.coerce.number().int().min(100).max(25_000).default(10_000),
  /** A worker's hold on a channel's event reader; a dead worker's channels are taken over after it. Capped at a third of HEARTBEAT_TIMEOUT_MS. @defaultValue 3000 */
  INGEST_LEASE_MS: z.coerce.number().int().min(500).max(60_000).default(3000),
  /** How often each worker looks for running channels to read. @defaultValue 1000 */
  INGEST_DISCOVERY_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
  /** Wait before asking again a sidecar that did not answer. @defaultValue 1000 */
  INGEST_RETRY_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
});

export type Config = ReturnType<typeof loadConfig>;

/** What starting a sidecar needs; `casparcg` is passed to every sidecar as CASPARCG_* (optional for configs built by hand). */
export interface SidecarSettings {
  engine: 'ffmpeg' | 'casparcg';
  portBase: number;
  portCount: number;
  timeoutMs: number;
  casparcg?: CasparcgSidecarSettings;
  /** Passed to every sidecar as LOG_LEVEL (LOG_LEVEL, fatal when silent). @defaultValue info (for configs built by hand) */
  logLevel?: LogLevel;
}

/**
 * Variables of this process's environment a local sidecar also gets. Not all
 * of it: the control plane's own secrets (database, tokens, keys) stay here.
 */
export const SIDECAR_INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_ENV'];

export function sidecarInheritedEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of SIDECAR_INHERITED_ENV) {
    const value = env[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}

export const DEV_SECRET_KEY = Buffer.alloc(32, 'onair-development-key-not-secret');

/** Fewer distinct bytes than this in 32 is not a random key (a random one has about 30). */
const MIN_DISTINCT_KEY_BYTES = 16;

function parseKey(raw: string | undefined, production: boolean): Buffer {
  if (!raw) {
    if (production) throw new Error('ONAIR_SECRET_KEY is required in production');
    return DEV_SECRET_KEY;
  }
  const key = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new Error('ONAIR_SECRET_KEY must be 32 bytes (64 hex characters or base64)');
  if (production) {
    // Compared as bytes, so the development key is refused in any encoding.
    if (key.equals(DEV_SECRET_KEY)) {
      throw new Error(
        'ONAIR_SECRET_KEY is the development key, which is public: generate one with `openssl rand -base64 32`',
      );
    }
    if (new Set(key).size < MIN_DISTINCT_KEY_BYTES) {
      throw new Error(
        `ONAIR_SECRET_KEY is not random (fewer than ${MIN_DISTINCT_KEY_BYTES} distinct bytes in 32): generate one with \`openssl rand -base64 32\``,
      );
    }
  }
  return key;
}

/** `CORS_ORIGINS` as origins (`scheme://host[:port]`), each checked. */
function parseOrigins(raw: string): string[] {
  const origins = raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = null;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin.replace(/\/$/, '')) {
      throw new Error(
        `Invalid configuration:\nCORS_ORIGINS: "${origin}" is not an origin (scheme://host[:port], no path)`,
      );
    }
  }
  return origins.map((o) => o.replace(/\/$/, ''));
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  if (e.MEDIA_STORE === 's3' && !e.S3_BUCKET)
    throw new Error('Invalid configuration:\nS3_BUCKET: required when MEDIA_STORE=s3');
  const mediaStore: MediaStoreConfig =
    e.MEDIA_STORE === 's3'
      ? {
          kind: 's3',
          bucket: e.S3_BUCKET as string,
          prefix: e.S3_PREFIX,
          region: e.S3_REGION,
          endpoint: e.S3_ENDPOINT,
          forcePathStyle: e.S3_FORCE_PATH_STYLE === 'true',
          credentials:
            e.S3_ACCESS_KEY_ID && e.S3_SECRET_ACCESS_KEY
              ? { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY }
              : undefined,
        }
      : { kind: 'local', root: path.resolve(e.MEDIA_STORE_DIR) };
  return {
    env: e.NODE_ENV,
    databaseUrl: e.DATABASE_URL,
    dbPoolSize: e.DB_POOL_SIZE,
    apiProcesses: e.API_PROCESSES,
    redisUrl: e.REDIS_URL,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    graphiql: e.GRAPHIQL ? e.GRAPHIQL === 'true' : !production,
    consoleDir: path.resolve(e.CONSOLE_DIR ?? path.join(projectRoot, 'dist', 'console')),
    introspection: e.INTROSPECTION ? e.INTROSPECTION === 'true' : !production,
    corsOrigins: parseOrigins(e.CORS_ORIGINS),
    maxQueryCost: e.MAX_QUERY_COST,
    maxResponseBytes: e.MAX_RESPONSE_BYTES,
    wsMaxConnectionsPerToken: e.WS_MAX_CONNECTIONS_PER_TOKEN,
    wsMaxOperationsPerConnection: e.WS_MAX_OPERATIONS_PER_CONNECTION,
    engineCacheMs: e.ENGINE_CACHE_MS,
    metrics: { token: e.METRICS_TOKEN ?? null, port: e.METRICS_PORT ?? null, host: e.METRICS_HOST },
    adminToken: e.ONAIR_ADMIN_TOKEN,
    secretKey: parseKey(e.ONAIR_SECRET_KEY, production),
    migrateOnStart: e.MIGRATE_ON_START === 'true',
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxImportBodyBytes: Math.max(e.MAX_IMPORT_BODY_BYTES, e.MAX_BODY_BYTES),
    authCacheMs: e.AUTH_CACHE_MS,
    subscriptionAuthCheckMs: e.SUBSCRIPTION_AUTH_CHECK_MS,
    wsMaxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
    workerInProcess: e.WORKER_IN_PROCESS === 'true',
    mediaVolumeDir: path.resolve(e.MEDIA_VOLUME_DIR),
    mediaStore,
    queuePrefix: e.QUEUE_PREFIX,
    reconcileIntervalMs: e.RECONCILE_INTERVAL_MS,
    controlTickMs: e.CONTROL_TICK_MS,
    heartbeatTimeoutMs: e.HEARTBEAT_TIMEOUT_MS,
    nodeOfflineAfterMs: e.NODE_OFFLINE_AFTER_MS,
    lifecycleStuckMs: e.LIFECYCLE_STUCK_MS,
    failover: { maxRestarts: e.FAILOVER_MAX_RESTARTS, windowMs: e.FAILOVER_WINDOW_MS },
    preview: { segmentBase: e.PREVIEW_SEGMENT_BASE ?? null, tokenTtlSeconds: e.PREVIEW_TOKEN_TTL_S },
    orchestrator: {
      kind: e.ORCHESTRATOR,
      // A local sidecar counts as started once it proves itself on its health path.
      local: {
        healthPath: '/healthz',
        runDir: path.join(path.resolve(e.SIDECAR_RUN_DIR), e.QUEUE_PREFIX),
        inheritedEnv: sidecarInheritedEnv(env),
        ...(e.SIDECAR_START_TIMEOUT_MS !== undefined && { startupTimeoutMs: e.SIDECAR_START_TIMEOUT_MS }),
      },
      docker: {
        image: e.SIDECAR_IMAGE,
        command: e.SIDECAR_COMMAND.split(' ').filter(Boolean),
        // One installation's sidecars apart from another's on a shared engine.
        installation: e.QUEUE_PREFIX,
        network: e.SIDECAR_NETWORK,
        mediaVolumeDir: path.resolve(e.MEDIA_VOLUME_DIR),
        tlsCa: e.DOCKER_TLS_CA,
        tlsCert: e.DOCKER_TLS_CERT,
        tlsKey: e.DOCKER_TLS_KEY,
        ...(e.SIDECAR_START_TIMEOUT_MS !== undefined && { startupTimeoutMs: e.SIDECAR_START_TIMEOUT_MS }),
      },
    } satisfies OrchestratorConfig,
    sidecar: {
      engine: e.SIDECAR_ENGINE,
      portBase: e.SIDECAR_PORT_BASE,
      portCount: e.SIDECAR_PORT_COUNT,
      timeoutMs: e.SIDECAR_TIMEOUT_MS,
      // A sidecar that cannot start says why at fatal level: the orchestrator reports its last lines.
      logLevel: e.LOG_LEVEL === 'silent' ? 'fatal' : e.LOG_LEVEL,
      casparcg: {
        host: e.SIDECAR_CASPARCG_HOST,
        port: e.SIDECAR_CASPARCG_PORT,
        channel: e.SIDECAR_CASPARCG_CHANNEL,
        layer: e.SIDECAR_CASPARCG_LAYER,
        setMode: e.SIDECAR_CASPARCG_SET_MODE === 'true',
      },
    } as SidecarSettings,
    staging: {
      concurrency: e.STAGING_CONCURRENCY,
      attempts: e.STAGING_ATTEMPTS,
      backoffMs: e.STAGING_BACKOFF_MS,
      lockMs: e.STAGING_LOCK_MS,
    },
    quotas: {
      projectBytes: e.QUOTA_PROJECT_BYTES,
      projectAssets: e.QUOTA_PROJECT_ASSETS,
      projectRunningChannels: e.QUOTA_PROJECT_RUNNING_CHANNELS,
      maxObjectBytes: e.MEDIA_MAX_OBJECT_BYTES,
    },
    outputs: {
      allowPrivate: e.OUTPUT_ALLOW_PRIVATE === 'true',
      allowlist: parseDestinationList('OUTPUT_ALLOWLIST', e.OUTPUT_ALLOWLIST),
      denylist: parseDestinationList('OUTPUT_DENYLIST', e.OUTPUT_DENYLIST),
    } satisfies OutputPolicy,
    ingest: {
      // An idle channel's heartbeat comes with each answer, and a dead worker's channels
      // are read again once its lease expires: both well within the heartbeat timeout.
      eventsWaitMs: Math.min(e.EVENTS_WAIT_MS, Math.floor(e.HEARTBEAT_TIMEOUT_MS / 3)),
      leaseMs: Math.max(500, Math.min(e.INGEST_LEASE_MS, Math.floor(e.HEARTBEAT_TIMEOUT_MS / 3))),
      discoveryMs: e.INGEST_DISCOVERY_MS,
      retryMs: e.INGEST_RETRY_MS,
    },
  };
}
