import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureAdminToken } from '../../src/auth/bootstrap.ts';
import { loadConfig } from '../../src/config.ts';
import { buildApp } from '../../src/server/app.ts';
import { createServices } from '../../src/services/index.ts';
import { migrate } from '../../src/services/migrate.ts';
import { databaseUrl } from '../helpers/database.ts';
import { createActor, useTestServer } from '../helpers/server.ts';

const { server } = useTestServer({ MAX_BODY_BYTES: '4096' });
let token: string;
let base: string;

beforeAll(async () => {
  token = (await createActor(server.services, { isAdmin: true })).token;
  base = server.url.replace('/graphql', '');
});

const post = (body: string, headers: Record<string, string> = {}) =>
  fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body,
  });

describe('health', () => {
  it('answers /healthz and /readyz with the state of PostgreSQL and Redis', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
  });

  it('is not ready, and masks the cause of failed requests, when the database is gone', async () => {
    const config = loadConfig({
      ...process.env,
      LOG_LEVEL: 'silent',
      DATABASE_URL: databaseUrl('onair_no_such_database'),
    });
    const services = createServices(config);
    const app = buildApp(services);
    await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: unknown }).checks).toEqual({ database: 'down', redis: 'ok' });
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer onair_x' },
        body: JSON.stringify({ query: '{ me { id } }' }),
      });
      const body = (await res.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0].extensions.code).toBe('INTERNAL_SERVER_ERROR');
      expect(body.errors[0].message).not.toMatch(/onair_no_such_database|prisma|postgres/i);
    } finally {
      await app.close();
      await services.close();
    }
  });
});

describe('metrics', () => {
  it('counts GraphQL operations on /metrics', async () => {
    await post(JSON.stringify({ query: '{ me { id } }' }));
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/onair_graphql_operations_total\{type="query",outcome="ok"\} [1-9]/);
    expect(text).toContain('onair_process_cpu_seconds_total');
  });
});

describe('limits', () => {
  it('refuses a body larger than the limit with 413', async () => {
    const res = await post(JSON.stringify({ query: `{ me { id } } # ${'x'.repeat(5000)}` }));
    expect(res.status).toBe(413);
  });

  it('refuses documents that are too deep or carry too many aliases', async () => {
    const errorsOf = async (query: string) =>
      (
        (await (await post(JSON.stringify({ query }))).json()) as {
          errors?: { message: string; extensions?: { code?: string } }[];
        }
      ).errors;
    // Channel.project and Project.channels make a cycle a client could nest without end.
    const nest = (levels: number) => {
      let inner = 'id';
      for (let i = 0; i < levels; i++) inner = `channels { project { ${inner} } }`;
      return `{ projects { ${inner} } }`;
    };
    expect(await errorsOf(nest(2))).toBeUndefined();
    const tooDeep = await errorsOf(nest(8));
    expect(tooDeep?.[0]).toMatchObject({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    const aliases = await errorsOf(`{ ${Array.from({ length: 30 }, (_, i) => `a${i}: me { id }`).join(' ')} }`);
    expect(aliases?.[0]).toMatchObject({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
  });

  it('gives GraphQL codes to malformed documents', async () => {
    const parseRes = (await (await post(JSON.stringify({ query: '{ me { id ' }))).json()) as {
      errors: { extensions: { code: string } }[];
    };
    expect(parseRes.errors[0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
    const validation = (await (await post(JSON.stringify({ query: '{ me { nope } }' }))).json()) as {
      errors: { message: string; extensions: { code: string } }[];
    };
    expect(validation.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});

describe('start-up', () => {
  it('ONAIR_ADMIN_TOKEN ensures exactly one admin it authenticates, even when replicas race', async () => {
    const secret = 'bootstrap-token-for-a-new-install';
    await Promise.all([1, 2, 3].map(() => ensureAdminToken(server.services.db, secret)));
    await ensureAdminToken(server.services.db, secret);
    const me = await server.gql(secret, '{ me { isAdmin apiTokens { name } } }');
    expect(me.data?.me).toEqual({ isAdmin: true, apiTokens: [{ name: 'ONAIR_ADMIN_TOKEN' }] });
    const created = await server.gql(secret, 'mutation { createProject(name: "first") { name } }');
    expect(created.data?.createProject.name).toBe('first');
  });

  it('migrations are applied once and recorded as prisma migrate deploy records them', async () => {
    const url = server.services.config.databaseUrl;
    expect(await migrate(url)).toEqual([]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT migration_name, checksum, finished_at FROM _prisma_migrations');
      const sql = readFileSync(new URL('../../prisma/migrations/20261125000000_init/migration.sql', import.meta.url));
      expect(rows).toContainEqual(
        expect.objectContaining({
          migration_name: '20261125000000_init',
          checksum: createHash('sha256').update(sql).digest('hex'),
        }),
      );
    } finally {
      await client.end();
    }
  });
});
