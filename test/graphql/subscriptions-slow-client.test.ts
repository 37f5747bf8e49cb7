import { expect, it } from 'vitest';
import WebSocket from 'ws';
import { engineState, toWire } from '../../src/domain/channels/engine-status.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { wsUrlOf } from '../helpers/ws.ts';

// A client that stops reading must not hold the server's memory for ever, nor
// slow the others: once WS_MAX_BUFFERED_BYTES wait for it, it is disconnected.
const { server, cast } = useTestServer({ WS_MAX_BUFFERED_BYTES: '65536' });

const ENGINE = `subscription ($id: ID!) { engineStatus(channelId: $id) { state current { clipName } } }`;

/** A raw graphql-transport-ws subscriber, so that the test can stop it reading. */
function subscriber(token: string, channelId: string) {
  const socket = new WebSocket(wsUrlOf(server.url), 'graphql-transport-ws');
  const clips: number[] = [];
  const waiters: { count: number; resolve(): void }[] = [];
  let closeCode: number | null = null;
  let ready = false;
  socket.on('open', () =>
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
  );
  socket.on('message', (raw) => {
    const message = JSON.parse(String(raw));
    if (message.type === 'connection_ack')
      socket.send(
        JSON.stringify({ id: 's', type: 'subscribe', payload: { query: ENGINE, variables: { id: channelId } } }),
      );
    if (message.type !== 'next') return;
    ready = true;
    const clip: string | undefined = message.payload.data.engineStatus.current?.clipName;
    if (clip) clips.push(Number(clip.split(':')[0]));
    for (const w of waiters.filter((w) => clips.length >= w.count)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  socket.on('close', (code) => (closeCode = code));
  return {
    socket,
    clips,
    /** Resolves once `count` clips have arrived. */
    received: (count: number) =>
      clips.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve })),
    get ready() {
      return ready;
    },
    get closeCode() {
      return closeCode;
    },
  };
}

function publish(channelId: string, projectId: string, index: number, filler: string) {
  const at = new Date(Date.now() + index);
  const status = toWire({
    ...engineState(channelId, null, at),
    reachable: true,
    state: 'PLAYING',
    loop: false,
    current: {
      itemId: crypto.randomUUID(),
      clipName: `${index}:${filler}`,
      startedAt: at,
      positionMs: 0,
      durationMs: 10_000,
    },
  });
  return server.services.pubsub.publish('engineStatus', channelId, { projectId, status });
}

it('disconnects (1013) a client that stopped reading, while one that reads gets every message', async () => {
  const channel = await insertChannel(server.services, cast.home.id);
  const stalled = subscriber(cast.viewer.token, channel.id);
  const reading = subscriber(cast.viewer.token, channel.id);
  await until(() => stalled.ready && reading.ready, 'both subscribers to get the current state');
  stalled.socket.pause();

  // 8 KB messages, four at a time, each batch read by the reading client before
  // the next: it never has more than 32 KB waiting. The stalled one's kernel
  // buffers fill after some megabytes; then the server's own buffer grows.
  const filler = 'x'.repeat(8_000);
  const serverSockets = () => [...server.app.websocket.server.clients];
  let sent = 0;
  while (sent < 4000 && !serverSockets().some((s) => s.readyState === WebSocket.CLOSING)) {
    for (let i = 0; i < 4; i++) await publish(channel.id, cast.home.id, sent++, filler);
    await reading.received(sent);
  }
  expect(serverSockets().filter((s) => s.readyState === WebSocket.CLOSING)).toHaveLength(1);
  // The cut may have come with the last message of the batch: one more batch goes to the reader only.
  for (let i = 0; i < 4; i++) await publish(channel.id, cast.home.id, sent++, filler);
  await reading.received(sent);
  expect(reading.clips).toEqual([...Array(sent).keys()]);
  expect(reading.closeCode).toBeNull();

  stalled.socket.resume();
  await until(() => stalled.closeCode, 'the stalled client to be closed');
  expect(stalled.closeCode).toBe(1013);
  // What it got before the cut is in order, and not everything.
  expect(stalled.clips).toEqual([...Array(stalled.clips.length).keys()]);
  expect(stalled.clips.length).toBeLessThan(sent);
  expect(await (await fetch(new URL('/metrics', server.url))).text()).toMatch(/^onair_websocket_behind_total 1$/m);
  reading.socket.close();
});
