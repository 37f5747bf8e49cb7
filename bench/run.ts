// The as-run benchmark; bench/main.ts sets NODE_ENV and runs it.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { generateToken, hashToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { buildApp, type App } from '../src/server/app.ts';
import { createServices, type Services } from '../src/services/index.ts';
import { explain, formatPlan, type CapturedQuery } from './explain.ts';
import { formatLayers, measureLayers } from './layers.ts';
import { cpuPerRequest, cpuTimes } from './cpu.ts';
import { formatTable, post, runLoadInWorker, type LoadResult, type Scenario } from './load.ts';
import { postGraphileScenarios, startPostGraphile } from './postgraphile.ts';
import { profiled } from './profile.ts';
import { seedBenchDatabase } from './seed.ts';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 10);
const ROWS = Number(env.BENCH_ROWS ?? 5_000_000);
const TARGET_P99_MS = 10;
const POSTGRAPHILE_PORT = Number(env.BENCH_POSTGRAPHILE_PORT ?? 5599);
const DATABASE_URL = env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/onair_bench';

const say = (line: string) => process.stdout.write(`${line}\n`);

const PAGE_QUERY = `query AsRunPage($channelId: ID!, $first: Int, $after: String, $from: DateTime, $to: DateTime) {
  asRun(channelId: $channelId, first: $first, after: $after, from: $from, to: $to) {
    edges { cursor node { id clipName startedAt endedAt durationMs status playlistId assetId channel { id } item { id } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

async function startServer(services: Services): Promise<{ app: App; url: string }> {
  const app = buildApp(services);
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql` };
}

/** The scenarios on the first channel, and a viewer of its project. */
async function prepare(services: Services, url: string) {
  const db = services.db;
  const channel = await db.channel.findFirstOrThrow({ where: { name: 'bench-c000' } });
  const token = generateToken();
  const viewer = await db.user.create({
    data: {
      name: 'bench-viewer',
      tokens: { create: { name: 'bench', tokenHash: hashToken(token) } },
      memberships: { create: [{ projectId: channel.projectId as string, role: 'VIEWER' }] },
    },
  });
  const newest = await db.asRunEntry.findFirstOrThrow({ where: { channelId: channel.id }, orderBy: { startedAt: 'desc' } });
  // A whole UTC day a month before the newest entry.
  const from = new Date(newest.startedAt);
  from.setUTCHours(0, 0, 0, 0);
  from.setUTCDate(from.getUTCDate() - 30);
  const to = new Date(from.getTime() + 86_400_000);

  // The cursor at the end of page 50, found by walking like a client would.
  const agent = new http.Agent({ keepAlive: true });
  let after: string | null = null;
  for (let page = 1; page <= 50; page++) {
    const res = await post(agent, url, token, JSON.stringify({ query: PAGE_QUERY, variables: { channelId: channel.id, first: 100, after } }));
    if (res.body.errors?.length) throw new Error(`walking page ${page}: ${res.body.errors[0].message}`);
    after = res.body.data.asRun.pageInfo.endCursor;
  }
  agent.destroy();

  const scenarios: Scenario[] = [
    { name: 'page 1 (first: 100)', query: PAGE_QUERY, variables: { channelId: channel.id, first: 100 } },
    {
      name: '24-hour window',
      query: PAGE_QUERY,
      variables: { channelId: channel.id, first: 100, from: from.toISOString(), to: to.toISOString() },
    },
    { name: 'page 51 (50 deep)', query: PAGE_QUERY, variables: { channelId: channel.id, first: 100, after } },
  ];
  return { token, userId: viewer.id, channelId: channel.id, scenarios };
}

/** One request per scenario on a server that records its SQL (Prisma's and the plain statements); EXPLAIN of each as_run statement. */
async function probe(config: ReturnType<typeof loadConfig>, token: string, userId: string, scenarios: Scenario[]): Promise<string[]> {
  let captured: CapturedQuery[] = [];
  const services = createServices(config, { onQuery: () => {} });
  services.db.$on('query' as never, (e: CapturedQuery) => captured.push({ query: e.query, params: e.params }));
  // The plain statements (authentication, as-run pages) with their parameters.
  const { sql } = services;
  const capture = <T>(run: (text: string, params?: unknown[]) => Promise<T>) => (text: string, params: unknown[] = []) => {
    captured.push({ query: text, params: JSON.stringify(params) });
    return run(text, params);
  };
  sql.query = capture(sql.query.bind(sql)) as typeof sql.query;
  sql.queryArrays = capture(sql.queryArrays.bind(sql));
  const { app, url } = await startServer(services);
  const agent = new http.Agent({ keepAlive: true });
  const lines: string[] = [];
  try {
    for (const s of scenarios) {
      // What a request costs when its token is not in the principal cache.
      services.principals.forgetUser(userId);
      captured = [];
      const res = await post(agent, url, token, JSON.stringify({ query: s.query, variables: s.variables }));
      if (res.body.errors?.length) throw new Error(`${s.name}: ${res.body.errors[0].message}`);
      const statements = captured.filter((q) => !/^\s*(BEGIN|COMMIT)/i.test(q.query));
      const tables = statements.map((q) => [...q.query.matchAll(/(?<!epoch )FROM\s+"?(?:public"?\."?)?"?(\w+)"?/gi)].map((m) => m[1]).join('+'));
      const edges = res.body.data.asRun.edges.length;
      lines.push(`${s.name}: ${edges} edges, ${statements.length} SQL statements (${tables.join(', ')}; a token's repeat requests within AUTH_CACHE_MS skip the first)`);
      const page = statements.find((q) => /FROM\s+"?(public"?\."?)?as_run"?/i.test(q.query));
      if (page) lines.push(formatPlan('  page query', await explain(config.databaseUrl, page)));
    }
  } finally {
    agent.destroy();
    await app.close();
    await services.close();
  }
  return lines;
}

/** The as-run benchmark: 5 M rows, three scenarios, PostGraphile side by side. */
export async function runAsRunBench(): Promise<void> {
  const t0 = performance.now();
  await seedBenchDatabase({ url: DATABASE_URL, projects: 5, channelsPerProject: 10, rows: ROWS, days: 365, progress: say });

  const config = loadConfig({
    ...env,
    NODE_ENV: env.NODE_ENV === 'production' ? 'production' : 'development',
    ONAIR_SECRET_KEY: env.ONAIR_SECRET_KEY ?? randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
    DATABASE_URL,
    MIGRATE_ON_START: 'false',
  });
  const services = createServices(config);
  const { app, url } = await startServer(services);
  let userId: string | undefined;
  try {
    const prepared = await prepare(services, url);
    userId = prepared.userId;
    say('\nplans (EXPLAIN ANALYZE of the page statement as sent, with its parameters):');
    for (const line of await probe(config, prepared.token, prepared.userId, prepared.scenarios)) say(line);

    say('\nservice time by layer, page 1, one call at a time (mean):');
    say(formatLayers(await measureLayers(services, url, prepared.token, prepared.channelId, PAGE_QUERY)));

    say(`\nload: ${CONCURRENCY} concurrent clients on a worker thread, ${SECONDS} s per scenario, keep-alive; server on the main thread, NODE_ENV=${env.NODE_ENV}`);
    // Warm-up: JIT, connection pool, buffer cache.
    await runLoadInWorker(prepared.scenarios[0], { url, token: prepared.token, concurrency: CONCURRENCY, durationMs: 2000 });
    const results: LoadResult[] = [];
    /** A scenario's load, with where the CPU went per request. */
    const measured = async (run: () => Promise<LoadResult>, serverInThisProcess: boolean): Promise<LoadResult> => {
      const before = cpuTimes();
      const result = await run();
      const cpu = cpuPerRequest(before, cpuTimes(), result.requests);
      // PostGraphile's server is another process: only the machine's figures are its.
      return { ...result, cpu: cpu && (serverInThisProcess ? cpu : { ...cpu, mainThreadMs: Number.NaN }) };
    };
    for (const s of prepared.scenarios) {
      const load = () => measured(() => runLoadInWorker(s, { url, token: prepared.token, concurrency: CONCURRENCY, durationMs: SECONDS * 1000 }), true);
      // BENCH_PROFILE=<dir>: the server's CPU profile of the first scenario (bench/profile.ts).
      results.push(s === prepared.scenarios[0] ? await profiled('asrun-page1', load, say) : await load());
    }
    // The same two scenarios on PostGraphile, then the ratios, in this one run.
    const postgraphile = await startPostGraphile(DATABASE_URL, POSTGRAPHILE_PORT, say);
    const reference: LoadResult[] = [];
    try {
      const pgl = await postGraphileScenarios(postgraphile.url, prepared.channelId);
      await runLoadInWorker(pgl[0], { url: postgraphile.url, token: '', concurrency: CONCURRENCY, durationMs: 2000 });
      for (const s of pgl) {
        reference.push(await measured(() => runLoadInWorker(s, { url: postgraphile.url, token: '', concurrency: CONCURRENCY, durationMs: SECONDS * 1000 }), false));
      }
    } finally {
      postgraphile.stop();
    }
    say(`\n${formatTable([...results, ...reference])}`);
    // Little's law: with CONCURRENCY requests always in flight, the mean latency is CONCURRENCY / throughput,
    // and the throughput cannot pass what the machine's cores, or the server's one thread, can serve.
    const cores = availableParallelism();
    for (const r of results) {
      if (!r.cpu) continue;
      const cap = Math.min((cores * 1000) / r.cpu.machineBusyMs, 1000 / r.cpu.mainThreadMs);
      say(
        `${r.name}: at its CPU per request this ${cores}-core machine serves at most ${((cores * 1000) / r.cpu.machineBusyMs).toFixed(0)} req/s,` +
          ` the server's thread ${(1000 / r.cpu.mainThreadMs).toFixed(0)}; with ${CONCURRENCY} clients, a mean latency of at least ${((CONCURRENCY * 1000) / cap).toFixed(1)} ms`,
      );
    }
    const ratio = (ours: LoadResult, theirs: LoadResult) => (ours.reqPerSec / theirs.reqPerSec).toFixed(2);
    say(`\nthroughput onair / PostGraphile: page 1 ${ratio(results[0], reference[0])}, page 51 ${ratio(results[2], reference[1])} (target: at least 1.00)`);
    for (const r of results) if (r.firstError) say(`${r.name}: first error: ${r.firstError}`);
    const worst = Math.max(...results.map((r) => r.p99));
    say(`\np99 target ${TARGET_P99_MS} ms: ${worst <= TARGET_P99_MS ? 'met' : 'MISSED'} (worst p99 ${worst.toFixed(2)} ms); total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    process.exitCode = [...results, ...reference].some((r) => r.errors > 0) ? 1 : 0;
  } finally {
    if (userId) await services.db.user.delete({ where: { id: userId } }).catch(() => {});
    await app.close();
    await services.close();
  }
}

