import { GraphQLClient } from 'graphql-request';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { generateToken, hashToken } from '../../src/auth/tokens.ts';
import type { Role } from '../../src/auth/principal.ts';
import { loadConfig } from '../../src/config.ts';
import { buildApp, type App } from '../../src/server/app.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import { createTestDatabase } from './database.ts';

export interface GqlResult<T = any> {
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string; field?: string } }[];
}

export interface TestServer {
  url: string;
  services: Services;
  app: App;
  /** SQL statements sent since the last reset (see countQueries). */
  queries: string[];
  /** A request as the holder of `token` (null: no Authorization header). */
  gql<T = any>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
  close(): Promise<void>;
}

/** A test server's configuration over the database at `databaseUrl`. */
export function testConfig(databaseUrl: string, env: Record<string, string> = {}) {
  return loadConfig({
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    // Each server's queues and events apart, so no other test's worker or subscriber takes them.
    QUEUE_PREFIX: `onair-test-${databaseUrl.split('/').pop()}`,
    // Test receivers listen on this machine; test/domain/output-destinations.test.ts covers the default (refused).
    OUTPUT_ALLOW_PRIVATE: 'true',
    // Tests read the engine right after moving it by other means than this server's
    // mutations (a stand-in engine, a worker); test/graphql/engine-reads.test.ts sets its own.
    ENGINE_CACHE_MS: '0',
    ...env,
  });
}

/** A GraphQL request to `url` as the holder of `token` (null: no Authorization header). */
export async function gqlRequest<T = any>(
  url: string,
  token: string | null,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GqlResult<T>> {
  const client = new GraphQLClient(url, {
    errorPolicy: 'all',
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  try {
    const res = await client.rawRequest(query, variables);
    return { data: res.data as any, errors: res.errors as GqlResult['errors'] };
  } catch (err) {
    // Request-level failures (no data at all) arrive as ClientError.
    const response = (err as { response?: GqlResult }).response;
    if (response) return { data: response.data, errors: response.errors };
    throw err;
  }
}

/** The real HTTP server on port 0, over a fresh PostgreSQL database and the real Redis. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const database = await createTestDatabase();
  const config = testConfig(database.url, env);
  const queries: string[] = [];
  const services = createServices(config, { onQuery: (sql) => queries.push(sql) });
  const app = buildApp(services, { tokenUsageIntervalMs: 200 });
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql`;
  return {
    url,
    services,
    app,
    queries,
    gql: (token, query, variables) => gqlRequest(url, token, query, variables),
    async close() {
      await app.close();
      await services.close();
      await database.drop();
    },
  };
}

/** Environment for useTestServer: fixed, or computed when the server starts (after earlier hooks). */
export type TestServerEnv = Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);

/**
 * The test server and cast of a file (or of the describe it is called in): started with `env` in a
 * beforeAll hook and closed in an afterAll. The objects returned are empty until that hook fills
 * them in place, so a file keeps using `server` and `cast` as it used to use its own variables.
 * Hooks a file registers after this call run after the server starts and, vitest running
 * after-hooks in reverse order, finish before it closes.
 */
export function useTestServer(
  env: TestServerEnv = {},
  options: { timeout?: number } = {},
): { server: TestServer; cast: Cast } {
  const server = {} as TestServer;
  const cast = {} as Cast;
  let started: TestServer | undefined;
  beforeAll(async () => {
    started = await startTestServer(typeof env === 'function' ? await env() : env);
    Object.assign(server, started);
    Object.assign(cast, await createCast(started.services));
  }, options.timeout);
  afterAll(() => started?.close());
  return { server, cast };
}

/** A user with a token, created directly in the database (fast fixtures). */
export async function createActor(
  services: Services,
  opts: { name?: string; isAdmin?: boolean; roles?: Record<string, Role> } = {},
): Promise<{ userId: string; token: string; tokenId: string }> {
  const token = generateToken();
  const user = await services.db.user.create({
    data: {
      name: opts.name ?? 'user',
      isAdmin: opts.isAdmin ?? false,
      tokens: { create: { name: 'test', tokenHash: hashToken(token) } },
      memberships: { create: Object.entries(opts.roles ?? {}).map(([projectId, role]) => ({ projectId, role })) },
    },
    include: { tokens: true },
  });
  return { userId: user.id, token, tokenId: user.tokens[0].id };
}

/**
 * The cast of a role matrix: one project ("home") with an admin, an editor, an
 * operator and a viewer, a member of another project ("other"), and a revoked token.
 */
export async function createCast(services: Services) {
  const home = await services.db.project.create({ data: { name: `home-${Math.random().toString(36).slice(2)}` } });
  const other = await services.db.project.create({ data: { name: `other-${Math.random().toString(36).slice(2)}` } });
  const admin = await createActor(services, { name: 'admin', isAdmin: true });
  const editor = await createActor(services, { name: 'editor', roles: { [home.id]: 'EDITOR' } });
  const operator = await createActor(services, { name: 'operator', roles: { [home.id]: 'OPERATOR' } });
  const viewer = await createActor(services, { name: 'viewer', roles: { [home.id]: 'VIEWER' } });
  const outsider = await createActor(services, { name: 'outsider', roles: { [other.id]: 'EDITOR' } });
  const revoked = await createActor(services, { name: 'revoked', roles: { [home.id]: 'EDITOR' } });
  await services.db.apiToken.update({ where: { id: revoked.tokenId }, data: { revokedAt: new Date() } });
  return { home, other, admin, editor, operator, viewer, outsider, revoked };
}

export type Cast = Awaited<ReturnType<typeof createCast>>;
export type Actor = 'admin' | 'editor' | 'operator' | 'viewer' | 'outsider' | 'revoked' | 'anonymous';
export const ACTORS: Actor[] = ['admin', 'editor', 'operator', 'viewer', 'outsider', 'revoked', 'anonymous'];

export function tokenOf(cast: Cast, actor: Actor): string | null {
  return actor === 'anonymous' ? null : cast[actor].token;
}

/** The first error code of a result, or 'OK' when there is none. */
export function outcome(result: GqlResult): string {
  return result.errors?.[0]?.extensions?.code ?? 'OK';
}
