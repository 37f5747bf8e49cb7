// The as-run benchmark; bench/main.ts sets NODE_ENV and runs it.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateToken, hashToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { buildApp, type App } from '../src/server/app.ts';
import { createServices, type Services } from '../src/services/index.ts';
import { explain, formatPlan, type CapturedQuery } from './explain.ts';
import { countGcs, type GcCounts } from './gc-count.ts';
import { formatLayers, measureLayers } from './layers.ts';
import { formatRows, post, type Scenario } from './load.ts';
import { runPgbench, type PgbenchResult } from './pgbench.ts';
import { POSTGRAPHILE_VERSION, postGraphileScenarios, startPostGraphile } from './postgraphile.ts';
import { profiled } from './profile.ts';
import { startApiProcesses } from './api-processes.ts';
import { seedBenchDatabase } from './seed.ts';
import { ensureWrk, runWrk, type WrkResult } from './wrk.ts';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 10);
const ROWS = Number(env.BENCH_ROWS ?? 5_000_000);
const TARGET_P99_MS = 10;
const POSTGRAPHILE_PORT = Number(env.BENCH_POSTGRAPHILE_PORT ?? 5599);
const API_PROCESSES_PORT = Number(env.BENCH_API_PROCESSES_PORT ?? 5598);
const DATABASE_URL = env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/onair_bench';

const say = (line: string) => process.stdout.write(`${line}\n`);

export const PAGE_QUERY = `query AsRunPage($channelId: ID!, $first: Int, $after: String, $from: DateTime, $to: DateTime) {
  asRun(channelId: $channelId, first: $first, after: $after, from: $from, to: $to) {
    edges { cursor node { id clipName startedAt endedAt durationMs status playlistId assetId channel { id } item { id } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export async function startServer(services: Services): Promise<{ app: App; url: string }> {
  // As `serve` does before it reports ready (src/server/main.ts).
  await services.warm();
  const app = buildApp(services);
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql` };
}

/** The scenarios on the first channel, and a viewer of its project. */
/** The bench database (seeded when it does not hold BENCH_ROWS rows yet) and onair serving it in this process, quiet. */
export async function seedAndServe(): Promise<{ services: Services; app: App; url: string }> {
  await seedBenchDatabase({
    url: DATABASE_URL,
    projects: 5,
    channelsPerProject: 10,
    rows: ROWS,
    days: 365,
    progress: say,
  });
  const config = loadConfig({
    ...env,
    NODE_ENV: env.NODE_ENV === 'production' ? 'production' : 'development',
    ONAIR_SECRET_KEY: env.ONAIR_SECRET_KEY ?? randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
    DATABASE_URL,
    MIGRATE_ON_START: 'false',
  });
  const services = createServices(config);
  return { services, ...(await startServer(services)) };
}

export async function prepare(services: Services, url: string) {
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
  const newest = await db.asRunEntry.findFirstOrThrow({
    where: { channelId: channel.id },
    orderBy: { startedAt: 'desc' },
  });
  // A whole UTC day a month before the newest entry.
  const from = new Date(newest.startedAt);
  from.setUTCHours(0, 0, 0, 0);
  from.setUTCDate(from.getUTCDate() - 30);
  const to = new Date(from.getTime() + 86_400_000);

  // The cursor at the end of page 50, found by walking like a client would.
  const agent = new http.Agent({ keepAlive: true });
  let after: string | null = null;
  for (let page = 1; page <= 50; page++) {
    const res = await post(
      agent,
      url,
      token,
      JSON.stringify({ query: PAGE_QUERY, variables: { channelId: channel.id, first: 100, after } }),
    );
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
  return {
    token,
    userId: viewer.id,
    channelId: channel.id,
    scenarios,
    window: { from: from.toISOString(), to: to.toISOString() },
  };
}

/** One request per scenario on a server that records its SQL (Prisma's and the plain statements); EXPLAIN of each as_run statement. */
async function probe(
  config: ReturnType<typeof loadConfig>,
  token: string,
  userId: string,
  scenarios: Scenario[],
): Promise<{ lines: string[]; pages: CapturedQuery[] }> {
  let captured: CapturedQuery[] = [];
  const services = createServices(config, { onQuery: () => {} });
  services.db.$on('query' as never, (e: CapturedQuery) => captured.push({ query: e.query, params: e.params }));
  // The plain statements (authentication, as-run pages) with their parameters.
  const { sql } = services;
  const capture =
    <T>(run: (text: string, params?: unknown[]) => Promise<T>, generic = false) =>
    (text: string, params: unknown[] = []) => {
      captured.push({ query: text, params: JSON.stringify(params), generic });
      return run(text, params);
    };
  sql.query = capture(sql.query.bind(sql)) as typeof sql.query;
  sql.queryArrays = capture(sql.queryArrays.bind(sql));
  sql.queryGenericArrays = capture(sql.queryGenericArrays.bind(sql), true);
  const { app, url } = await startServer(services);
  const agent = new http.Agent({ keepAlive: true });
  const lines: string[] = [];
  const pages: CapturedQuery[] = [];
  try {
    for (const s of scenarios) {
      // What a request costs when its token is not in the principal cache.
      services.principals.forgetUser(userId);
      captured = [];
      const res = await post(agent, url, token, JSON.stringify({ query: s.query, variables: s.variables }));
      if (res.body.errors?.length) throw new Error(`${s.name}: ${res.body.errors[0].message}`);
      const statements = captured.filter((q) => !/^\s*(BEGIN|COMMIT)/i.test(q.query));
      const tables = statements.map((q) =>
        [...q.query.matchAll(/(?<!epoch )FROM\s+"?(?:public"?\."?)?"?(\w+)"?/gi)].map((m) => m[1]).join('+'),
      );
      const edges = res.body.data.asRun.edges.length;
      lines.push(
        `${s.name}: ${edges} edges, ${statements.length} SQL statements (${tables.join(', ')}; a token's repeat requests within AUTH_CACHE_MS skip the first)`,
      );
      const page = statements.find((q) => /FROM\s+"?(public"?\."?)?as_run"?/i.test(q.query));
      if (!page) throw new Error(`${s.name}: no as_run statement captured`);
      pages.push(page);
      lines.push(formatPlan('  page query', await explain(config.databaseUrl, page)));
    }
  } finally {
    agent.destroy();
    await app.close();
    await services.close();
  }
  return { lines, pages };
}

/** The as-run benchmark: 5 M rows, three scenarios, PostGraphile side by side. */
export async function runAsRunBench(): Promise<void> {
  const t0 = performance.now();
  const { services, app, url } = await seedAndServe();
  let userId: string | undefined;
  try {
    const prepared = await prepare(services, url);
    userId = prepared.userId;
    say('\nplans (EXPLAIN ANALYZE of the page statement as sent, with its parameters):');
    const probed = await probe(services.config, prepared.token, prepared.userId, prepared.scenarios);
    for (const line of probed.lines) say(line);

    say('\nservice time by layer, page 1, one call at a time (mean):');
    say(formatLayers(await measureLayers(services, url, prepared.token, prepared.channelId, PAGE_QUERY)));

    ensureWrk(say);
    say(
      `\nload: wrk, 1 thread, ${CONCURRENCY} keep-alive connections, ${SECONDS} s per scenario; onair in this process (NODE_ENV=${env.NODE_ENV}), PostGraphile ${POSTGRAPHILE_VERSION} in its own (Node 24); pgbench -M prepared -c ${CONCURRENCY} -j 2 on onair's page statement`,
    );
    // The backends of the bench database but this one (each server's pool: only one server runs at a time).
    const databasePids = async () =>
      (
        await services.sql.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        )
      ).map((r) => r.pid);
    const wrk = (s: Scenario, target: string, token: string, pid: number | (() => number[]), seconds = SECONDS) =>
      runWrk(s, {
        url: target,
        token,
        connections: CONCURRENCY,
        durationMs: seconds * 1000,
        serverPid: pid,
        databasePids,
      });
    // Warm-up: JIT, connection pool, buffer cache, and the prepared statements' generic plans, for
    // every scenario: each page shape is its own statement (prepared once per connection), and
    // page 51 measured last after a warm-up of page 1 alone paid for its own on the clock.
    for (const s of prepared.scenarios) await wrk(s, url, prepared.token, process.pid, 1);
    const ours: WrkResult[] = [];
    // This process's collections in each row: full ones began ~25 s into the load before the cursors' fix (README).
    const gcs: GcCounts[] = [];
    for (const s of prepared.scenarios) {
      const load = () => wrk(s, url, prepared.token, process.pid);
      const counting = countGcs();
      // BENCH_PROFILE=<dir>: the server's CPU profile of the first scenario (bench/profile.ts).
      ours.push(s === prepared.scenarios[0] ? await profiled('asrun-page1', load, say) : await load());
      gcs.push(await counting.stop());
    }
    // The same three scenarios on PostGraphile, in this one run.
    const postgraphile = await startPostGraphile(DATABASE_URL, POSTGRAPHILE_PORT, say);
    const theirs: WrkResult[] = [];
    try {
      const pgl = await postGraphileScenarios(postgraphile.url, prepared.channelId, prepared.window);
      await wrk(pgl[0], postgraphile.url, '', postgraphile.pid, 2);
      for (const s of pgl) theirs.push(await wrk(s, postgraphile.url, '', postgraphile.pid));
    } finally {
      postgraphile.stop();
    }
    // onair's `serve` with API_PROCESSES=2 (src/server/cluster.ts): the same scenarios, CPU of both API processes.
    const cluster = await startApiProcesses(2, DATABASE_URL, API_PROCESSES_PORT);
    const ours2: WrkResult[] = [];
    try {
      for (const s of prepared.scenarios) await wrk(s, cluster.url, prepared.token, cluster.pids, 2);
      for (const s of prepared.scenarios) ours2.push(await wrk(s, cluster.url, prepared.token, cluster.pids));
    } finally {
      await cluster.stop();
    }
    // The database's own rate for each page statement onair sent.
    const ceiling: PgbenchResult[] = [];
    for (const page of probed.pages) ceiling.push(await runPgbench(DATABASE_URL, page, CONCURRENCY, SECONDS));

    const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
    const pct = (n: number) => `${(n * 100).toFixed(0)} %`;
    const rows = [
      [
        'scenario',
        'server',
        'req/s',
        'p50 ms',
        'p99 ms',
        'server CPU ms/req',
        'PostgreSQL CPU ms/req',
        'machine CPU ms/req',
        'machine busy',
        'GCs (scavenge / full)',
        'onair / PostGraphile',
        'of pgbench',
        'errors',
      ],
    ];
    prepared.scenarios.forEach((s, i) => {
      const [o, g, c] = [ours[i], theirs[i], ceiling[i]];
      rows.push([
        s.name,
        'onair',
        f(o.reqPerSec, 0),
        f(o.p50),
        f(o.p99),
        f(o.serverCpuMs),
        f(o.databaseCpuMs),
        f(o.machineCpuMs),
        pct(o.machineBusy),
        `${gcs[i].scavenges} / ${gcs[i].markCompacts}`,
        `${f(o.reqPerSec / g.reqPerSec)} (p99 ${f(o.p99 / g.p99)})`,
        pct(o.reqPerSec / c.tps),
        String(o.errors),
      ]);
      const o2 = ours2[i];
      rows.push([
        '',
        'onair, 2 processes',
        f(o2.reqPerSec, 0),
        f(o2.p50),
        f(o2.p99),
        f(o2.serverCpuMs),
        f(o2.databaseCpuMs),
        f(o2.machineCpuMs),
        pct(o2.machineBusy),
        '-',
        `${f(o2.reqPerSec / g.reqPerSec)} (p99 ${f(o2.p99 / g.p99)})`,
        pct(o2.reqPerSec / c.tps),
        String(o2.errors),
      ]);
      rows.push([
        '',
        `PostGraphile ${POSTGRAPHILE_VERSION}`,
        f(g.reqPerSec, 0),
        f(g.p50),
        f(g.p99),
        f(g.serverCpuMs),
        f(g.databaseCpuMs),
        f(g.machineCpuMs),
        pct(g.machineBusy),
        '-',
        '',
        pct(g.reqPerSec / c.tps),
        String(g.errors),
      ]);
      rows.push([
        '',
        'pgbench (page statement)',
        f(c.tps, 0),
        '-',
        `mean ${f(c.latencyMs)}`,
        '-',
        '-',
        f(c.machineCpuMs),
        pct(c.machineBusy),
        '-',
        '',
        '100 %',
        String(c.failed),
      ]);
    });
    say(`\n${formatRows(rows)}`);
    say(
      "(server CPU: utime + stime of the server's process, every thread; PostgreSQL: its backends connected to the bench database; machine: every core, clients and PostgreSQL included; GCs: the collections of onair's process in that row; ratio: throughput, and p99 onair / PostGraphile)",
    );
    for (const r of [...ours, ...ours2, ...theirs]) if (r.firstError) say(`${r.name}: first error: ${r.firstError}`);
    const worst = Math.max(...ours.map((r) => r.p99));
    say(
      `\np99 target ${TARGET_P99_MS} ms: ${worst <= TARGET_P99_MS ? 'met' : 'MISSED'} (worst p99 ${worst.toFixed(2)} ms); total ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
    process.exitCode =
      [...ours, ...ours2, ...theirs].some((r) => r.errors > 0) || ceiling.some((c) => c.failed > 0) ? 1 : 0;
  } finally {
    if (userId) await services.db.user.delete({ where: { id: userId } }).catch(() => {});
    await app.close();
    await services.close();
  }
}
