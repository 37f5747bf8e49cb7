import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.ts';
import { until } from '../helpers/until.ts';
import { testPort } from '../helpers/fixtures.ts';

// `serve` with API_PROCESSES=2 (src/server/cluster.ts): two API processes behind one port, as
// replicas are behind a balancer; what one process learns (a revoked token) holds on the other.
const ROOT = path.resolve(import.meta.dirname, '../..');
const ADMIN_TOKEN = 'cluster-test-admin-token-0123456789';
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let serve: ChildProcess;
let url: string;

/** One GraphQL request on a connection of its own, so that the primary hands each to the next process. */
function gql(token: string, query: string): Promise<{ data?: any; errors?: { extensions?: { code?: string } }[] }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ query });
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The API processes whose parent is `pid` (not tsx's esbuild service, say). */
async function children(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (Number(fields[1]) === pid && fields[0] !== 'Z' && cmdline.includes('src/server/main.ts'))
      found.push(Number(name));
  }
  return found;
}

beforeAll(async () => {
  database = await createTestDatabase();
  const port = testPort();
  url = `http://127.0.0.1:${port}/graphql`;
  serve = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      QUEUE_PREFIX: `onair-test-cluster-${Math.random().toString(36).slice(2)}`,
      PORT: String(port),
      HOST: '127.0.0.1',
      ONAIR_ADMIN_TOKEN: ADMIN_TOKEN,
      API_PROCESSES: '2',
    },
    stdio: 'ignore',
  });
  await until(
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200 || null,
    'serve to answer /readyz',
    60_000,
    200,
  );
}, 90_000);

afterAll(async () => {
  if (serve && serve.exitCode === null && serve.signalCode === null) serve.kill('SIGKILL');
  await database?.drop();
});

describe('serve with API_PROCESSES=2', () => {
  it('answers on two processes, a token revoked through one is refused by both, and SIGTERM stops them all', async () => {
    const api = await until(
      async () => {
        const found = await children(serve.pid as number);
        return found.length === 2 ? found : null;
      },
      'two API processes',
      30_000,
      200,
    );
    expect(api).toHaveLength(2);

    const me = await gql(ADMIN_TOKEN, '{ me { id } }');
    const created = await gql(
      ADMIN_TOKEN,
      `mutation { createApiToken(name: "cluster", userId: "${me.data.me.id}") { token apiToken { id } } }`,
    );
    expect(created.errors).toBeUndefined();
    const { token, apiToken } = created.data.createApiToken;
    // Each process caches the token's principal (AUTH_CACHE_MS).
    for (let i = 0; i < 6; i++) expect((await gql(token, '{ me { id } }')).data?.me.id).toBe(me.data.me.id);

    expect(
      (await gql(ADMIN_TOKEN, `mutation { revokeApiToken(id: "${apiToken.id}") { revokedAt } }`)).errors,
    ).toBeUndefined();
    await until(
      async () => {
        const answers = await Promise.all(Array.from({ length: 6 }, () => gql(token, '{ me { id } }')));
        return answers.every((a) => a.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED');
      },
      'both processes to refuse the revoked token',
      5_000,
      100,
    );

    const exited = new Promise<number | null>((resolve) => serve.once('exit', (code) => resolve(code)));
    serve.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of api)
      await until(
        async () => !(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)),
        `API process ${pid} to exit`,
        10_000,
      );
  }, 90_000);
});
