import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
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
  startPlaying,
  watchChannel,
} from './helpers.ts';

// A worker process killed (SIGKILL) while it reads a playing channel's
// sidecar events: another worker takes the channel's lease over, the channel
// stays on air (no failover), and the as-run log has every item the sidecar
// put on air exactly once, including those that aired while no worker read.
const SRT_PORT = testPort();
let server: TestServer;
let cast: Cast;
let volume: string;
let receiver: { close(): void } | undefined;
let child: ChildProcess | undefined;
let workers: Workers | undefined;
let env: Record<string, string>;

beforeAll(async () => {
  volume = await makeMediaDir({ 'a.mp4': 4, 'b.mp4': 4 });
  env = {
    ...FAULT_ENV,
    MEDIA_VOLUME_DIR: volume,
    SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
    SIDECAR_PORT_COUNT: '20',
    RECONCILE_INTERVAL_MS: '600000',
  };
  server = await startTestServer(env);
  cast = await createCast(server.services);
  receiver = srtReceiver(SRT_PORT);
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  receiver?.close();
  await workers?.close();
  await server?.close();
  if (volume) await rm(volume, { recursive: true, force: true });
});

/** `npm run worker` as its own process, over this test's database, Redis prefix and volume; resolves once it runs. */
async function startWorkerProcess(): Promise<ChildProcess> {
  const { config } = server.services;
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      DATABASE_URL: config.databaseUrl,
      QUEUE_PREFIX: config.queuePrefix,
      ...env,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  proc.stdout!.on('data', (chunk: Buffer) => void (out = (out + chunk.toString()).slice(-10_000)));
  await until(
    () => out.includes('onair worker started') || proc.exitCode !== null,
    'the worker process started',
    150_000,
  );
  expect(proc.exitCode).toBeNull();
  return proc;
}

describe('a worker killed during playout', () => {
  it('another worker takes its channels over: on air throughout, every item the sidecar aired recorded once', async () => {
    const { db, redis, config } = server.services;
    child = await startWorkerProcess();
    const { channel, playlist } = await channelWithClips(server.services, cast, SRT_PORT, [
      ['a.mp4', 4000],
      ['b.mp4', 4000],
    ]);
    const watch = await watchChannel(server.url, cast.viewer.token, server.services, channel.id, cast.home.id);
    try {
      await startPlaying(server.gql, cast, server.services, channel.id, playlist.id);
      // The child reads the channel (its lease holds its pid), and has written some of the log.
      const leaseKey = `${config.queuePrefix}:ingest:${channel.id}`;
      await until(
        async () => (await redis.get(leaseKey))?.includes(`:${child!.pid}:`),
        "the worker process's lease",
        60_000,
      );
      await until(
        () => db.asRunEntry.count({ where: { channelId: channel.id } }).then((n) => n >= 1),
        'an entry written by the worker',
        60_000,
      );

      // The survivor (this process's workers) waits for the lease; the child dies without a word.
      workers = await startWorkers(server.services);
      const killedAt = Date.now();
      child.kill('SIGKILL');
      await until(() => child!.signalCode === 'SIGKILL', 'the worker gone');
      const takenAt = await until(async () => {
        const holder = await redis.get(leaseKey);
        return holder && !holder.includes(`:${child!.pid}:`) ? Date.now() : null;
      }, 'the lease taken over');
      // The survivor writes the heartbeat, and every event the sidecar logged, those of the gap included, once.
      await until(
        async () =>
          ((await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).lastHeartbeatAt?.getTime() ?? 0) >
          takenAt,
        'a heartbeat from the survivor',
        30_000,
      );
      expect(await expectSidecarLogRecorded(server.services, channel.id)).toBeGreaterThan(0);
      const row = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
      // Not failed over, the sidecar never seen unreachable. (Whether ffmpeg keeps up on a busy machine is the sidecar's matter.)
      expect(row).toMatchObject({ status: 'RUNNING', restartCount: 0 });
      expect(
        watch.seen.filter((e) => ['HEARTBEAT_LOST', 'FAILOVER'].includes(e.kind) || e.alarm === 'SIDECAR_UNREACHABLE'),
      ).toEqual([]);
      report(
        'worker SIGKILL',
        0,
        null,
        `nothing to tell: on air throughout; lease taken over after ${((takenAt - killedAt) / 1000).toFixed(2)} s`,
      );

      const sidecarPid = Number(row.sidecarRef);
      expect(
        (await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channel.id}") { status } }`)).data
          .stopChannel.status,
      ).toBe('STOPPED');
      await expectAsRunIntact(server.services, channel.id);
      await until(() => !alive(sidecarPid), 'no sidecar process left');
    } finally {
      await watch.close();
    }
  }, 360_000);
});
