import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';
import { createCast, startTestServer, type Cast, type TestServer } from '../helpers/server.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { until } from '../helpers/until.ts';

// A program onair knows nothing of holds the port a channel's sidecar would get
// (local orchestrator, the real sidecar): the start moves to another free port,
// and the program is never asked anything but the health challenge.
const SRT_PORT = testPort();
const PORT_BASE = sidecarPortBase(20);

let server: TestServer;
let cast: Cast;
let holder: Server;
const sockets: Socket[] = [];
const received: string[] = [];
let receiver: { close(): void } | undefined;

beforeAll(async () => {
  server = await startTestServer({
    SIDECAR_PORT_BASE: String(PORT_BASE),
    SIDECAR_PORT_COUNT: '20',
    HEARTBEAT_TIMEOUT_MS: '600000',
    RECONCILE_INTERVAL_MS: '600000',
  });
  cast = await createCast(server.services);
  receiver = srtReceiver(SRT_PORT);
  // It answers like a sidecar that names no channel, and notes what it is sent.
  holder = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk) => {
      received.push(chunk.toString('utf8'));
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => holder.listen(PORT_BASE, '127.0.0.1', resolve));
});

afterAll(async () => {
  receiver?.close();
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => holder?.close(resolve));
  await server?.close();
});

describe('a sidecar port held by another program', () => {
  it('is skipped: the channel goes on air on the next free port, and the holder never gets the secret', async () => {
    const created = await server.gql(
      cast.editor.token,
      `mutation($i: CreateChannelInput!) { createChannel(input: $i) { id } }`,
      {
        i: {
          name: 'held',
          projectId: cast.home.id,
          output: { srt: { url: `srt://127.0.0.1:${SRT_PORT}` } },
          videoFormat: '576p2500',
        },
      },
    );
    const channelId = created.data.createChannel.id as string;
    const began = Date.now();
    const started = await server.gql(cast.operator.token, `mutation { startChannel(id: "${channelId}") { status } }`);
    expect(started.errors).toBeUndefined();
    expect(started.data.startChannel.status).toBe('RUNNING');
    console.log(`port-held: on air on another port ${((Date.now() - began) / 1000).toFixed(1)} s after startChannel`);

    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
    expect(row.sidecarPort).toBe(PORT_BASE + 1);
    const engine = await until(async () => {
      const res = await server.gql(cast.viewer.token, `{ channel(id: "${channelId}") { engine { reachable state } } }`);
      return res.data?.channel?.engine?.reachable ? res.data.channel.engine : null;
    }, 'the engine answering');
    expect(engine.state).toBe('IDLE');
    // The holder was only challenged: no bearer token, no playlist.
    expect(received.length).toBeGreaterThan(0);
    for (const request of received) {
      expect(request).toMatch(/^GET \/healthz\?nonce=[0-9a-f]{32} HTTP/);
      expect(request.toLowerCase()).not.toContain('authorization');
    }

    expect(
      (await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channelId}") { status } }`)).data
        .stopChannel.status,
    ).toBe('STOPPED');
    expect(await server.services.orchestrator.list(null)).toEqual([]);
    // The holder still holds its port.
    expect(holder.listening).toBe(true);
  }, 120_000);
});
