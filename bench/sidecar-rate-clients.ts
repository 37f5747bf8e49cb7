// The subscriber side of `npm run bench -- sidecar-rate`, in a process of its
// own (forked by bench/sidecar-rate.ts) so that its CPU is not the server's.
// Opens WebSocket connections speaking graphql-transport-ws, each with the
// subscriptions it is given, and counts the messages each kind of
// subscription receives.
import WebSocket from 'ws';

export interface SubscriptionSpec {
  /** What the counts are kept under (engineStatus, asRun, ...). */
  kind: string;
  query: string;
  variables: Record<string, unknown>;
}

export interface ConnectionSpec {
  token: string;
  subscriptions: SubscriptionSpec[];
}

/** Parent → clients. Counts are cumulative since the process started. */
export type RateClientsCommand = { kind: 'open'; url: string; connections: ConnectionSpec[] } | { kind: 'count' };

/** Clients → parent. */
export type RateClientsReply =
  | { kind: 'opened'; connections: number; ms: number }
  | { kind: 'count'; messages: Record<string, number>; errors: string[] }
  | { kind: 'failed'; error: string };

const messages: Record<string, number> = {};
const errors: string[] = [];
const sockets: WebSocket[] = [];
const noteError = (error: string) => {
  if (errors.length < 5) errors.push(error);
};

/** One connection: resolves once the server has acknowledged it and its subscriptions are sent. */
function open(url: string, spec: ConnectionSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    sockets.push(socket);
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${spec.token}` } })),
    );
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw));
      if (message.type === 'connection_ack') {
        spec.subscriptions.forEach((s, i) => {
          const payload = { query: s.query, variables: s.variables };
          socket.send(JSON.stringify({ id: String(i), type: 'subscribe', payload }));
        });
        resolve();
      } else if (message.type === 'next') {
        const kind = spec.subscriptions[Number(message.id)]?.kind ?? 'unknown';
        messages[kind] = (messages[kind] ?? 0) + 1;
        if (message.payload?.errors) noteError(JSON.stringify(message.payload.errors));
      } else if (message.type === 'error') {
        noteError(JSON.stringify(message.payload));
      }
    });
    socket.on('close', (code) => {
      noteError(`connection closed with ${code}`);
      reject(new Error(`connection closed with ${code}`));
    });
    socket.on('error', reject);
  });
}

async function openAll(url: string, connections: ConnectionSpec[]): Promise<RateClientsReply> {
  const started = performance.now();
  // In batches, as clients arrive in real life, not all in one instant.
  for (let i = 0; i < connections.length; i += 100)
    await Promise.all(connections.slice(i, i + 100).map((c) => open(url, c)));
  return { kind: 'opened', connections: connections.length, ms: performance.now() - started };
}

process.on('message', (command: RateClientsCommand) => {
  const reply: Promise<RateClientsReply> =
    command.kind === 'open'
      ? openAll(command.url, command.connections)
      : Promise.resolve({ kind: 'count', messages: { ...messages }, errors: [...errors] });
  reply.then(
    (answer) => process.send?.(answer),
    (err: unknown) => process.send?.({ kind: 'failed', error: String(err) } satisfies RateClientsReply),
  );
});
process.on('disconnect', () => {
  for (const socket of sockets) socket.terminate();
  process.exit(0);
});
