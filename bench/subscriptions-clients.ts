// The subscriber side of `npm run bench -- subscriptions`, in a process of its
// own (forked by bench/subscriptions.ts) so that its CPU is not the server's.
// Opens CONNECTIONS WebSockets speaking graphql-transport-ws, each with
// SUBSCRIPTIONS_PER_CONNECTION engineStatus subscriptions of one channel, and
// records, for every message, now − the publish time the bench wrote into the
// payload (current.clipName = "bench@<epoch ms>").
import WebSocket from 'ws';
import { percentile } from './load.ts';

export interface ClientsOptions {
  url: string;
  /** Replicas to spread the connections over (connection i to urls[i % n]); `url` alone when unset. */
  urls?: string[];
  /** Connection i uses token i (modulo their number). */
  tokens: string[];
  channelId: string;
  connections: number;
  subscriptionsPerConnection: number;
}

/** Parent → clients. A report covers the messages since the previous one. */
export type ClientsCommand =
  | { kind: 'start'; options: ClientsOptions }
  | { kind: 'report'; expected: number; timeoutMs: number };

/** Clients → parent. */
export type ClientsReply =
  | { kind: 'ready'; subscriptions: number; connectMs: number }
  | {
      kind: 'report';
      received: number;
      latencies: { p50: number; p99: number; max: number };
      errors: string[];
      cpuMicros: number;
    }
  | { kind: 'failed'; error: string };

const QUERY =
  'subscription ($id: ID!) { engineStatus(channelId: $id) { channelId reachable state current { clipName positionMs } updatedAt } }';
const now = () => performance.timeOrigin + performance.now();

const latencies: number[] = [];
/** This process's CPU since the last report (or since all were connected). */
let cpuMark = process.cpuUsage();
const errors: string[] = [];
const sockets: WebSocket[] = [];

/** One connection: resolves once each of its subscriptions has had its first message (the current state). */
function open(options: ClientsOptions, token: string, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    sockets.push(socket);
    let waiting = options.subscriptionsPerConnection;
    const started = new Set<string>();
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
    );
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw));
      if (message.type === 'connection_ack') {
        for (let i = 0; i < options.subscriptionsPerConnection; i++) {
          socket.send(
            JSON.stringify({
              id: String(i),
              type: 'subscribe',
              payload: { query: QUERY, variables: { id: options.channelId } },
            }),
          );
        }
      } else if (message.type === 'next') {
        const clip: string | undefined = message.payload?.data?.engineStatus?.current?.clipName;
        if (!started.has(message.id)) {
          started.add(message.id);
          if (--waiting === 0) resolve();
        } else if (clip?.startsWith('bench@')) {
          latencies.push(now() - Number(clip.slice(6)));
        }
        if (message.payload?.errors && errors.length < 5) errors.push(JSON.stringify(message.payload.errors));
      } else if (message.type === 'error' && errors.length < 5) {
        errors.push(JSON.stringify(message.payload));
      }
    });
    socket.on('close', (code) => reject(new Error(`connection closed with ${code}`)));
    socket.on('error', reject);
  });
}

async function start(options: ClientsOptions): Promise<ClientsReply> {
  const t0 = performance.now();
  const urls = options.urls ?? [options.url];
  // In batches, as clients arrive in real life, not all in one instant.
  for (let i = 0; i < options.connections; i += 100) {
    const batch = Array.from({ length: Math.min(100, options.connections - i) }, (_, j) =>
      open(options, options.tokens[(i + j) % options.tokens.length], urls[(i + j) % urls.length]),
    );
    await Promise.all(batch);
  }
  cpuMark = process.cpuUsage();
  return {
    kind: 'ready',
    subscriptions: options.connections * options.subscriptionsPerConnection,
    connectMs: performance.now() - t0,
  };
}

async function report(expected: number, timeoutMs: number): Promise<ClientsReply> {
  const deadline = Date.now() + timeoutMs;
  while (latencies.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const list = Float64Array.from(latencies).sort();
  const received = latencies.length;
  // Each report covers what came since the one before.
  latencies.length = 0;
  const used = process.cpuUsage(cpuMark);
  cpuMark = process.cpuUsage();
  return {
    kind: 'report',
    received,
    latencies: { p50: percentile(list, 50), p99: percentile(list, 99), max: list.at(-1) ?? NaN },
    errors,
    cpuMicros: used.user + used.system,
  };
}

process.on('message', (command: ClientsCommand) => {
  const reply = command.kind === 'start' ? start(command.options) : report(command.expected, command.timeoutMs);
  reply.then(
    (answer) => process.send?.(answer),
    (err: unknown) => process.send?.({ kind: 'failed', error: String(err) } satisfies ClientsReply),
  );
});
process.on('disconnect', () => {
  for (const socket of sockets) socket.terminate();
  process.exit(0);
});
