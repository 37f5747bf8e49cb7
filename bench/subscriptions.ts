// Engine status to 1,000 WebSocket subscribers: the real server in this
// process, the subscribers in a forked process (bench/subscriptions-clients.ts)
// so that their CPU is not counted against the server. Status changes are
// published on the event bus as the worker publishes them (through Redis);
// each carries its publish time, and every subscriber's receive time is
// compared with it. Also: the server's memory for 1,000 idle subscriptions,
// and the requests a running channel's sidecar got meanwhile (none).
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { generateToken, hashToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { EngineSnapshots, engineState, toWire, type EngineState } from '../src/domain/channels/engine-status.ts';
import { buildApp } from '../src/server/app.ts';
import { createServices } from '../src/services/index.ts';
import { benchDatabase, benchEnv } from './setup.ts';
import { formatRows } from './load.ts';
import { profiled } from './profile.ts';
import type { ClientsCommand, ClientsReply } from './subscriptions-clients.ts';
import { recordHandOffs } from './socket-hand-off.ts';
import type { ReplicaCommand, ReplicaReply } from './subscriptions-replica.ts';

const env = process.env;
const CONNECTIONS = Number(env.BENCH_SUB_CONNECTIONS ?? 1000);
const PER_CONNECTION = Number(env.BENCH_SUB_PER_CONNECTION ?? 1);
const CHANGES = Number(env.BENCH_SUB_CHANGES ?? 200);
/** One viewer per connection, each with its own token (true: a thousand operators), or one token for all (false). */
const DISTINCT_TOKENS = (env.BENCH_SUB_DISTINCT_TOKENS ?? 'true') === 'true';
/** Between two status changes of the channel: 20 per second, far more than a real channel makes. */
const INTERVAL_MS = Number(env.BENCH_SUB_INTERVAL_MS ?? 50);
/**
 * API replicas for the last phase (1: none): `serve` is stateless and runs as several replicas
 * behind a balancer, the connections spread over them; each replica after the first is a process
 * of its own, and an event reaches every one through the event bus (Redis).
 */
const REPLICAS = Number(env.BENCH_SUB_REPLICAS ?? 2);
const TARGET_P99_MS = 20;
const TARGET_MEMORY_MB = 50;
const say = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** RSS, and what the JavaScript heap and buffers hold, after the garbage is collected. */
async function settledMemory(): Promise<{ rss: number; heap: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(200);
  }
  const { rss, heapUsed, external } = process.memoryUsage();
  return { rss, heap: heapUsed + external };
}

/** A few subscriptions opened and closed from this process, so that the baseline has run the code once. */
async function warmUp(api: string, token: string, channelId: string): Promise<void> {
  const { default: WebSocket } = await import('ws');
  const sockets = Array.from({ length: 20 }, () => new WebSocket(api.replace(/^http/, 'ws'), 'graphql-transport-ws'));
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve, reject) => {
          socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { token } })));
          socket.on('message', (raw) => {
            const message = JSON.parse(String(raw));
            if (message.type === 'connection_ack') {
              const query = 'subscription ($id: ID!) { engineStatus(channelId: $id) { channelId state } }';
              socket.send(
                JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { id: channelId } } }),
              );
            } else if (message.type === 'next') {
              resolve();
            }
          });
          socket.on('error', reject);
        }),
    ),
  );
  await Promise.all(sockets.map((socket) => new Promise((resolve) => (socket.on('close', resolve), socket.close()))));
}

function startClients(): { child: ChildProcess; ask(command: ClientsCommand): Promise<ClientsReply> } {
  const child = fork(new URL('./subscriptions-clients.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...env, NODE_ENV: 'production' },
  });
  const ask = (command: ClientsCommand) =>
    new Promise<ClientsReply>((resolve, reject) => {
      child.once('message', (reply: ClientsReply) =>
        reply.kind === 'failed' ? reject(new Error(reply.error)) : resolve(reply),
      );
      child.send(command);
    });
  return { child, ask };
}

/** Another API replica in a process of its own, on the same database, Redis and installation. */
async function startReplica(
  replicaEnv: NodeJS.ProcessEnv,
): Promise<{ url: string; child: ChildProcess; ask(command: ReplicaCommand): Promise<ReplicaReply> }> {
  const child = fork(new URL('./subscriptions-replica.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    env: replicaEnv,
  });
  const next = () =>
    new Promise<ReplicaReply>((resolve, reject) => {
      child.once('message', (reply: ReplicaReply) =>
        reply.kind === 'failed' ? reject(new Error(reply.error)) : resolve(reply),
      );
      child.once('exit', (code) => reject(new Error(`replica exited with ${code}`)));
    });
  const listening = await next();
  if (listening.kind !== 'listening') throw new Error('the replica did not start');
  return {
    url: listening.url,
    child,
    ask: (command) => {
      const reply = next();
      child.send(command);
      return reply;
    },
  };
}

/** A stand-in sidecar that only counts what it is asked: subscribers must not reach it. */
function countingSidecar(): Promise<{ url: string; requests(): number; close(): void }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(503).end();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        requests: () => requests,
        close: () => server.close(),
      }),
    ),
  );
}

export async function runSubscriptionsBench(): Promise<void> {
  const databaseUrl = await benchDatabase('onair_bench_subscriptions');
  // The replicas of the last phase get the same configuration.
  const replicaConfigEnv = benchEnv(databaseUrl, { WORKER_IN_PROCESS: 'false', MIGRATE_ON_START: 'false' });
  const config = loadConfig({ ...env, ...replicaConfigEnv });
  const services = createServices(config);
  const app = buildApp(services);
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql`;
  const sidecar = await countingSidecar();

  const project = await services.db.project.create({ data: { name: `bench-${randomBytes(4).toString('hex')}` } });
  // Viewers of the project, each with a token: one for every connection, or one for all.
  const tokens = Array.from({ length: DISTINCT_TOKENS ? CONNECTIONS : 1 }, () => generateToken());
  const userIds = tokens.map(() => crypto.randomUUID());
  await services.db.user.createMany({ data: userIds.map((id, i) => ({ id, name: `bench-viewer-${i}` })) });
  await services.db.apiToken.createMany({
    data: tokens.map((t, i) => ({ userId: userIds[i], name: 'bench', tokenHash: hashToken(t) })),
  });
  await services.db.membership.createMany({
    data: userIds.map((userId) => ({ userId, projectId: project.id, role: 'VIEWER' as const })),
  });
  const token = tokens[0];
  const channel = await services.db.channel.create({
    data: {
      name: 'bench',
      projectId: project.id,
      outputType: 'NDI',
      output: { name: 'bench' },
      videoFormat: '1080i5000',
      status: 'RUNNING',
      sidecarUrl: sidecar.url,
    },
  });
  const state = (clipName: string, positionMs: number): EngineState => ({
    ...engineState(channel.id, null),
    reachable: true,
    state: 'PLAYING',
    loop: false,
    current: { itemId: crypto.randomUUID(), clipName, startedAt: new Date(), positionMs, durationMs: 30_000 },
  });
  await new EngineSnapshots(services.redis, config.queuePrefix).save(state('opener', 0));

  let clients = startClients();
  const replicas: Awaited<ReturnType<typeof startReplica>>[] = [];
  try {
    const subscriptions = CONNECTIONS * PER_CONNECTION;
    say(
      `\nsubscriptions: ${subscriptions} engineStatus subscribers of one channel over ${CONNECTIONS} WebSocket connections` +
        ` (clients in another process), ${DISTINCT_TOKENS ? 'each connection with its own token' : 'one token for all'}`,
    );
    await warmUp(api, token, channel.id);
    const before = await settledMemory();
    const ready = await clients.ask({
      kind: 'start',
      options: {
        url: api,
        tokens,
        channelId: channel.id,
        connections: CONNECTIONS,
        subscriptionsPerConnection: PER_CONNECTION,
      },
    });
    if (ready.kind !== 'ready') throw new Error('the clients did not start');
    await sleep(1000);
    const idle = await settledMemory();
    const mb = (bytes: number) => bytes / 1024 / 1024;
    const rssMb = mb(idle.rss - before.rss);
    const heapMb = mb(idle.heap - before.heap);
    // RSS moves with what the allocator keeps or returns; the larger of the two counts.
    const memoryMb = Math.max(rssMb, heapMb);

    // Warm-up (not measured): the first changes run cold code.
    for (let i = 0; i < 20; i++) {
      services.pubsub.publish('engineStatus', channel.id, {
        projectId: project.id,
        status: toWire(state('warm-up', 0)),
      });
      await sleep(INTERVAL_MS);
    }
    await sleep(500);

    // The server's own part: from publish to the message handed to the socket
    // (a client's receive time also holds the clients' own work, a thousand
    // messages on one core).
    let handedOff: number[] = [];
    const hookSockets = () => recordHandOffs(app.websocket.server.clients, (ms) => handedOff.push(ms));
    hookSockets();

    /**
     * CHANGES status changes, one every INTERVAL_MS, each sent by `publish`; then every client's
     * report. The server figures cover this process and the other replicas, if any.
     */
    const phase = async (name: string, publish: (status: EngineState) => void) => {
      handedOff = [];
      await Promise.all(replicas.map((r) => r.ask({ kind: 'measure' })));
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (let i = 0; i < CHANGES; i++) {
        await sleep(Math.max(0, started + i * INTERVAL_MS - performance.now()));
        publish(state(`bench@${now()}`, i * INTERVAL_MS));
      }
      const report = await clients.ask({ kind: 'report', expected: CHANGES * subscriptions, timeoutMs: 30_000 });
      if (report.kind !== 'report') throw new Error('the clients did not report');
      const used = process.cpuUsage(cpu);
      let cpuMicros = used.user + used.system;
      for (const replica of replicas) {
        const measured = await replica.ask({ kind: 'report' });
        if (measured.kind !== 'report') throw new Error('a replica did not report');
        handedOff.push(...measured.handedOff);
        cpuMicros += measured.cpuMicros;
      }
      const server = handedOff.sort((x, y) => x - y);
      const at = (q: number) => server[Math.min(server.length - 1, Math.floor(q * server.length))] ?? NaN;
      return {
        name,
        report,
        server: { p50: at(0.5), p99: at(0.99), max: server.at(-1) ?? NaN },
        cpuUs: cpuMicros / Math.max(1, report.received),
      };
    };

    const results = [
      // As the worker publishes: on the event bus, through Redis, to every subscription of every replica.
      // BENCH_PROFILE=<dir>: the server's CPU profile of this phase (bench/profile.ts).
      await profiled(
        'subscriptions-onair',
        () =>
          phase('onair: event bus → engineStatus subscriptions', (status) =>
            services.pubsub.publish('engineStatus', channel.id, { projectId: project.id, status: toWire(status) }),
          ),
        say,
      ),
      // The floor on this machine: one message serialized once and written to the same sockets.
      await phase('reference: the same sockets, one pre-serialized message', (status) => {
        const text = JSON.stringify({ id: '0', type: 'next', payload: { data: { engineStatus: toWire(status) } } });
        for (const socket of app.websocket.server.clients) socket.send(text);
      }),
    ];

    // The deployment onair is made for: replicas, the same connections spread over them.
    if (REPLICAS > 1) {
      clients.child.disconnect();
      while (app.websocket.server.clients.size > 0) await sleep(50);
      const replicaEnv = {
        ...env,
        ...Object.fromEntries(Object.entries(replicaConfigEnv).map(([k, v]) => [k, String(v)])),
      };
      for (let i = 1; i < REPLICAS; i++) replicas.push(await startReplica(replicaEnv));
      clients = startClients();
      const spread = await clients.ask({
        kind: 'start',
        options: {
          url: api,
          urls: [api, ...replicas.map((r) => r.url)],
          tokens,
          channelId: channel.id,
          connections: CONNECTIONS,
          subscriptionsPerConnection: PER_CONNECTION,
        },
      });
      if (spread.kind !== 'ready') throw new Error('the clients did not start');
      for (let i = 0; i < 20; i++) {
        services.pubsub.publish('engineStatus', channel.id, {
          projectId: project.id,
          status: toWire(state('warm-up', 0)),
        });
        await sleep(INTERVAL_MS);
      }
      await sleep(500);
      hookSockets();
      results.push(
        await phase(`onair, ${REPLICAS} replicas (${REPLICAS} processes, connections spread)`, (status) =>
          services.pubsub.publish('engineStatus', channel.id, { projectId: project.id, status: toWire(status) }),
        ),
      );
      // The floor with the same spread: each process writes the message, serialized once, to its own sockets.
      results.push(
        await phase(`reference, ${REPLICAS} processes: the same sockets, one pre-serialized message`, (status) => {
          const text = JSON.stringify({ id: '0', type: 'next', payload: { data: { engineStatus: toWire(status) } } });
          for (const replica of replicas) replica.child.send({ kind: 'write', text } satisfies ReplicaCommand);
          for (const socket of app.websocket.server.clients) socket.send(text);
        }),
      );
    }

    const expected = CHANGES * subscriptions;
    const ms = (value: number) => value.toFixed(2);
    say(
      `\n${formatRows([
        ['scenario', 'messages', 'p50 ms', 'p99 ms', 'max ms', 'server p99 ms', 'server µs/msg', 'clients µs/msg'],
        ...results.map((r) => [
          r.name,
          `${r.report.received}/${expected}`,
          ms(r.report.latencies.p50),
          ms(r.report.latencies.p99),
          ms(r.report.latencies.max),
          ms(r.server.p99),
          r.cpuUs.toFixed(1),
          (r.report.cpuMicros / Math.max(1, r.report.received)).toFixed(1),
        ]),
      ])}`,
    );
    say(
      `\n${CHANGES} status changes, one every ${INTERVAL_MS} ms, to ${subscriptions} subscriptions; p50/p99/max: publish to receipt by the client;` +
        ` server p99: publish to the socket write; server µs/msg: the server processes' CPU per delivered message; clients µs/msg: the subscribers' process's.` +
        ` The first two rows: one API process with every connection; the last (BENCH_SUB_REPLICAS): the same connections spread over replicas,` +
        ` each its own process, on this one ${availableParallelism()}-core machine with the clients.`,
    );
    say(
      `connect, init, subscribe and first message of all ${subscriptions}: ${(ready.connectMs / 1000).toFixed(2)} s;` +
        ` idle subscriptions memory: RSS ${rssMb >= 0 ? '+' : ''}${rssMb.toFixed(1)} MB, heap and buffers +${heapMb.toFixed(1)} MB;` +
        ` requests to the running channel's sidecar meanwhile: ${sidecar.requests()}`,
    );
    const [onair] = results;
    const spreadResult = results[2];
    const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
    say(
      `targets: p99 under ${TARGET_P99_MS} ms: one process ${met(onair.report.latencies.p99 < TARGET_P99_MS)}` +
        (spreadResult ? `, ${REPLICAS} replicas ${met(spreadResult.report.latencies.p99 < TARGET_P99_MS)};` : ';') +
        ` idle memory under ${TARGET_MEMORY_MB} MB: ${met(memoryMb < TARGET_MEMORY_MB)};` +
        ` every message delivered: ${met(onair.report.received === expected)}; sidecar untouched: ${met(sidecar.requests() === 0)}`,
    );
    // Issue 15: p99 within 1.25x and CPU per message within 1.2x of the reference, at 1 and at REPLICAS processes.
    const ratio = (row: (typeof results)[number], reference: (typeof results)[number]) =>
      `p99 ${(row.report.latencies.p99 / reference.report.latencies.p99).toFixed(2)}x, CPU/msg ${(row.cpuUs / reference.cpuUs).toFixed(2)}x`;
    const [, reference, , spreadReference] = results;
    say(
      `against the reference (targets p99 1.25x, CPU/msg 1.2x): one process ${ratio(onair, reference)}` +
        (spreadResult
          ? `; ${REPLICAS} processes ${ratio(spreadResult, reference)} (against the ${REPLICAS}-process reference ${ratio(spreadResult, spreadReference)})`
          : ''),
    );
    for (const error of [...onair.report.errors, ...(spreadResult?.report.errors ?? [])]) say(`client error: ${error}`);
    if (results.some((r) => r.report.received !== expected || r.report.errors.length)) process.exitCode = 1;
  } finally {
    if (clients.child.connected) clients.child.disconnect();
    for (const replica of replicas) replica.child.disconnect();
    sidecar.close();
    await app.close();
    // The database is kept for the next run, without this run's rows.
    await services.db.user.deleteMany({ where: { id: { in: userIds } } });
    await services.db.channel.delete({ where: { id: channel.id } });
    await services.db.project.delete({ where: { id: project.id } });
    await services.close();
  }
}
