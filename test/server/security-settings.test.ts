import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureAdminToken } from '../../src/auth/bootstrap.ts';
import { DEV_SECRET_KEY, loadConfig } from '../../src/config.ts';
import { createActor, startTestServer, useTestServer } from '../helpers/server.ts';

// The review's informational findings: weak keys in production, introspection
// without a token, CORS reflecting any origin, /metrics on every interface,
// and a revoked bootstrap token brought back by a restart.

const production = (env: Record<string, string>) => () => loadConfig({ NODE_ENV: 'production', ...env });

describe('ONAIR_SECRET_KEY in production', () => {
  it('refuses the development key in hex and in base64, and keys with little entropy', () => {
    for (const key of [
      DEV_SECRET_KEY.toString('hex'),
      DEV_SECRET_KEY.toString('base64'),
      DEV_SECRET_KEY.toString('hex').toUpperCase(),
    ]) {
      expect(production({ ONAIR_SECRET_KEY: key }), key).toThrow(/ONAIR_SECRET_KEY is the development key/);
    }
    for (const key of [
      Buffer.alloc(32, 0).toString('hex'),
      Buffer.alloc(32, 'ab').toString('base64'),
      Buffer.from('01234567'.repeat(4)).toString('base64'),
    ]) {
      expect(production({ ONAIR_SECRET_KEY: key }), key).toThrow(
        /ONAIR_SECRET_KEY is not random \(fewer than 16 distinct bytes in 32\)/,
      );
    }
    expect(production({})).toThrow(/ONAIR_SECRET_KEY is required in production/);
    const good = randomBytes(32);
    expect(
      loadConfig({ NODE_ENV: 'production', ONAIR_SECRET_KEY: good.toString('base64') }).secretKey.equals(good),
    ).toBe(true);
    // Outside production the development key is the default.
    expect(loadConfig({ NODE_ENV: 'development' }).secretKey.equals(DEV_SECRET_KEY)).toBe(true);
  });
});

describe('settings', () => {
  const key = randomBytes(32).toString('base64');
  it('introspection is off in production unless INTROSPECTION=true, on elsewhere', () => {
    expect(loadConfig({ NODE_ENV: 'production', ONAIR_SECRET_KEY: key }).introspection).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', ONAIR_SECRET_KEY: key, INTROSPECTION: 'true' }).introspection).toBe(
      true,
    );
    expect(loadConfig({ NODE_ENV: 'development' }).introspection).toBe(true);
  });

  it('CORS_ORIGINS takes origins only', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://ops.example.com, http://localhost:3000' }).corsOrigins).toEqual([
      'https://ops.example.com',
      'http://localhost:3000',
    ]);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://ops.example.com/path' })).toThrow(
      /CORS_ORIGINS: "https:\/\/ops.example.com\/path" is not an origin/,
    );
    expect(() => loadConfig({ CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS/);
    expect(loadConfig({}).corsOrigins).toEqual([]);
  });
});

describe('the API', () => {
  const { server } = useTestServer({ INTROSPECTION: 'false', CORS_ORIGINS: 'https://ops.example.com' });
  let token: string;
  beforeAll(async () => {
    token = (await createActor(server.services, { isAdmin: true })).token;
  });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body: JSON.stringify(body),
    });

  it('refuses introspection when it is off, to anyone, and still answers __typename', async () => {
    for (const query of ['{ __schema { types { name } } }', '{ __type(name: "Channel") { name } }']) {
      const body = (await (await post({ query })).json()) as {
        data?: unknown;
        errors: { message: string; extensions: { code: string } }[];
      };
      expect(body.errors[0]).toMatchObject({
        message: 'introspection is turned off on this server (INTROSPECTION=false)',
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
      });
    }
    const typename = (await (await post({ query: '{ __typename me { id } }' })).json()) as {
      data: { __typename: string };
    };
    expect(typename.data.__typename).toBe('Query');
  });

  it('answers CORS for the configured origins only, never reflecting another', async () => {
    const preflight = (origin: string) =>
      fetch(server.url, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
    const allowed = await preflight('https://ops.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    const evil = await preflight('https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-credentials')).toBeNull();
    const simple = await post({ query: '{ me { id } }' }, { origin: 'https://evil.example' });
    expect(simple.headers.get('access-control-allow-origin')).toBeNull();
    const same = await post({ query: '{ me { id } }' }, { origin: 'https://ops.example.com' });
    expect(same.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
  });

  it('keeps a revoked ONAIR_ADMIN_TOKEN revoked across restarts, and says so', async () => {
    const secret = `bootstrap-${randomBytes(12).toString('hex')}`;
    expect(await ensureAdminToken(server.services.db, secret)).toBe('created');
    const me = await server.gql(secret, '{ me { apiTokens { id name } } }');
    const tokenId = me.data.me.apiTokens[0].id;
    const revoked = await server.gql(secret, 'mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }', {
      id: tokenId,
    });
    expect(revoked.data.revokeApiToken.revokedAt).toBeTruthy();
    // A restart with the same environment.
    const lines: string[] = [];
    const log = { warn: (msg: string) => lines.push(msg), info: () => {} } as unknown as Parameters<
      typeof ensureAdminToken
    >[2];
    expect(await ensureAdminToken(server.services.db, secret, log)).toBe('revoked');
    expect(lines[0]).toMatch(
      /ONAIR_ADMIN_TOKEN was revoked through the API and stays revoked.*set ONAIR_ADMIN_TOKEN to a new secret/,
    );
    expect((await server.gql(secret, '{ me { id } }')).errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    // A new secret bootstraps again.
    const fresh = `bootstrap-${randomBytes(12).toString('hex')}`;
    expect(await ensureAdminToken(server.services.db, fresh)).toBe('created');
    expect((await server.gql(fresh, '{ me { isAdmin } }')).data.me.isAdmin).toBe(true);
  });
});

describe('/metrics', () => {
  it('with METRICS_TOKEN: only with the token', async () => {
    const metricsToken = randomBytes(16).toString('hex');
    const server = await startTestServer({ METRICS_TOKEN: metricsToken });
    try {
      const url = new URL('/metrics', server.url);
      const none = await fetch(url);
      expect(none.status).toBe(401);
      expect(((await none.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe(
        'UNAUTHENTICATED',
      );
      expect((await fetch(url, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${metricsToken}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('onair_process_cpu_seconds_total');
    } finally {
      await server.close();
    }
  });

  it('without a token: on the API port to local clients that came through no proxy', async () => {
    const server = await startTestServer();
    try {
      const url = new URL('/metrics', server.url);
      expect((await fetch(url)).status).toBe(200);
      expect((await fetch(url, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(404);
      expect((await fetch(url, { headers: { forwarded: 'for=203.0.113.9' } })).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('with METRICS_PORT: on its own listener, and not on the API port', async () => {
    const server = await startTestServer({ METRICS_PORT: '0' });
    try {
      const metrics = server.app.metricsServer!;
      await new Promise<void>((resolve) => metrics.listen(0, '127.0.0.1', resolve));
      const own = `http://127.0.0.1:${(metrics.address() as AddressInfo).port}`;
      expect((await fetch(`${own}/metrics`)).status).toBe(200);
      expect((await fetch(`${own}/graphql`)).status).toBe(404);
      expect((await fetch(new URL('/metrics', server.url))).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
