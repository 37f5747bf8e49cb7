import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineSnapshots } from '../../src/domain/channels/engine-status.ts';
import type { EventsPage, Status } from '../../src/protocol/sidecar-api.ts';
import { timeOrderedId } from '../../src/sidecar/event-log.ts';
import { HeartbeatWriter } from '../../src/worker/ingest/heartbeats.ts';
import { ChannelReader } from '../../src/worker/ingest/reader.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';

// The sidecar's counters (output reconnects, frames dropped) as an engineer reads
// them: per channel on /metrics, counted once, across a sidecar restart.
const { server } = useTestServer();

const SECRET = 'a-sidecar-secret-of-at-least-32-characters';

/** A sidecar stand-in whose event log is empty and whose status carries `counters` and `epoch` as set. */
async function countingSidecar(channelId: string) {
  const state = { epoch: timeOrderedId(), counters: { outputReconnects: 0, framesDropped: 0 } };
  const status = (): Status => ({
    channelId,
    engine: 'ffmpeg',
    state: 'PLAYING',
    playlistId: null,
    loop: false,
    current: null,
    next: null,
    epoch: state.epoch,
    lastSeq: 0,
    errors: [],
    counters: { ...state.counters },
  });
  const http: Server = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${SECRET}`) return void res.writeHead(401).end();
    if (req.url?.startsWith('/events')) {
      // A long poll that finds nothing answers after a while, as the real one after its wait.
      const page: EventsPage = { epoch: state.epoch, events: [], lastSeq: 0, status: status() };
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(page)), 25);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { state, http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

async function metricValue(name: string, channelId: string): Promise<number | null> {
  const text = await (await fetch(new URL('/metrics', server.url))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`channel="${channelId}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe("the sidecar's counters on /metrics", () => {
  it('counts what happened since the reader began, per channel, and goes on from zero after a sidecar restart', async () => {
    const channel = await insertChannel(server.services, null, { status: 'RUNNING', sidecarRef: 'ref-counting' });
    const sidecar = await countingSidecar(channel.id);
    // Totals from before the reader began (another worker counted them) are not counted again.
    sidecar.state.counters = { outputReconnects: 2, framesDropped: 40 };
    const heartbeats = new HeartbeatWriter(server.services.sql, server.services.log, 60_000);
    const reader = new ChannelReader(
      server.services,
      {
        id: channel.id,
        projectId: null,
        sidecarRef: 'ref-counting',
        target: { url: sidecar.url, secret: SECRET },
        epoch: null,
        seq: 0,
      },
      {
        waitMs: 25,
        retryMs: 50,
        snapshots: new EngineSnapshots(server.services.redis, server.services.config.queuePrefix),
        heartbeats,
      },
    );
    cleanups.push(async () => {
      await reader.stop();
      await heartbeats.close();
      await new Promise((resolve) => sidecar.http.close(resolve));
    });
    reader.start();
    const recorded = async () =>
      (await server.services.db.channel.findUniqueOrThrow({ where: { id: channel.id } })).sidecarEpoch;
    await until(async () => (await recorded()) === sidecar.state.epoch, 'the first page read', 10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await metricValue('onair_channel_frames_dropped_total', channel.id)).toBeNull();

    sidecar.state.counters = { outputReconnects: 3, framesDropped: 47 };
    await until(
      async () => (await metricValue('onair_channel_frames_dropped_total', channel.id)) === 7,
      '7 drops',
      10_000,
    );
    expect(await metricValue('onair_channel_output_reconnects_total', channel.id)).toBe(1);

    // A restarted sidecar counts from zero: its totals add to the channel's, the counter never goes down.
    sidecar.state.epoch = timeOrderedId();
    sidecar.state.counters = { outputReconnects: 1, framesDropped: 5 };
    await until(
      async () => (await metricValue('onair_channel_frames_dropped_total', channel.id)) === 12,
      '5 more drops from the new sidecar',
      10_000,
    );
    expect(await metricValue('onair_channel_output_reconnects_total', channel.id)).toBe(2);

    // Read again and again with no change, nothing more is counted.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await metricValue('onair_channel_frames_dropped_total', channel.id)).toBe(12);
  });
});
