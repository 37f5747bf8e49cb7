// The API's overhead on a transport mutation, beyond the sidecar's own time:
// the same `skip` sent straight to a sidecar and through onair's GraphQL API,
// by 50 concurrent operators (on a worker thread). The sidecar is a stand-in that speaks the real
// protocol (src/protocol) and answers at once, so what is measured is onair.
import { randomBytes } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import pg from 'pg';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { AddressInfo } from 'node:net';
import { generateToken, hashToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { sealSidecarSecret } from '../src/domain/channels/channel-lifecycle.ts';
import type { Status } from '../src/protocol/sidecar-api.ts';
import { buildApp } from '../src/server/app.ts';
import { createServices } from '../src/services/index.ts';
import { benchDatabase, benchEnv } from './setup.ts';
import { formatTable, percentile, runLoadInWorker, type LoadResult } from './load.ts';
import { profiled } from './profile.ts';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(env.BENCH_TRANSPORT_CONCURRENCY ?? 50);
const TARGET_P99_MS = 3;
/** Open loop: each operator acts every this many ms (200: 250 actions/s from 50 operators). */
const INTERVAL_MS = Number(env.BENCH_TRANSPORT_INTERVAL_MS ?? 200);
const say = (line: string) => process.stdout.write(`${line}\n`);

/**
 * The stand-in sidecar, on a thread of its own: a sidecar runs on another node,
 * and its work must not queue on onair's event loop. Plain JavaScript: worker
 * threads start without the TypeScript loader.
 */
const STAND_IN = `
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const server = http.createServer((req, res) => {
  req.resume();
  if (req.headers.authorization !== 'Bearer ' + workerData.secret) {
    res.writeHead(401).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(workerData.body);
});
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

function standInSidecar(channelId: string, secret: string): Promise<{ url: string; close(): Promise<number> }> {
  const status: Status = {
    channelId,
    engine: 'stand-in',
    state: 'PLAYING',
    playlistId: null,
    loop: false,
    current: null,
    next: null,
    epoch: 'bench',
    lastSeq: 0,
    errors: [],
  };
  const worker = new Worker(STAND_IN, { eval: true, workerData: { secret, body: JSON.stringify(status) } });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (port: number) =>
      resolve({ url: `http://127.0.0.1:${port}`, close: () => worker.terminate() }),
    );
  });
}

/**
 * Inside onair, per mutation: from the request's arrival (its headers parsed)
 * to the last byte of the answer handed to the kernel, minus the time spent
 * waiting for the sidecar: the API's own overhead, with its queueing on the
 * event loop, and without the clients' side of the network. The request is
 * followed into the sidecar call with an AsyncLocalStorage, whose promise hooks
 * cost every request a little: it runs in a scenario of its own.
 */
function measureServerOverhead(app: ReturnType<typeof buildApp>, services: ReturnType<typeof createServices>) {
  const inRequest = new AsyncLocalStorage<{ sidecarMs: number }>();
  const samples: number[] = [];
  let recording = false;
  const sidecars = services.sidecars;
  const transport = sidecars.transport.bind(sidecars);
  sidecars.transport = async (target, command) => {
    const store = recording ? inRequest.getStore() : undefined;
    if (!store) return transport(target, command);
    const t0 = performance.now();
    try {
      return await transport(target, command);
    } finally {
      store.sidecarMs += performance.now() - t0;
    }
  };
  const listeners = app.server.listeners('request') as ((
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ) => void)[];
  const serve = (req: http.IncomingMessage, res: http.ServerResponse) => {
    for (const listener of listeners) listener(req, res);
  };
  app.server.removeAllListeners('request');
  app.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!recording) return serve(req, res);
    const store = { sidecarMs: 0 };
    const t0 = performance.now();
    res.once('finish', () => samples.push(performance.now() - t0 - store.sidecarMs));
    inRequest.run(store, serve, req, res);
  });
  return {
    async during(
      run: () => Promise<LoadResult>,
    ): Promise<{ result: LoadResult; p50: number; p99: number; count: number }> {
      samples.length = 0;
      recording = true;
      try {
        const result = await run();
        const sorted = Float64Array.from(samples).sort();
        return { result, p50: percentile(sorted, 50), p99: percentile(sorted, 99), count: sorted.length };
      } finally {
        recording = false;
        inRequest.disable();
      }
    },
  };
}

/**
 * A bare relay on onair's thread: each request forwarded to the sidecar with
 * onair's own sidecar client, its answer returned; no GraphQL, no access
 * check, no route. The topology of a mutation through onair (one more hop,
 * one more thread to wake) at the least cost: what is left of the operators'
 * overhead beyond it is onair's work.
 */
async function bareRelay(services: ReturnType<typeof createServices>, target: { url: string; secret: string }) {
  const server = http.createServer((req, res) => {
    req.resume();
    services.sidecars.transport(target, 'skip').then(
      (status) =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ data: { skip: { state: status.state } } })),
      (err: unknown) =>
        res
          .writeHead(502, { 'content-type': 'application/json' })
          .end(JSON.stringify({ errors: [{ message: String(err) }] })),
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/relay`, close: () => server.close() };
}

/** Pauses of this thread's garbage collector from now until `stop()`, summarised by kind. */
function gcPauses(): { stop(): string } {
  const minor: number[] = [];
  const major: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR ? minor : major).push(entry.duration);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const describe = (name: string, pauses: number[]) => {
    if (pauses.length === 0) return `no ${name}`;
    const sorted = Float64Array.from(pauses).sort();
    return `${sorted.length} ${name} p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${sorted[sorted.length - 1].toFixed(2)} ms`;
  };
  return {
    stop() {
      observer.disconnect();
      return `${describe('scavenges', minor)}, ${describe('other collections', major)}`;
    },
  };
}

export async function runTransportBench(): Promise<void> {
  const databaseUrl = await benchDatabase('onair_bench_transport');
  const config = loadConfig({ ...env, ...benchEnv(databaseUrl) });
  const services = createServices(config);
  // As `serve` does before it reports ready (src/server/main.ts).
  await services.warm();
  const app = buildApp(services);
  const tracked = measureServerOverhead(app, services);
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql`;

  const project = await services.db.project.create({ data: { name: `bench-${randomBytes(4).toString('hex')}` } });
  const token = generateToken();
  await services.db.user.create({
    data: {
      name: 'bench-operator',
      tokens: { create: { name: 'bench', tokenHash: hashToken(token) } },
      memberships: { create: [{ projectId: project.id, role: 'OPERATOR' }] },
    },
  });
  const channel = await services.db.channel.create({
    data: {
      name: 'bench',
      projectId: project.id,
      outputType: 'NDI',
      output: { name: 'bench' },
      videoFormat: '1080i5000',
    },
  });
  const secret = randomBytes(32).toString('base64url');
  const sidecar = await standInSidecar(channel.id, secret);
  await services.db.channel.update({
    where: { id: channel.id },
    data: {
      status: 'RUNNING',
      sidecarUrl: sidecar.url,
      sidecarSecret: sealSidecarSecret(config.secretKey, channel.id, secret),
    },
  });

  try {
    const mutation = {
      name: 'skip through onair (GraphQL)',
      query: `mutation($c: ID!) { skip(channelId: $c) { state } }`,
      variables: { c: channel.id },
    };
    const direct = { name: 'skip straight to the sidecar', query: '', variables: { c: channel.id } };
    say(`\ntransport: ${CONCURRENCY} operators, ${SECONDS} s per scenario, keep-alive`);
    await runLoadInWorker(mutation, { url: api, token, concurrency: CONCURRENCY, durationMs: 2000 });
    // CPU of this process (onair, the stand-in sidecar and the clients) per request: the
    // difference between the two paced rows is onair's own, whatever else runs on the machine.
    const cpuPerRequest = new Map<string, number>();
    // How late this process's event loop ran (onair and the stand-in share it): a delay here is
    // a delay of every request in flight, whatever its cause (garbage collection, or no CPU to be had).
    const loopDelayP99 = new Map<string, number>();
    // Garbage collection on onair's thread (this one): each pause delays every request in flight.
    const pauses = new Map<string, string>();
    // PostgreSQL connections onair opened during each row (still open at its end), seen from a
    // connection of the bench's own: a connection opened mid-row is a request that waited for it.
    const observer = new pg.Client({ connectionString: databaseUrl });
    await observer.connect();
    const opened = new Map<string, number>();
    const dbNow = async () => (await observer.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0].now;
    const load = async (scenario: typeof mutation, target: string, key: string, intervalMs?: number) => {
      const since = await dbNow();
      const cpu = process.cpuUsage();
      const loop = monitorEventLoopDelay({ resolution: 1 });
      loop.enable();
      const gc = gcPauses();
      const result = await runLoadInWorker(
        { ...scenario, name: `${scenario.name}${intervalMs ? `, each every ${intervalMs} ms` : ', back to back'}` },
        { url: target, token: key, concurrency: CONCURRENCY, durationMs: SECONDS * 1000, intervalMs },
      );
      loop.disable();
      pauses.set(result.name, gc.stop());
      const used = process.cpuUsage(cpu);
      cpuPerRequest.set(result.name, (used.user + used.system) / 1000 / Math.max(1, result.requests));
      loopDelayP99.set(result.name, loop.percentile(99) / 1e6);
      const fresh = await observer.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_start >= $1',
        [since],
      );
      opened.set(result.name, fresh.rows[0].n);
      return result;
    };
    const straight = `${sidecar.url}/transport/skip`;
    const relay = await bareRelay(services, { url: sidecar.url, secret });
    const relayed = { name: 'skip through a bare relay (no GraphQL)', query: '', variables: { c: channel.id } };
    const results: LoadResult[] = [
      // Operators acting at a steady pace: the overhead an operator feels.
      await load(direct, straight, secret, INTERVAL_MS),
      await load(mutation, api, token, INTERVAL_MS),
      // Every operator at once, back to back: throughput at saturation.
      await load(direct, straight, secret),
      // BENCH_PROFILE=<dir>: the server's CPU profile of this scenario (bench/profile.ts).
      await profiled('transport-skip', () => load(mutation, api, token), say),
    ];
    // The paced mutations once more, followed inside onair.
    const inside = await tracked.during(() =>
      load({ ...mutation, name: `${mutation.name}, timed inside onair` }, api, token, INTERVAL_MS),
    );
    const relayedPaced = await load(relayed, relay.url, '', INTERVAL_MS);
    relay.close();
    say(`\n${formatTable([...results, inside.result, relayedPaced])}`);
    const [own, onair] = results;
    const p50 = onair.p50 - own.p50;
    const p99 = onair.p99 - own.p99;
    const rate = Math.round((CONCURRENCY * 1000) / INTERVAL_MS);
    say(
      `\nAPI overhead at ${rate} actions/s, as the operators see it (through − straight): p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms;` +
        ` target p99 under ${TARGET_P99_MS} ms: ${p99 < TARGET_P99_MS ? 'met' : 'MISSED'}`,
    );
    say(
      `API overhead at ${rate} actions/s beyond a bare relay's (through onair − through the relay): p50 ${(onair.p50 - relayedPaced.p50).toFixed(2)} ms,` +
        ` p99 ${(onair.p99 - relayedPaced.p99).toFixed(2)} ms; the relay's own: p50 ${(relayedPaced.p50 - own.p50).toFixed(2)} ms, p99 ${(relayedPaced.p99 - own.p99).toFixed(2)} ms`,
    );
    say(
      `API overhead at ${rate} actions/s, inside onair (request in → answer out, minus the sidecar call; ${inside.count} mutations):` +
        ` p50 ${inside.p50.toFixed(2)} ms, p99 ${inside.p99.toFixed(2)} ms; target p99 under ${TARGET_P99_MS} ms: ${inside.p99 < TARGET_P99_MS ? 'met' : 'MISSED'}`,
    );
    say(
      `saturation: ${results[3].reqPerSec.toFixed(0)} mutations/s through onair, ${results[2].reqPerSec.toFixed(0)} calls/s straight to the sidecar`,
    );
    const cpu = (r: LoadResult) => cpuPerRequest.get(r.name) ?? NaN;
    say(
      `CPU per action at 250 actions/s (this process: clients, stand-in sidecar, onair): straight ${cpu(own).toFixed(2)} ms, through onair ${cpu(onair).toFixed(2)} ms;` +
        ` onair's own ${(cpu(onair) - cpu(own)).toFixed(2)} ms`,
    );
    const delay = (r: LoadResult) => (loopDelayP99.get(r.name) ?? NaN).toFixed(2);
    say(
      `event loop delay p99 of this process at 250 actions/s: straight ${delay(own)} ms, through onair ${delay(onair)} ms`,
    );
    say(
      `garbage collection on onair's thread at 250 actions/s: straight ${pauses.get(own.name)}; through onair ${pauses.get(onair.name)}`,
    );
    // A stall at the start of a row (a cold process) against one spread over it (the machine).
    for (const r of [own, onair, inside.result, relayedPaced])
      say(
        `${r.name}: p99 ${r.p99FirstSecond?.toFixed(2)} ms in its first second, ${r.p99AfterFirstSecond?.toFixed(2)} ms after; PostgreSQL connections opened ${opened.get(r.name)}; gc: ${pauses.get(r.name)}`,
      );
    for (const r of [...results, inside.result, relayedPaced])
      if (r.firstError) say(`${r.name}: first error: ${r.firstError}`);
    if ([...results, inside.result, relayedPaced].some((r) => r.errors > 0)) process.exitCode = 1;
    await observer.end();
  } finally {
    await sidecar.close();
    await app.close();
    await services.close();
  }
}
