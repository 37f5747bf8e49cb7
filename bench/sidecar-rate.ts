// Requests per second to the channels' sidecars with one subscriber and with
// 1,000: the real server and its workers in this process (the event readers
// long-poll each running channel's sidecar), stand-in sidecars that speak the
// real protocol (src/protocol), put a new item on air every
// BENCH_RATE_EVENT_MS and count every request they get, and the subscribers
// in a forked process (bench/sidecar-rate-clients.ts). The target: the same
// rate whatever the number of subscribers.
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateToken, hashToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { sealSidecarSecret } from '../src/domain/channels/channel-lifecycle.ts';
import type { EventsPage, SidecarEvent, SidecarEventInput, Status } from '../src/protocol/sidecar-api.ts';
import { buildApp } from '../src/server/app.ts';
import { createServices } from '../src/services/index.ts';
import { benchDatabase, benchEnv } from './setup.ts';
import { startWorkers } from '../src/worker/index.ts';
import { formatRows } from './load.ts';
import type { ConnectionSpec, RateClientsCommand, RateClientsReply } from './sidecar-rate-clients.ts';

const env = process.env;
const CHANNELS = Number(env.BENCH_RATE_CHANNELS ?? 10);
const SUBSCRIBERS = Number(env.BENCH_RATE_SUBSCRIBERS ?? 1000);
/** Each measured window. */
const SECONDS = Number(env.BENCH_RATE_SECONDS ?? 8);
/** Each channel puts its next item on air this often (an ITEM_ENDED and an ITEM_ON_AIR, and a new status). */
const EVENT_MS = Number(env.BENCH_RATE_EVENT_MS ?? 100);
/** Subscribers of the last window that select Channel.engine in their asRun subscription. */
const ENGINE_READERS = Number(env.BENCH_RATE_ENGINE_READERS ?? 50);
/**
 * Requests with 1,000 subscribers within this share of those with one: "equal". Judged per item put
 * on air: the stand-ins' timers run in this process, and slow down with it when the machine is busy.
 */
const TOLERANCE = 0.05;
const say = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ENGINE_STATUS =
  'subscription ($id: ID!) { engineStatus(channelId: $id) { channelId reachable state current { clipName positionMs } updatedAt } }';
const AS_RUN =
  'subscription ($id: ID) { asRun(channelId: $id) { id clipName status startedAt endedAt channel { id name status } item { id } } }';
const CHANNEL_EVENTS = 'subscription { channelEvents { kind channelId at message channel { id status } } }';
const AS_RUN_WITH_ENGINE =
  'subscription ($id: ID) { asRun(channelId: $id) { id clipName status channel { id status engine { state current { clipName } } } } }';

interface PlaylistEntry {
  itemId: string;
  assetId: string;
  playlistId: string;
  clipName: string;
}

interface StandIn {
  url: string;
  port: number;
  /** Requests by path. */
  requests: Map<string, number>;
  /** Items put on air. */
  emitted: number;
  start(): void;
  close(): void;
}

/**
 * A sidecar as the control plane sees it: an authenticated /status and a
 * numbered event log served by long polls (/events?after&waitMs), whose every
 * answer carries the status. Its "playout" puts the next item on air every
 * EVENT_MS.
 */
function standInSidecar(channelId: string, secret: string, playlist: PlaylistEntry[], epoch: string): Promise<StandIn> {
  const log: SidecarEvent[] = [];
  const waiting = new Set<{ after: number; answer: () => void }>();
  let lastSeq = 0;
  let index = -1;
  let onAirSince = '';
  const status: Status = {
    channelId,
    engine: 'stand-in',
    state: 'PLAYING',
    playlistId: playlist[0].playlistId,
    loop: true,
    current: null,
    next: null,
    epoch,
    lastSeq: 0,
    errors: [],
  };
  const push = (event: SidecarEventInput) => {
    log.push({ ...event, seq: ++lastSeq, at: new Date().toISOString() } as SidecarEvent);
    if (log.length > 500) log.splice(0, log.length - 500);
  };
  const json = (res: http.ServerResponse, code: number, body: unknown) =>
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const page = (after: number): EventsPage => ({
    epoch,
    events: log.filter((e) => e.seq > after),
    lastSeq,
    status: { ...status, lastSeq },
  });

  const requests = new Map<string, number>();
  const standIn: Partial<StandIn> = { requests, emitted: 0 };
  const server = http.createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://sidecar');
    requests.set(url.pathname, (requests.get(url.pathname) ?? 0) + 1);
    if (req.headers.authorization !== `Bearer ${secret}`)
      return json(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'bad secret' } });
    if (req.method === 'GET' && url.pathname === '/status') return json(res, 200, { ...status, lastSeq });
    if (req.method === 'GET' && url.pathname === '/events') {
      const after = Number(url.searchParams.get('after') ?? 0);
      const waitMs = Math.min(25_000, Number(url.searchParams.get('waitMs') ?? 0));
      if (after < lastSeq || waitMs === 0) return json(res, 200, page(after));
      const waiter = {
        after,
        answer: () => {
          waiting.delete(waiter);
          clearTimeout(timer);
          if (!res.destroyed) json(res, 200, page(after));
        },
      };
      const timer = setTimeout(waiter.answer, waitMs);
      waiting.add(waiter);
      res.on('close', () => {
        waiting.delete(waiter);
        clearTimeout(timer);
      });
      return;
    }
    json(res, 404, { error: { code: 'NOT_FOUND', message: `no ${url.pathname}` } });
  });
  server.keepAliveTimeout = 65_000;

  let ticker: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = new Date();
    if (index >= 0) {
      const ended = playlist[index % playlist.length];
      push({
        kind: 'ITEM_ENDED',
        ...ended,
        startedAt: onAirSince,
        endedAt: now.toISOString(),
        durationMs: EVENT_MS,
        how: 'PLAYED',
      });
    }
    index += 1;
    const item = playlist[index % playlist.length];
    const next = playlist[(index + 1) % playlist.length];
    onAirSince = now.toISOString();
    push({ kind: 'ITEM_ON_AIR', ...item, startedAt: onAirSince });
    status.current = {
      itemId: item.itemId,
      assetId: item.assetId,
      clipName: item.clipName,
      index: index % playlist.length,
      startedAt: onAirSince,
      positionMs: 0,
      durationMs: EVENT_MS,
    };
    status.next = {
      itemId: next.itemId,
      assetId: next.assetId,
      clipName: next.clipName,
      index: (index + 1) % playlist.length,
    };
    (standIn as StandIn).emitted += 1;
    for (const waiter of [...waiting]) waiter.answer();
  };
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      Object.assign(standIn, {
        url: `http://127.0.0.1:${port}`,
        port,
        start: () => (ticker ??= setInterval(tick, EVENT_MS)),
        close: () => {
          clearInterval(ticker);
          for (const waiter of [...waiting]) waiter.answer();
          server.closeAllConnections();
          server.close();
        },
      });
      resolve(standIn as StandIn);
    }),
  );
}

function startClients() {
  const child = fork(new URL('./sidecar-rate-clients.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...env, NODE_ENV: 'production' },
  });
  const ask = (command: RateClientsCommand) =>
    new Promise<RateClientsReply>((resolve, reject) => {
      child.once('message', (reply: RateClientsReply) =>
        reply.kind === 'failed' ? reject(new Error(reply.error)) : resolve(reply),
      );
      child.send(command);
    });
  const count = async () => {
    const reply = await ask({ kind: 'count' });
    if (reply.kind !== 'count') throw new Error('the clients did not count');
    return reply;
  };
  return { child, ask, count };
}

/** Subscribers must add no request to the sidecars; fewer means the readers took several items per answer while the server was busy. */
function verdict(perItemRatio: number): string {
  if (perItemRatio > 1 + TOLERANCE) return 'MISSED (the subscribers added sidecar requests)';
  if (perItemRatio < 1 - TOLERANCE)
    return 'met, none added (fewer: answers carried several items while the server was busy)';
  return 'met';
}

export async function runSidecarRateBench(): Promise<void> {
  // Made afresh at each run.
  const databaseUrl = await benchDatabase('onair_bench_sidecar_rate', { fresh: true });
  const dataDir = await mkdtemp(path.join(tmpdir(), 'onair-bench-rate-'));
  const config = loadConfig({
    ...env,
    ...benchEnv(databaseUrl, {
      WORKER_IN_PROCESS: 'false',
      MEDIA_VOLUME_DIR: path.join(dataDir, 'media'),
      MEDIA_STORE_DIR: path.join(dataDir, 'store'),
    }),
  });
  const services = createServices(config);
  const app = buildApp(services);
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql`;
  const { db } = services;

  // One project; viewers of it, each with a token of their own.
  const project = await db.project.create({ data: { name: 'bench-rate' } });
  const connectionCount = SUBSCRIBERS + ENGINE_READERS;
  const tokens = Array.from({ length: connectionCount }, () => generateToken());
  const userIds = tokens.map(() => randomUUID());
  await db.user.createMany({ data: userIds.map((id, i) => ({ id, name: `bench-viewer-${i}` })) });
  await db.apiToken.createMany({
    data: tokens.map((t, i) => ({ userId: userIds[i], name: 'bench', tokenHash: hashToken(t) })),
  });
  await db.membership.createMany({
    data: userIds.map((userId) => ({ userId, projectId: project.id, role: 'VIEWER' as const })),
  });

  // RUNNING channels, each with a playlist of three clips and its stand-in sidecar. The sidecar
  // "process" is this one: alive, so reconciliation (local orchestrator) leaves them on air.
  const sidecars: StandIn[] = [];
  const channelIds: string[] = [];
  for (let c = 0; c < CHANNELS; c++) {
    const channel = await db.channel.create({
      data: {
        name: `bench-rate-${c}`,
        projectId: project.id,
        outputType: 'NDI',
        output: { name: `bench-${c}` },
        videoFormat: '1080i5000',
      },
    });
    const playlist = await db.playlist.create({ data: { channelId: channel.id, name: 'loop', loop: true } });
    const entries: PlaylistEntry[] = [];
    for (let i = 0; i < 3; i++) {
      const asset = await db.asset.create({
        data: {
          projectId: project.id,
          filename: `clip-${i}.mp4`,
          storageKey: `clip-${i}.mp4`,
          durationMs: EVENT_MS,
          mediaStatus: 'READY',
          mediaPath: `clips/clip-${i}.mp4`,
        },
      });
      const item = await db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: i } });
      entries.push({ itemId: item.id, assetId: asset.id, playlistId: playlist.id, clipName: `clip-${i}` });
    }
    const secret = randomBytes(32).toString('base64url');
    const sidecar = await standInSidecar(
      channel.id,
      secret,
      entries,
      `${Date.now().toString(16).padStart(12, '0')}-bench-${c}`,
    );
    await db.channel.update({
      where: { id: channel.id },
      data: {
        status: 'RUNNING',
        sidecarRef: String(process.pid),
        sidecarUrl: sidecar.url,
        sidecarPort: sidecar.port,
        sidecarSecret: sealSidecarSecret(config.secretKey, channel.id, secret),
        startedAt: new Date(),
        lastHeartbeatAt: new Date(),
      },
    });
    sidecars.push(sidecar);
    channelIds.push(channel.id);
  }

  const workers = await startWorkers(services);
  const clients = startClients();
  try {
    say(
      `\nsidecar-rate: ${CHANNELS} running channels, each putting an item on air every ${EVENT_MS} ms; the workers' event readers` +
        ` long-poll their sidecars; ${SECONDS} s per window`,
    );
    // Staggered, so that the channels do not all answer in the same instant.
    for (const [c, sidecar] of sidecars.entries()) setTimeout(() => sidecar.start(), (c * EVENT_MS) / CHANNELS);
    const deadline = Date.now() + 20_000;
    while (sidecars.some((s) => (s.requests.get('/events') ?? 0) < 3)) {
      if (Date.now() > deadline) throw new Error('the event readers did not reach every sidecar within 20 s');
      await sleep(100);
    }

    const subscriber = (i: number): ConnectionSpec => {
      const id = channelIds[i % CHANNELS];
      // One in twenty follows a channel's as-run log, one in twenty every channel's lifecycle, the rest its engine status.
      const spec =
        i % 20 === 19
          ? { kind: 'asRun', query: AS_RUN, variables: { id } }
          : i % 20 === 18
            ? { kind: 'channelEvents', query: CHANNEL_EVENTS, variables: {} }
            : { kind: 'engineStatus', query: ENGINE_STATUS, variables: { id } };
      return { token: tokens[i], subscriptions: [spec] };
    };
    const open = async (connections: ConnectionSpec[]) => {
      const reply = await clients.ask({ kind: 'open', url: api, connections });
      if (reply.kind !== 'opened') throw new Error('the clients did not connect');
      // The connect burst's own work is over before a window starts.
      await sleep(1000);
      return reply;
    };

    const total = (path?: string) =>
      sidecars.reduce(
        (sum, s) => sum + (path ? (s.requests.get(path) ?? 0) : [...s.requests.values()].reduce((a, b) => a + b, 0)),
        0,
      );
    const emitted = () => sidecars.reduce((sum, s) => sum + s.emitted, 0);
    const window = async (name: string, subscriptions: number) => {
      const before = {
        all: total(),
        events: total('/events'),
        status: total('/status'),
        emitted: emitted(),
        received: await clients.count(),
        cpu: process.cpuUsage(),
      };
      const t0 = performance.now();
      await sleep(SECONDS * 1000);
      const seconds = (performance.now() - t0) / 1000;
      const received = await clients.count();
      const cpu = process.cpuUsage(before.cpu);
      const delivered = Object.fromEntries(
        Object.entries(received.messages).map(([kind, n]) => [kind, n - (before.received.messages[kind] ?? 0)]),
      );
      return {
        name,
        subscriptions,
        seconds,
        requests: total() - before.all,
        events: total('/events') - before.events,
        status: total('/status') - before.status,
        emitted: emitted() - before.emitted,
        delivered,
        errors: received.errors,
        cpuPercent: ((cpu.user + cpu.system) / 1e6 / seconds) * 100,
      };
    };

    await open([subscriber(0)]);
    const one = await window('1 subscriber (engineStatus)', 1);
    const opened = await open(Array.from({ length: SUBSCRIBERS - 1 }, (_, i) => subscriber(i + 1)));
    const many = await window(`${SUBSCRIBERS} subscribers (engineStatus, asRun, channelEvents)`, SUBSCRIBERS);
    const engineReaders = Array.from({ length: ENGINE_READERS }, (_, i) => ({
      token: tokens[SUBSCRIBERS + i],
      subscriptions: [
        { kind: 'asRun with Channel.engine', query: AS_RUN_WITH_ENGINE, variables: { id: channelIds[i % CHANNELS] } },
      ],
    }));
    const results = [one, many];
    if (ENGINE_READERS > 0) {
      await open(engineReaders);
      results.push(
        await window(`${SUBSCRIBERS} + ${ENGINE_READERS} asRun selecting Channel.engine`, SUBSCRIBERS + ENGINE_READERS),
      );
    }

    const perSecond = (n: number, s: number) => (n / s).toFixed(1);
    const kinds = ['engineStatus', 'asRun', 'channelEvents', 'asRun with Channel.engine'];
    say(
      `\n${formatRows([
        [
          'window',
          'sidecar req/s',
          '/events',
          '/status',
          'items on air/s',
          'req per item',
          'delivered/s',
          'engineStatus',
          'asRun',
          'channelEvents',
          'asRun+engine',
          'server CPU',
        ],
        ...results.map((r) => [
          r.name,
          perSecond(r.requests, r.seconds),
          String(r.events),
          String(r.status),
          perSecond(r.emitted, r.seconds),
          (r.requests / Math.max(1, r.emitted)).toFixed(2),
          perSecond(
            Object.values(r.delivered).reduce((a, b) => a + b, 0),
            r.seconds,
          ),
          ...kinds.map((k) => String(r.delivered[k] ?? 0)),
          `${r.cpuPercent.toFixed(0)}%`,
        ]),
      ])}`,
    );
    const ratio = many.requests / many.seconds / (one.requests / one.seconds);
    const perItem = (r: typeof one) => r.requests / Math.max(1, r.emitted);
    const perItemRatio = perItem(many) / perItem(one);
    say(
      `\nsidecar requests, ${SUBSCRIBERS} subscribers / 1: per second ${ratio.toFixed(3)}, per item put on air ${perItemRatio.toFixed(3)};` +
        ` target equal (within ${TOLERANCE * 100}%, per item): ${verdict(perItemRatio)}`,
    );
    say(
      `connect and subscribe of ${opened.connections} connections: ${(opened.ms / 1000).toFixed(2)} s; server CPU: this process (server, workers and` +
        ` stand-in sidecars), 100% = one core. /status requests come only from Channel.engine, which asks the sidecar` +
        ` (once per event per group of subscribers sharing its execution).`,
    );
    const errors = results.flatMap((r) => r.errors);
    for (const error of new Set(errors)) say(`client error: ${error}`);
    const starved = results.some((r) => (r.delivered.engineStatus ?? 0) === 0);
    if (errors.length || starved) process.exitCode = 1;
  } finally {
    clients.child.disconnect();
    for (const sidecar of sidecars) sidecar.close();
    await workers.close();
    await app.close();
    await services.queues.control.obliterate({ force: true }).catch(() => {});
    await services.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
