import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { wsUrlOf } from '../helpers/ws.ts';

// One token could hold any number of WebSocket connections and one connection
// any number of operations; an armor rejection closed the whole connection.

const { server, cast } = useTestServer({ WS_MAX_CONNECTIONS_PER_TOKEN: '3', WS_MAX_OPERATIONS_PER_CONNECTION: '3' });
const sockets: WebSocket[] = [];

afterAll(async () => {
  for (const socket of sockets) socket.terminate();
});

interface Raw {
  socket: WebSocket;
  messages: { id?: string; type: string; payload?: any }[];
  closed: { code: number; reason: string } | null;
  send(message: unknown): void;
  waitFor(match: (m: Raw['messages'][number]) => boolean, what: string): Promise<Raw['messages'][number]>;
}

/** A graphql-transport-ws connection spoken by hand, so the test sees every message and the close. */
async function connect(token: string): Promise<Raw> {
  const socket = new WebSocket(wsUrlOf(server.url), 'graphql-transport-ws');
  sockets.push(socket);
  const raw: Raw = {
    socket,
    messages: [],
    closed: null,
    send: (message) => socket.send(JSON.stringify(message)),
    waitFor: (match, what) => until(() => raw.messages.find(match), what, 10_000),
  };
  socket.on('message', (data) => raw.messages.push(JSON.parse(String(data))));
  socket.on('close', (code, reason) => void (raw.closed = { code, reason: String(reason) }));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  raw.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
  await until(
    () => raw.closed || raw.messages.some((m) => m.type === 'connection_ack'),
    'the connection to be acknowledged or closed',
    10_000,
  );
  return raw;
}

describe('WebSocket limits', () => {
  it('refuses a token its connection over WS_MAX_CONNECTIONS_PER_TOKEN with 4429, and takes one again once another closes', async () => {
    const open = [await connect(cast.viewer.token), await connect(cast.viewer.token), await connect(cast.viewer.token)];
    for (const c of open) expect(c.closed).toBeNull();
    const fourth = await connect(cast.viewer.token);
    expect(fourth.closed).toEqual({ code: 4429, reason: 'Too many connections for this token (at most 3)' });
    // Another token is counted apart.
    const other = await connect(cast.operator.token);
    expect(other.closed).toBeNull();
    open[0].socket.close();
    await until(() => open[0].closed, 'the first connection to close');
    await until(async () => {
      const again = await connect(cast.viewer.token);
      return again.closed === null;
    }, 'a connection to be taken again');
    for (const c of [...open, other]) c.socket.close();
  });

  it('answers an operation over WS_MAX_OPERATIONS_PER_CONNECTION with an error message, and keeps the connection', async () => {
    const c = await connect(cast.editor.token);
    for (const id of ['1', '2', '3'])
      c.send({ id, type: 'subscribe', payload: { query: 'subscription { channelEvents { kind } }' } });
    c.send({ id: '4', type: 'subscribe', payload: { query: 'subscription { channelEvents { kind } }' } });
    const refused = await c.waitFor((m) => m.id === '4', 'an answer to the fourth operation');
    expect(refused.type).toBe('error');
    expect(refused.payload[0]).toMatchObject({
      message: 'too many operations open on this connection (at most 3): complete some first',
      extensions: { code: 'BAD_USER_INPUT', maxOperations: 3 },
    });
    expect(c.closed).toBeNull();
    // Completing one makes room.
    c.send({ id: '1', type: 'complete' });
    c.send({ id: '5', type: 'subscribe', payload: { query: '{ me { id } }' } });
    const answered = await c.waitFor((m) => m.id === '5' && m.type === 'next', 'the fifth operation to be answered');
    expect(answered.payload.data.me.id).toBe(cast.editor.userId);
    c.socket.close();
  });

  it('answers armor and cost rejections as error messages of their operation; the connection stays open', async () => {
    const c = await connect(cast.admin.token);
    const aliases = Array.from({ length: 30 }, (_, i) => `a${i}: me { id }`).join(' ');
    c.send({ id: 'aliases', type: 'subscribe', payload: { query: `{ ${aliases} }` } });
    const tooMany = await c.waitFor((m) => m.id === 'aliases', 'the aliases rejection');
    expect(tooMany.type).toBe('error');
    expect(tooMany.payload[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const tokens = Array.from({ length: 3000 }, () => '__typename').join(' ');
    c.send({ id: 'tokens', type: 'subscribe', payload: { query: `{ ${tokens} }` } });
    const tooLong = await c.waitFor((m) => m.id === 'tokens', 'the token limit rejection');
    expect(tooLong.type).toBe('error');

    c.send({
      id: 'cost',
      type: 'subscribe',
      payload: { query: '{ channels { playlists { items { playlist { items { id } } } } } }' },
    });
    const costly = await c.waitFor((m) => m.id === 'cost', 'the cost rejection');
    expect(costly).toMatchObject({
      type: 'error',
      payload: [{ extensions: { code: 'GRAPHQL_VALIDATION_FAILED', maxCost: 50_000 } }],
    });

    expect(c.closed).toBeNull();
    c.send({ id: 'after', type: 'subscribe', payload: { query: '{ me { isAdmin } }' } });
    const after = await c.waitFor((m) => m.id === 'after' && m.type === 'next', 'an operation after the rejections');
    expect(after.payload.data.me.isAdmin).toBe(true);
    c.socket.close();
  });
});
