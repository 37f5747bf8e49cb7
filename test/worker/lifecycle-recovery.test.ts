import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarInheritedEnv } from '../../src/config.ts';
import { startChannelSidecar } from '../../src/domain/channels/channel-lifecycle.ts';
import { failOver } from '../../src/domain/channels/failover.ts';
import { LocalOrchestrator } from '../../src/services/orchestrator/local.ts';
import type { Orchestrator } from '../../src/services/orchestrator/orchestrator.ts';
import type { ChannelEventMessage } from '../../src/services/pubsub.ts';
import { failOverSilentChannels } from '../../src/worker/heartbeat-timeouts.ts';
import { reconcile } from '../../src/worker/reconcile.ts';
import { insertChannel, sidecarPortBase } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';

// Channels a crashed process left STARTING or STOPPING, and sidecars that die
// at every start: real PostgreSQL, Redis and real local sidecars.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'onair-lifecycle-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});
const { server, cast } = useTestServer(() => ({
  MEDIA_VOLUME_DIR: tmp,
  SIDECAR_PORT_BASE: String(sidecarPortBase(40)),
  SIDECAR_PORT_COUNT: '40',
  FAILOVER_MAX_RESTARTS: '2',
  FAILOVER_WINDOW_MS: String(10 * MINUTE),
}));
const events: ChannelEventMessage[] = [];
let subscription: AsyncGenerator<ChannelEventMessage> & { return(): Promise<unknown> };
let listening: Promise<void>;

const START = `mutation($id: ID!) { startChannel(id: $id) { id status errorMessage } }`;
const STOP = `mutation($id: ID!) { stopChannel(id: $id) { id status errorMessage } }`;
/** A pid no process has (above the usual pid_max). */
const DEAD_PID = '2147483000';
const MINUTE = 60_000;

beforeAll(async () => {
  subscription = server.services.pubsub.subscribe('channelEvents') as never;
  listening = (async () => {
    for await (const e of subscription) events.push(e);
  })();
});
afterAll(async () => {
  await subscription?.return();
  await listening;
});

const srtChannel = (extra: Parameters<typeof insertChannel>[2] = {}) =>
  insertChannel(server.services, cast.home.id, {
    outputType: 'SRT',
    output: { url: 'srt://127.0.0.1:9', latencyMs: null, passphraseSet: false },
    videoFormat: '720p5000',
    ...extra,
  });

const channelRow = (id: string) => server.services.db.channel.findUniqueOrThrow({ where: { id } });
const ago = (ms: number) => new Date(Date.now() - ms);

describe('a start or stop its process never finished', () => {
  it('a channel STARTING for longer than LIFECYCLE_STUCK_MS goes to ERROR; an operator can start it again', async () => {
    const stuck = await srtChannel({ status: 'STARTING', statusChangedAt: ago(10 * MINUTE), sidecarPort: 1 });
    expect(await server.gql(cast.operator.token, START, { id: stuck.id })).toMatchObject({
      errors: [{ extensions: { code: 'CONFLICT' } }],
    });

    const result = await reconcile(server.services);
    expect(result.interrupted).toBe(1);
    const row = await channelRow(stuck.id);
    expect(row).toMatchObject({ status: 'ERROR', sidecarRef: null, sidecarPort: null });
    expect(row.errorMessage).toMatch(/^start interrupted: STARTING for over 2 minutes .*; start it again$/);
    await until(
      () =>
        events.find((e) => e.channelId === stuck.id && e.kind === 'STATUS_CHANGED' && e.message === row.errorMessage),
      'STATUS_CHANGED',
    );

    const started = await server.gql(cast.operator.token, START, { id: stuck.id });
    expect(started.data?.startChannel).toMatchObject({ status: 'RUNNING', errorMessage: null });
    expect((await server.gql(cast.operator.token, STOP, { id: stuck.id })).data?.stopChannel.status).toBe('STOPPED');
  });

  it('a channel STOPPING for too long: its sidecar is removed, what was on air ends TRUNCATED, ERROR; then it stops', async () => {
    const { db, orchestrator } = server.services;
    const channel = await srtChannel();
    expect((await server.gql(cast.operator.token, START, { id: channel.id })).data?.startChannel.status).toBe(
      'RUNNING',
    );
    const sidecar = await channelRow(channel.id);
    // stopChannel claimed it, and its process died before it stopped the sidecar.
    const heartbeat = ago(3 * MINUTE);
    await db.$executeRaw`
      UPDATE channels SET status = 'STOPPING', last_heartbeat_at = ${heartbeat} WHERE id = ${channel.id}::uuid`;
    await db.$executeRaw`UPDATE channels SET status_changed_at = now() - interval '3 minutes' WHERE id = ${channel.id}::uuid`;
    const onAir = await db.asRunEntry.create({
      data: {
        channelId: channel.id,
        clipName: 'on air',
        startedAt: new Date(heartbeat.getTime() - MINUTE),
        status: 'PLAYED',
      },
    });

    expect((await reconcile(server.services)).interrupted).toBe(1);
    const row = await channelRow(channel.id);
    expect(row).toMatchObject({ status: 'ERROR', sidecarRef: null, sidecarUrl: null, sidecarPort: null });
    expect(row.errorMessage).toMatch(/^stop interrupted: STOPPING for over 2 minutes .*; stop it again$/);
    expect((await orchestrator.list(null)).filter((s) => s.channelId === channel.id && s.running)).toEqual([]);
    await expect(fetch(`${sidecar.sidecarUrl}/healthz`)).rejects.toThrow();
    expect(await db.asRunEntry.findUniqueOrThrow({ where: { id: onAir.id } })).toMatchObject({
      status: 'TRUNCATED',
      endedAt: heartbeat,
      durationMs: MINUTE,
    });

    expect((await server.gql(cast.operator.token, STOP, { id: channel.id })).data?.stopChannel).toMatchObject({
      status: 'STOPPED',
      errorMessage: null,
    });
  });

  it('a fresh STARTING or STOPPING channel is left alone', async () => {
    const starting = await srtChannel({ status: 'STARTING', sidecarPort: 2 });
    const stopping = await srtChannel({ status: 'STOPPING', statusChangedAt: ago(MINUTE), sidecarRef: DEAD_PID });
    expect((await reconcile(server.services)).interrupted).toBe(0);
    expect(await channelRow(starting.id)).toMatchObject({ status: 'STARTING', errorMessage: null, sidecarPort: 2 });
    expect(await channelRow(stopping.id)).toMatchObject({ status: 'STOPPING', sidecarRef: DEAD_PID });
    await server.services.db.channel.updateMany({
      where: { id: { in: [starting.id, stopping.id] } },
      data: { status: 'STOPPED', sidecarPort: null, sidecarRef: null },
    });
  });

  it('a real start while reconciliation runs is not disturbed', async () => {
    const channel = await srtChannel();
    const reconciling = (async () => {
      let runs = 0;
      while ((await channelRow(channel.id)).status !== 'RUNNING' && runs < 200) {
        await reconcile(server.services);
        runs += 1;
      }
    })();
    const started = await server.gql(cast.operator.token, START, { id: channel.id });
    await reconciling;
    expect(started.data?.startChannel).toMatchObject({ status: 'RUNNING', errorMessage: null });
    const row = await channelRow(channel.id);
    expect(row.status).toBe('RUNNING');
    expect((await fetch(`${row.sidecarUrl}/healthz`)).ok).toBe(true);
    expect((await server.gql(cast.operator.token, STOP, { id: channel.id })).data?.stopChannel.status).toBe('STOPPED');
  });

  it('a start that resumes after reconciliation gave up on it does not take over the next start', async () => {
    const channel = await srtChannel();
    /** An orchestrator whose starts wait for release() before they spawn: a process that hangs. */
    const hanging = (inner: Orchestrator) => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const orchestrator: Orchestrator = {
        start: async (spec) => {
          await gate;
          return inner.start(spec);
        },
        stop: (channelId, ref, node) => inner.stop(channelId, ref, node),
        list: (node) => inner.list(node),
        ping: (node) => inner.ping(node),
        close: () => inner.close(),
      };
      return { orchestrator, release };
    };
    // The first start runs in another process (its own sidecars), the second in this one.
    const other = new LocalOrchestrator({
      healthPath: '/healthz',
      output: 'ignore',
      inheritedEnv: sidecarInheritedEnv(),
    });
    const first = hanging(other);
    const second = hanging(server.services.orchestrator);
    try {
      const late = startChannelSidecar({ ...server.services, orchestrator: first.orchestrator }, channel.id);
      late.catch(() => {});
      const claim = await until(async () => {
        const row = await channelRow(channel.id);
        return row.status === 'STARTING' && row;
      }, 'the first claim');
      await server.services.db
        .$executeRaw`UPDATE channels SET status_changed_at = now() - interval '5 minutes' WHERE id = ${channel.id}::uuid`;
      expect((await reconcile(server.services)).interrupted).toBe(1);

      const next = startChannelSidecar({ ...server.services, orchestrator: second.orchestrator }, channel.id);
      next.catch(() => {});
      await until(async () => (await channelRow(channel.id)).status === 'STARTING', 'the second claim');

      // The first start resumes while the second is under way: its claim is gone, its sidecar goes.
      first.release();
      await expect(late).rejects.toThrow(/changed while it started/);
      expect((await other.list(null)).filter((s) => s.running)).toEqual([]);
      expect(await channelRow(channel.id)).toMatchObject({
        status: 'STARTING',
        sidecarRef: null,
        sidecarPort: claim.sidecarPort,
      });

      second.release();
      expect(await next).toMatchObject({ status: 'RUNNING', errorMessage: null });
      const running = await channelRow(channel.id);
      expect((await server.services.orchestrator.list(null)).find((s) => s.channelId === channel.id)?.ref).toBe(
        running.sidecarRef,
      );
      expect((await fetch(`${running.sidecarUrl}/healthz`)).ok).toBe(true);
      expect((await server.gql(cast.operator.token, STOP, { id: channel.id })).data?.stopChannel.status).toBe(
        'STOPPED',
      );
    } finally {
      first.release();
      second.release();
      await other.close();
    }
  });
});

describe('a sidecar that dies at every start', () => {
  it(`is restarted FAILOVER_MAX_RESTARTS times within FAILOVER_WINDOW_MS, then left in ERROR; a start gives it a fresh budget`, async () => {
    const { db, orchestrator } = server.services;
    // Failovers older than the window do not count.
    const old = Array.from({ length: 5 }, (_, i) => ago(20 * MINUTE + i * 1000));
    const channel = await srtChannel({
      status: 'RUNNING',
      sidecarRef: DEAD_PID,
      lastHeartbeatAt: new Date(),
      recentFailovers: old,
    });

    for (let restart = 1; restart <= 2; restart++) {
      const { sidecarRef } = await channelRow(channel.id);
      expect(await failOver(server.services, channel.id, { kind: 'SIDECAR_GONE', sidecarRef })).toMatchObject({
        outcome: 'RESTARTED',
      });
      const row = await channelRow(channel.id);
      expect(row).toMatchObject({ status: 'RUNNING', restartCount: restart });
      expect(row.recentFailovers).toHaveLength(restart);
      // It dies again.
      await orchestrator.stop(channel.id, row.sidecarRef!, null);
    }

    // The third loss, seen by the heartbeat check this time.
    const lastHeartbeat = ago(MINUTE);
    await db.channel.update({ where: { id: channel.id }, data: { lastHeartbeatAt: lastHeartbeat } });
    const onAir = await db.asRunEntry.create({
      data: { channelId: channel.id, clipName: 'looping', startedAt: ago(2 * MINUTE), status: 'PLAYED' },
    });
    expect(await failOverSilentChannels(server.services)).toMatchObject({ stale: 1, restarted: 0, failed: 1 });
    const row = await channelRow(channel.id);
    const reason =
      'no heartbeat from its sidecar for 10 s: restarted 2 times in 10 minutes; left stopped for the operators';
    expect(row).toMatchObject({
      status: 'ERROR',
      errorMessage: reason,
      restartCount: 2,
      sidecarRef: null,
      sidecarPort: null,
    });
    expect(row.recentFailovers).toHaveLength(2);
    expect((await orchestrator.list(null)).filter((s) => s.channelId === channel.id && s.running)).toEqual([]);
    expect(await db.asRunEntry.findUniqueOrThrow({ where: { id: onAir.id } })).toMatchObject({
      status: 'TRUNCATED',
      endedAt: lastHeartbeat,
    });
    await until(() => events.some((e) => e.channelId === channel.id && e.kind === 'HEARTBEAT_LOST'), 'HEARTBEAT_LOST');
    await until(
      () => events.some((e) => e.channelId === channel.id && e.kind === 'STATUS_CHANGED' && e.message === reason),
      'STATUS_CHANGED with the reason',
    );

    // An operator's start: on air again, with the full budget.
    const started = await server.gql(cast.operator.token, START, { id: channel.id });
    expect(started.data?.startChannel).toMatchObject({ status: 'RUNNING', errorMessage: null });
    expect((await channelRow(channel.id)).recentFailovers).toEqual([]);
    expect((await server.gql(cast.operator.token, STOP, { id: channel.id })).data?.stopChannel.status).toBe('STOPPED');
  });

  it('two workers failing the same loss over count it once', async () => {
    const channel = await srtChannel({
      status: 'RUNNING',
      sidecarRef: DEAD_PID,
      lastHeartbeatAt: new Date(),
      recentFailovers: [ago(MINUTE), ago(2 * MINUTE)],
    });
    const outcomes = await Promise.all(
      [1, 2, 3].map(() => failOver(server.services, channel.id, { kind: 'SIDECAR_GONE', sidecarRef: DEAD_PID })),
    );
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['ERROR', 'SKIPPED', 'SKIPPED']);
    expect(await channelRow(channel.id)).toMatchObject({
      status: 'ERROR',
      recentFailovers: [expect.any(Date), expect.any(Date)],
    });
  });
});
