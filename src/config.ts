import { z } from 'zod';

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
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** GraphiQL on GET /graphql. @defaultValue true outside production */
  GRAPHIQL: z.enum(['true', 'false']).optional(),
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
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
  DB_POOL_SIZE: z.coerce.number().int().positive().default(10),
});

export type Config = ReturnType<typeof loadConfig>;

const DEV_SECRET_KEY = Buffer.alloc(32, 'onair-development-key-not-secret');

function parseKey(raw: string | undefined, production: boolean): Buffer {
  if (!raw) {
    if (production) throw new Error('ONAIR_SECRET_KEY is required in production');
    return DEV_SECRET_KEY;
  }
  const key = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new Error('ONAIR_SECRET_KEY must be 32 bytes (64 hex characters or base64)');
  return key;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  return {
    env: e.NODE_ENV,
    databaseUrl: e.DATABASE_URL,
    dbPoolSize: e.DB_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    graphiql: e.GRAPHIQL ? e.GRAPHIQL === 'true' : !production,
    adminToken: e.ONAIR_ADMIN_TOKEN,
    secretKey: parseKey(e.ONAIR_SECRET_KEY, production),
    migrateOnStart: e.MIGRATE_ON_START === 'true',
    maxBodyBytes: e.MAX_BODY_BYTES,
  };
}
