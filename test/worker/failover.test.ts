import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarSecretOf } from '../../src/domain/channels/channel-lifecycle.ts';
import { EngineSnapshots } from '../../src/domain/channels/engine-status.ts';
import type { ChannelEventMessage } from '../../src/services/pubsub.ts';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { makeMediaDir } from '../sidecar/helpers.ts';
import { useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';

// A killed sidecar on one machine: real sidecars (local orchestrator, ffmpeg
// engine) playing to an SRT receiver, the worker's control loop and event
// readers running as in production, with a short heartbeat timeout and tick.
const HEARTBEAT_TIMEOUT_MS = 3000;
const CONTROL_TICK_MS = 500;
let volume: string;
beforeAll(async () => {
  volume = await makeMediaDir({ 'one.mp4': 4, 'two.mp4': 20, 'three.mp4': 4 });
});
afterAll(async () => {
  if (volume) await rm(volume, { recursive: true, force: true });
});
const { server, cast } = useTestServer(() => ({
  MEDIA_VOLUME_DIR: volume,
  SIDECAR_ENGINE: 'ffmpeg',
  SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
  SIDECAR_PORT_COUNT: '20',
  HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS),
  CONTROL_TICK_MS: String(CONTROL_TICK_MS),
  // Reconciliation would see the dead process first; this test is about the heartbeat.
  RECONCILE_INTERVAL_MS: '600000',
}));
let workers: Workers;
let receiver: { close(): void } | undefined;
const SRT_PORT = testPort();
const events: ChannelEventMessage[] = [];
let subscription: AsyncGenerator<ChannelEventMessage> & { return(): Promise<unknown> };
let listening: Promise<void>;

beforeAll(async () => {
  subscription = server.services.pubsub.subscribe('channelEvents') as never;
  listening = (async () => {
    for await (const e of subscription) events.push(e);
  })();
  workers = await startWorkers(server.services);
  receiver = srtReceiver(SRT_PORT);
}, 60_000);

afterAll(async () => {
  receiver?.close();
  await subscription?.return();
  await listening;
  await workers?.close();
});

/** A channel with a playlist of staged clips (4 s, 20 s, 4 s), placed on node `nodeId`. */
async function channelWithPlaylist(nodeId: string) {
  const { db } = server.services;
  const channel = await db.channel.create({
    data: {
      name: 'failover',
      projectId: cast.home.id,
      nodeId,
      outputType: 'SRT',
      output: { url: `srt://127.0.0.1:${SRT_PORT}`, latencyMs: null, passphraseSet: false },
      videoFormat: '720p5000',
    },
  });
  const playlist = await db.playlist.create({ data: { channelId: channel.id, name: 'three' } });
  const items = [];
  for (const [position, [file, ms]] of (
    [
      ['one.mp4', 4000],
      ['two.mp4', 20_000],
      ['three.mp4', 4000],
    ] as const
  ).entries()) {
    const asset = await db.asset.create({
      data: {
        projectId: cast.home.id,
        filename: file,
        storageKey: file,
        durationMs: ms,
        mediaStatus: 'READY',
        mediaPath: `clips/${file}`,
      },
    });
    items.push(await db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position } }));
  }
  return { channel, playlist, items };
}

const statusOf = async (channelId: string) => {
  const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
  const secret = sidecarSecretOf(server.services.config.secretKey, row)!;
  return server.services.sidecars.status({ url: row.sidecarUrl!, secret });
};

describe('failover of a killed sidecar', () => {
  it('puts the channel back on air on its node, resuming the item that was on air where the schedule has reached', async () => {
    const { db } = server.services;
    const nodeA = await db.clusterNode.create({ data: { hostname: 'playout-a', labels: ['srt'] } });
    await db.clusterNode.create({ data: { hostname: 'playout-b', labels: ['srt'] } });
    const { channel, playlist, items } = await channelWithPlaylist(nodeA.id);
    const gql = async (query: string) => {
      const res = await server.gql(cast.operator.token, query);
      expect(res.errors).toBeUndefined();
      return res.data;
    };
    expect((await gql(`mutation { startChannel(id: "${channel.id}") { status } }`)).startChannel.status).toBe(
      'RUNNING',
    );
    await gql(`mutation { play(channelId: "${channel.id}", playlistId: "${playlist.id}") { state } }`);
    await until(async () => (await statusOf(channel.id)).current?.itemId === items[0].id, 'the first item on air');
    await gql(`mutation { skip(channelId: "${channel.id}") { state } }`);
    // The event reader has recorded the second item on air (its as-run row is open).
    const onAir = await until(
      () => db.asRunEntry.findFirst({ where: { channelId: channel.id, itemId: items[1].id, endedAt: null } }),
      'the as-run row of the second item',
    );
    await new Promise((r) => setTimeout(r, 1000));

    const lost = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    const killedAt = Date.now();
    const seen = events.length;
    process.kill(Number(lost.sidecarRef), 'SIGKILL');

    const back = await until(async () => {
      const row = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
      return row.status === 'RUNNING' && row.restartCount === 1 ? row : null;
    }, 'the channel back on air');
    expect(back).toMatchObject({ nodeId: nodeA.id, restartCount: 1, errorMessage: null });
    expect(back.sidecarRef).not.toBe(lost.sidecarRef);
    // Detected once the heartbeat was HEARTBEAT_TIMEOUT_MS old (the last one came at or after the one read
    // before the kill), within a tick (plus the reader's heartbeat period and scheduling slack on a loaded machine).
    const lostEvent = await until(
      () => events.find((e) => e.channelId === channel.id && e.kind === 'HEARTBEAT_LOST'),
      'HEARTBEAT_LOST',
    );
    expect(Date.parse(lostEvent.at)).toBeGreaterThanOrEqual(lost.lastHeartbeatAt!.getTime() + HEARTBEAT_TIMEOUT_MS);
    expect(Date.parse(lostEvent.at) - killedAt).toBeLessThan(HEARTBEAT_TIMEOUT_MS + CONTROL_TICK_MS + 2500);
    // Back on air once its new sidecar process answers (a second or so here), not at the next reconciliation.
    expect(back.lastRestartAt!.getTime() - killedAt).toBeLessThan(HEARTBEAT_TIMEOUT_MS + CONTROL_TICK_MS + 5000);

    // The new sidecar plays the same playlist from the second item, joined in progress.
    const status = await until(async () => {
      const s = await statusOf(channel.id);
      return s.state === 'PLAYING' && s.current ? s : null;
    }, 'the new sidecar playing');
    expect(status).toMatchObject({ playlistId: playlist.id, current: { itemId: items[1].id } });
    const expectedMs = Date.now() - onAir.startedAt.getTime();
    // Not from the item's start, nor from where the kill left it: where the wall clock has it now.
    expect(status.current!.positionMs).toBeGreaterThan(killedAt - onAir.startedAt.getTime());
    expect(Math.abs(status.current!.positionMs - expectedMs)).toBeLessThan(2000);

    const failover = await until(
      () => events.find((e) => e.channelId === channel.id && e.kind === 'FAILOVER'),
      'FAILOVER',
    );
    expect(failover.message).toMatch(
      new RegExp(
        `^restarted on node playout-a; resumed playlist ${playlist.id} at item ${items[1].id}, \\d+\\.\\d s in$`,
      ),
    );
    // The lifecycle's events (SIDECAR_UNREACHABLE's raise and clear come between them: test/faults/sidecar-kill.test.ts).
    const lifecycle = (e: ChannelEventMessage) => e.channelId === channel.id && !e.kind.startsWith('ALARM_');
    expect(
      events
        .slice(seen)
        .filter(lifecycle)
        .map((e) => [e.kind, e.message]),
    ).toEqual([
      ['HEARTBEAT_LOST', 'no heartbeat from its sidecar for 3 s on node playout-a'],
      ['STATUS_CHANGED', 'failing over'],
      ['STATUS_CHANGED', null],
      ['FAILOVER', failover.message],
    ]);
    expect(
      events
        .filter(lifecycle)
        .map((e) => e.kind)
        .slice(-4),
    ).toEqual(['HEARTBEAT_LOST', 'STATUS_CHANGED', 'STATUS_CHANGED', 'FAILOVER']);

    // The lost sidecar's row closed TRUNCATED at its last heartbeat, not when the loss was noticed (a heartbeat
    // answered just before the kill may be stamped a little after it on a loaded machine, never that late);
    // the resumed item has a row of its own.
    const closed = await db.asRunEntry.findUniqueOrThrow({ where: { id: onAir.id } });
    expect(closed.status).toBe('TRUNCATED');
    expect(closed.endedAt!.getTime()).toBeGreaterThanOrEqual(lost.lastHeartbeatAt!.getTime());
    expect(closed.endedAt!.getTime()).toBeLessThan(Date.parse(lostEvent.at) - HEARTBEAT_TIMEOUT_MS);
    expect(closed.durationMs).toBe(closed.endedAt!.getTime() - closed.startedAt.getTime());
    await until(
      () =>
        db.asRunEntry.findFirst({
          where: { channelId: channel.id, itemId: items[1].id, endedAt: null, id: { not: onAir.id } },
        }),
      'the resumed item recorded on air',
    );
    await gql(`mutation { stopChannel(id: "${channel.id}") { status } }`);
  }, 60_000);

  it('brings a paused channel back paused, at the position it was paused at', async () => {
    const { db } = server.services;
    const node = await db.clusterNode.create({ data: { hostname: 'playout-c', labels: ['srt'] } });
    const { channel, playlist, items } = await channelWithPlaylist(node.id);
    const gql = async (query: string) => {
      const res = await server.gql(cast.operator.token, query);
      expect(res.errors).toBeUndefined();
      return res.data;
    };
    await gql(`mutation { startChannel(id: "${channel.id}") { status } }`);
    await gql(`mutation { play(channelId: "${channel.id}", playlistId: "${playlist.id}") { state } }`);
    await until(async () => (await statusOf(channel.id)).current?.itemId === items[0].id, 'the first item on air');
    await gql(`mutation { skip(channelId: "${channel.id}") { state } }`);
    // The second item on air, and a moment into it.
    await until(async () => {
      const s = await statusOf(channel.id);
      return s.current?.itemId === items[1].id && s.current.positionMs >= 500;
    }, 'the second item on air');
    await gql(`mutation { pause(channelId: "${channel.id}") { state } }`);
    // The position it paused at, from the sidecar once it says PAUSED with the item on air. Once, in CI under
    // load, the read right after the pause found no item on air; why is not known (see the session's note).
    const pausedAt = (
      await until(async () => {
        const s = await statusOf(channel.id).catch(() => null);
        return s?.state === 'PAUSED' && s.current ? s.current : null;
      }, 'the sidecar paused on the second item')
    ).positionMs;
    // The event reader has seen the pause (the engine snapshot says PAUSED).
    const snapshots = new EngineSnapshots(server.services.redis, server.services.config.queuePrefix);
    await until(async () => (await snapshots.load(channel.id))?.state === 'PAUSED', 'the paused snapshot');

    const lost = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    process.kill(Number(lost.sidecarRef), 'SIGKILL');
    await until(
      async () => (await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).restartCount === 1,
      'the restart',
    );
    const status = await until(async () => {
      const s = await statusOf(channel.id).catch(() => null);
      return s?.state === 'PAUSED' ? s : null;
    }, 'the new sidecar paused');
    expect(status).toMatchObject({ playlistId: playlist.id, current: { itemId: items[1].id } });
    // A paused schedule does not move on: the same frame, give or take the moment before the pause took hold.
    expect(Math.abs(status.current!.positionMs - pausedAt)).toBeLessThan(500);
    const failover = await until(
      () => events.find((e) => e.channelId === channel.id && e.kind === 'FAILOVER'),
      'FAILOVER',
    );
    expect(failover.message).toMatch(/, paused$/);
    await gql(`mutation { stopChannel(id: "${channel.id}") { status } }`);
  }, 60_000);
});
