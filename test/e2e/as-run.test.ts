import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineSnapshots } from '../../src/domain/channels/engine-status.ts';
import type { AsRunMessage, ChannelEventMessage, EngineStatusEvent } from '../../src/services/pubsub.ts';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { useTestServer } from '../helpers/server.ts';
import {
  asRunOf,
  collect,
  createChannelWithPlaylist,
  expectOneEntryPerItemOnAir,
  setUpMedia,
  sidecarEvents,
  sidecarOf,
  until,
  type Media,
  moveIntoProject,
} from './as-run-helpers.ts';

// The as-run record end to end: a real sidecar (local orchestrator, ffmpeg)
// plays a three-item playlist; the worker reads its events into the as-run
// log, the channel's heartbeat and the engine status on the event bus.
let media: Media & { srtPort: number };
beforeAll(async () => {
  media = await setUpMedia({ 'one.mp4': 8, 'two.mp4': 2, 'three.mp4': 8 });
});
afterAll(() => media?.close());
// Failover stays out of the way: this file kills a sidecar on purpose.
const { server, cast } = useTestServer(() => ({
  ...media.env,
  CONTROL_TICK_MS: '60000',
  HEARTBEAT_TIMEOUT_MS: '600000',
  RECONCILE_INTERVAL_MS: '600000',
}));
let workers: Workers;
let channelId: string;
let playlistId: string;
let snapshots: EngineSnapshots;
// one.mp4 is skipped and three.mp4 stopped about a second in: long enough that neither ends first on a loaded machine.
const CLIPS: [string, number][] = [
  ['one.mp4', 8000],
  ['two.mp4', 2000],
  ['three.mp4', 8000],
];

beforeAll(async () => {
  await moveIntoProject(media.store, cast.home.id);
  workers = await startWorkers(server.services);
  snapshots = new EngineSnapshots(server.services.redis, server.services.config.queuePrefix);
  ({ channelId, playlistId } = await createChannelWithPlaylist(server.gql, cast, media.srtPort, CLIPS));
}, 90_000);

afterAll(async () => {
  await workers?.close();
});

const gql = (token: string, query: string) => server.gql(token, query);
const log = () => asRunOf(server.gql, cast.viewer.token, channelId);
const mutate = async (query: string) => {
  const res = await gql(cast.operator.token, query);
  expect(res.errors).toBeUndefined();
  return res.data;
};

describe('the as-run record of a channel on air', () => {
  it('one entry per item, started when the sidecar says, ended PLAYED, SKIPPED or TRUNCATED; status on the event bus', async () => {
    const { pubsub } = server.services;
    const statuses = collect<EngineStatusEvent>(pubsub.subscribe('engineStatus', channelId));
    const entries = collect<AsRunMessage>(pubsub.subscribe('asRun'));
    const channelEvents = collect<ChannelEventMessage>(pubsub.subscribe('channelEvents'));
    await new Promise((r) => setTimeout(r, 200));

    await mutate(`mutation { startChannel(id: "${channelId}") { status } }`);
    await until(
      async () => channelEvents.seen.find((e) => e.channelId === channelId && e.kind === 'STATUS_CHANGED'),
      'the start on the event bus',
    );
    // The worker reads the new sidecar: its state is kept for subscribers, no request needed.
    expect(await until(() => snapshots.load(channelId), 'the engine snapshot')).toMatchObject({
      reachable: true,
      state: 'IDLE',
    });

    await mutate(`mutation { play(channelId: "${channelId}", playlistId: "${playlistId}") { state } }`);
    const first = await until(async () => (await log())[0], 'the first item in the as-run log');
    // On air: recorded at once, not yet ended, PLAYED until told otherwise.
    expect(first).toMatchObject({ clipName: 'one.mp4', endedAt: null, durationMs: null, status: 'PLAYED' });
    const playing = await until(
      async () => statuses.seen.find((s) => s.status.current?.clipName === 'one.mp4'),
      'the first item on the event bus',
    );
    expect(playing).toMatchObject({
      projectId: cast.home.id,
      status: { reachable: true, state: 'PLAYING', playlistId },
    });

    await new Promise((r) => setTimeout(r, 500));
    await mutate(`mutation { skip(channelId: "${channelId}") { state } }`);
    // two.mp4 plays to its end; three.mp4 is stopped half-way.
    await until(async () => (await log())[2], 'the third item on air', 15_000);
    await new Promise((r) => setTimeout(r, 1000));
    await mutate(`mutation { stopPlayback(channelId: "${channelId}") { state } }`);

    const ended = await until(async () => {
      const rows = await log();
      return rows.length === 3 && rows.every((r) => r.endedAt !== null) ? rows : null;
    }, 'every entry ended');
    expect(ended.map((r) => [r.clipName, r.status])).toEqual([
      ['one.mp4', 'SKIPPED'],
      ['two.mp4', 'PLAYED'],
      ['three.mp4', 'TRUNCATED'],
    ]);
    expect(ended[0].durationMs).toBeGreaterThanOrEqual(400);
    expect(ended[0].durationMs).toBeLessThan(8000);

    const sidecar = await sidecarOf(server.services, channelId);
    const { epoch, events } = await sidecarEvents(sidecar);
    expectOneEntryPerItemOnAir(ended, events);
    // How each ended, when, and how long it aired: as the sidecar measured it.
    const endings = events.flatMap((e) =>
      e.kind === 'ITEM_ENDED' ? [[e.clipName, e.how, Date.parse(e.endedAt), e.durationMs]] : [],
    );
    expect(ended.map((r) => [r.clipName, r.status, Date.parse(r.endedAt as string), r.durationMs])).toEqual(endings);

    // The channel's position in the sidecar's log, and its heartbeat.
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
    expect(row.sidecarEpoch).toBe(epoch);
    expect(row.sidecarSeq).toBe(events.at(-1)?.seq);
    // The read that brought the last event was a heartbeat too.
    expect((row.lastHeartbeatAt as Date).getTime()).toBeGreaterThanOrEqual(Date.parse(events.at(-1)!.at));

    // Each entry was published when it went on air and when it ended.
    await until(async () => entries.seen.filter((m) => m.entry.channelId === channelId).length >= 6, 'as-run messages');
    const messages = entries.seen.filter((m) => m.entry.channelId === channelId);
    expect(messages.map((m) => [m.entry.clipName, m.entry.status, m.entry.endedAt === null])).toEqual([
      ['one.mp4', 'PLAYED', true],
      ['one.mp4', 'SKIPPED', false],
      ['two.mp4', 'PLAYED', true],
      ['two.mp4', 'PLAYED', false],
      ['three.mp4', 'PLAYED', true],
      ['three.mp4', 'TRUNCATED', false],
    ]);
    expect(messages.every((m) => m.projectId === cast.home.id)).toBe(true);
    // Status changes were pushed as they happened, the last one the stop.
    const seen = statuses.seen.map((s) => [s.status.state, s.status.current?.clipName ?? null]);
    expect(seen).toContainEqual(['PLAYING', 'two.mp4']);
    expect(seen).toContainEqual(['PLAYING', 'three.mp4']);
    await until(async () => statuses.seen.at(-1)?.status.state === 'STOPPED', 'the stopped state');
    expect(await snapshots.load(channelId)).toMatchObject({ state: 'STOPPED', reachable: true, current: null });
    for (const c of [statuses, entries, channelEvents]) await c.stop();
  }, 90_000);

  it('a sidecar that dies: unreachable on the event bus; stopping the channel closes what was on air TRUNCATED', async () => {
    const { pubsub } = server.services;
    const statuses = collect<EngineStatusEvent>(pubsub.subscribe('engineStatus', channelId));
    const channelEvents = collect<ChannelEventMessage>(pubsub.subscribe('channelEvents'));
    await new Promise((r) => setTimeout(r, 200));
    await mutate(`mutation { play(channelId: "${channelId}", playlistId: "${playlistId}") { state } }`);
    await until(async () => (await log())[3], 'the fourth entry on air');

    const sidecar = await sidecarOf(server.services, channelId);
    process.kill(Number(sidecar.ref), 'SIGKILL');
    const lost = await until(
      async () => statuses.seen.find((s) => !s.status.reachable),
      'unreachable on the event bus',
    );
    // The last state known is kept, marked unreachable.
    expect(lost.status).toMatchObject({ reachable: false, state: 'PLAYING', current: { clipName: 'one.mp4' } });
    expect(await snapshots.load(channelId)).toMatchObject({ reachable: false, state: 'PLAYING' });
    expect((await log())[3]).toMatchObject({ clipName: 'one.mp4', endedAt: null });

    const before = Date.now();
    expect((await mutate(`mutation { stopChannel(id: "${channelId}") { status } }`)).stopChannel.status).toBe(
      'STOPPED',
    );
    const closed = (await log())[3];
    expect(closed).toMatchObject({ clipName: 'one.mp4', status: 'TRUNCATED' });
    expect(Date.parse(closed.endedAt as string)).toBeGreaterThanOrEqual(before - 1000);
    expect(closed.durationMs).toBe(Date.parse(closed.endedAt as string) - Date.parse(closed.startedAt));

    await until(async () => statuses.seen.at(-1)?.status.state === null, 'the stopped engine on the event bus');
    expect(statuses.seen.at(-1)?.status).toMatchObject({ reachable: false, state: null, current: null });
    expect(await snapshots.load(channelId)).toBeNull();
    // The operator was told the sidecar went silent, then of the stop.
    const alarm = await until(
      async () => channelEvents.seen.find((e) => e.channelId === channelId && e.alarm === 'SIDECAR_UNREACHABLE'),
      'the alarm',
    );
    expect(alarm).toMatchObject({ kind: 'ALARM_RAISED', projectId: cast.home.id });
    const stopEvent = await until(
      async () => channelEvents.seen.find((e) => e.channelId === channelId && e.kind === 'STATUS_CHANGED'),
      'the stop on the event bus',
    );
    expect(stopEvent).toMatchObject({ kind: 'STATUS_CHANGED', projectId: cast.home.id, message: null });
    expect((await server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } })).status).toBe('STOPPED');
    for (const c of [statuses, channelEvents]) await c.stop();
  }, 60_000);
});
