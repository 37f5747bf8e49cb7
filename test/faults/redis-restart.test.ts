import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';
import { createCast, startTestServer, type Cast, type TestServer } from '../helpers/server.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { until } from '../helpers/until.ts';
import { makeMediaDir } from '../sidecar/helpers.ts';
import {
  alive,
  channelWithClips,
  expectAsRunIntact,
  expectSidecarLogRecorded,
  FAULT_ENV,
  report,
  sidecarStatus,
  startPlaying,
  watchChannel,
} from './helpers.ts';

// Redis restarted (without persistence, as the development machines run it)
// under a running onair with a channel on air: its own redis-server on a free
// port, never the shared one, down for longer than the event readers' leases
// and the heartbeat timeout. The channel stays on air (its sidecar needs no
// Redis) and is not failed over; the readers take their leases again, so
// heartbeats, engine status and the as-run log flow again, every item the
// sidecar aired recorded once; the control loop ticks again and
// channelEvents subscribers hear events again, without a restart of onair.
const SRT_PORT = testPort();
const HEARTBEAT_TIMEOUT_MS = Number(FAULT_ENV.HEARTBEAT_TIMEOUT_MS);
let redis: ChildProcess | undefined;
let port: number;
let server: TestServer;
let cast: Cast;
let workers: Workers;
let volume: string;
let receiver: { close(): void } | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address() as { port: number };
      probe.close(() => resolve(p));
    });
  });
}

async function startRedis(): Promise<ChildProcess> {
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const probe = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  probe.on('error', () => {});
  await until(
    async () =>
      (await probe.connect().then(
        () => probe.ping(),
        () => null,
      )) === 'PONG',
    'redis-server answering',
    30_000,
    100,
  );
  probe.disconnect();
  return proc;
}

beforeAll(async () => {
  port = await freePort();
  redis = await startRedis();
  volume = await makeMediaDir({ 'a.mp4': 3, 'b.mp4': 3 });
  server = await startTestServer({
    ...FAULT_ENV,
    REDIS_URL: `redis://127.0.0.1:${port}`,
    MEDIA_VOLUME_DIR: volume,
    SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
    SIDECAR_PORT_COUNT: '20',
    RECONCILE_INTERVAL_MS: '600000',
  });
  cast = await createCast(server.services);
  workers = await startWorkers(server.services);
  receiver = srtReceiver(SRT_PORT);
}, 60_000);

afterAll(async () => {
  receiver?.close();
  await workers?.close();
  await server?.close();
  redis?.kill('SIGKILL');
  if (volume) await rm(volume, { recursive: true, force: true });
});

describe('Redis restarted under a running onair, a channel on air', () => {
  it('the channel stays on air and is not failed over; status, heartbeats and as-run flow again; ticks and subscribers resume; nothing left behind', async () => {
    const { db } = server.services;
    const node = await db.clusterNode.create({ data: { hostname: `redis-fault-${port}`, labels: [] } });
    const seenAt = async () =>
      (await db.clusterNode.findUniqueOrThrow({ where: { id: node.id } })).lastSeenAt?.getTime() ?? 0;
    await until(async () => (await seenAt()) > 0, 'node health ticking');
    const { channel, playlist } = await channelWithClips(server.services, cast, SRT_PORT, [
      ['a.mp4', 3000],
      ['b.mp4', 3000],
    ]);
    const watch = await watchChannel(server.url, cast.viewer.token, server.services, channel.id, cast.home.id);
    try {
      await startPlaying(server.gql, cast, server.services, channel.id, playlist.id);
      await until(
        () => db.asRunEntry.count({ where: { channelId: channel.id } }).then((n) => n >= 1),
        'the first item recorded',
        60_000,
      );
      const sidecarPid = Number((await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).sidecarRef);

      const killedAt = Date.now();
      redis!.kill('SIGKILL');
      await new Promise<void>((resolve) => redis!.once('exit', () => resolve()));
      // Down for longer than the heartbeat timeout: silence caused by Redis must not read as a lost sidecar.
      await sleep(HEARTBEAT_TIMEOUT_MS + 1000);
      const entriesBefore = await db.asRunEntry.count({ where: { channelId: channel.id } });
      const restartedAt = Date.now();
      redis = await startRedis();

      // Node health writes lastSeenAt at every tick: the ticks are back.
      const tickedAt = await until(
        async () => ((await seenAt()) > restartedAt ? Date.now() : null),
        'a control loop tick after the restart',
        30_000,
      );
      // An event published after the restart (as every mutation and reader publishes) reaches the subscriber
      // that was connected before it. Probed first, so that its time is the event bus's, not the as-run waits'.
      const heardAt = await until(
        async () => {
          await server.services.pubsub.publish('channelEvents', {
            kind: 'UPDATED',
            channelId: channel.id,
            projectId: cast.home.id,
            at: new Date().toISOString(),
            message: 'after the restart',
          });
          return watch.seen.find((e) => e.message === 'after the restart')?.receivedAt;
        },
        'an event heard after the restart',
        30_000,
        500,
      );
      // The event reader is back: a heartbeat, and the items aired meanwhile recorded (two 3 s clips, looping).
      const beatAt = await until(
        async () =>
          ((await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).lastHeartbeatAt?.getTime() ?? 0) >
          restartedAt
            ? Date.now()
            : null,
        'a heartbeat after the restart',
        30_000,
      );
      await until(
        () => db.asRunEntry.count({ where: { channelId: channel.id } }).then((n) => n > entriesBefore + 1),
        'items aired after the restart recorded',
        30_000,
      );
      // The engine status the API serves is the sidecar's, playing. (ENGINE_BEHIND on a busy machine is the sidecar's matter.)
      const status = await server.gql(
        cast.viewer.token,
        `query($id: ID!) { channel(id: $id) { status restartCount errorMessage alarms { kind } engine { reachable state } } }`,
        { id: channel.id },
      );
      expect(status.errors).toBeUndefined();
      expect(status.data.channel).toMatchObject({
        status: 'RUNNING',
        restartCount: 0,
        errorMessage: null,
        engine: { reachable: true, state: 'PLAYING' },
      });
      expect(status.data.channel.alarms.filter((a: { kind: string }) => a.kind !== 'ENGINE_BEHIND')).toEqual([]);
      expect((await sidecarStatus(server.services, channel.id)).state).toBe('PLAYING');
      // Let a few more control ticks pass: the heartbeat check must not fail the channel over now.
      await sleep(2000);
      const row = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
      expect(row).toMatchObject({ status: 'RUNNING', restartCount: 0, sidecarRef: String(sidecarPid) });
      expect(
        watch.seen.filter((e) => ['HEARTBEAT_LOST', 'FAILOVER'].includes(e.kind) || e.alarm === 'SIDECAR_UNREACHABLE'),
      ).toEqual([]);
      expect(await expectSidecarLogRecorded(server.services, channel.id)).toBeGreaterThan(2);
      report(
        'Redis restarted (no persistence), down 4 s',
        0,
        null,
        `nothing to tell: on air throughout, no failover; control loop ticking again after ${((tickedAt - restartedAt) / 1000).toFixed(2)} s, heartbeats after ${((beatAt - restartedAt) / 1000).toFixed(2)} s, subscribers hearing events after ${((heardAt - restartedAt) / 1000).toFixed(2)} s (Redis down ${((restartedAt - killedAt) / 1000).toFixed(1)} s)`,
      );

      expect(
        (await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channel.id}") { status } }`)).data
          .stopChannel.status,
      ).toBe('STOPPED');
      await expectAsRunIntact(server.services, channel.id);
      await until(() => !alive(sidecarPid), 'no sidecar process left');
    } finally {
      await watch.close();
    }
  }, 180_000);
});
