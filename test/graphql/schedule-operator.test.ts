import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sealSidecarSecret } from '../../src/domain/channels/channel-lifecycle.ts';
import { sidecarSchedule } from '../../src/domain/schedules/schedule-snapshot.ts';
import { frameRateOf } from '../../src/schedule/frames.ts';
import { buildSidecarApp, type SidecarApp } from '../../src/sidecar/app.ts';
import { loadSidecarConfig } from '../../src/sidecar/config.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { connectWs, type WsConnection } from '../helpers/ws.ts';
import { SECRET } from '../sidecar/helpers.ts';
import { VirtualClock, VirtualDevice } from '../sidecar/schedule/virtual-device.ts';

// An operator's hand on a schedule on air, through the API: a take and a skip
// are commands to the channel's sidecar (a real sidecar app, its runner and
// device on a virtual clock the test moves), which decides their instant; the
// API then shows the plan the sidecar re-derived, and consoles hear of it.

const { server, cast } = useTestServer();
const FORMAT = '1080i5000';
const MINUTE = 60_000;

let mediaDir: string;
const apps: SidecarApp[] = [];
const open: WsConnection[] = [];
afterEach(() => {
  for (const c of open.splice(0)) void c.dispose();
});
afterAll(async () => {
  for (const app of apps) await app.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});
beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'onair-schedule-operator-'));
});

const newAsset = (durationMs: number) =>
  server.services.db.asset.create({
    data: {
      projectId: cast.home.id,
      filename: `clip-${Math.random().toString(36).slice(2, 6)}.mxf`,
      storageKey: 'k',
      durationMs,
      mediaStatus: 'READY',
      mediaPath: `objects/${Math.random().toString(36).slice(2)}/c.mxf`,
    },
  });

/**
 * A RUNNING channel whose schedule (`events`, built through the API) airs on
 * an in-process sidecar whose clock stands at `clockAt`.
 */
async function onAir(events: (assetId: string) => Record<string, unknown>[], clockAt: number) {
  const channel = await insertChannel(server.services, cast.home.id, { videoFormat: FORMAT });
  const asset = await newAsset(MINUTE);
  const ids: string[] = [];
  for (const input of events(asset.id)) {
    const res = await server.gql(
      cast.operator.token,
      'mutation($input: AddScheduleEventInput!) { addScheduleEvent(input: $input) { eventId } }',
      { input: { channelId: channel.id, assetId: asset.id, ...input } },
    );
    expect(res.errors).toBeUndefined();
    ids.push(res.data.addScheduleEvent.eventId);
  }
  const clock = new VirtualClock(clockAt);
  const app = buildSidecarApp(
    loadSidecarConfig({
      CHANNEL_ID: channel.id,
      PORT: '0',
      SIDECAR_SECRET: SECRET,
      ENGINE: 'ffmpeg',
      VIDEO_FORMAT: FORMAT,
      MEDIA_DIR: mediaDir,
      OUTPUT_JSON: JSON.stringify({ type: 'UDP', url: 'udp://127.0.0.1:9' }),
    }),
    { engine: new VirtualDevice(clock, frameRateOf(FORMAT)), clock, eventsFile: false },
  );
  apps.push(app);
  const port = await app.start();
  await app.schedule.apply(await sidecarSchedule(server.services.db, channel));
  await server.services.db.channel.update({
    where: { id: channel.id },
    data: {
      status: 'RUNNING',
      sidecarUrl: `http://127.0.0.1:${port}`,
      sidecarSecret: sealSidecarSecret(server.services.config.secretKey, channel.id, SECRET),
    },
  });
  // The join in progress reaches air on the sidecar's clock.
  await clock.runUntil(clockAt + 1000);
  return { channel, ids, clock };
}

const ENGINE = `query($id: ID!) { channel(id: $id) { engine { current { clipName }
  schedule { onAir { eventId kind } nextEvent { eventId plannedStartAt } } } } }`;
const CHANGES = `subscription($id: ID!) { scheduleChanged(channelId: $id) { version kind eventIds } }`;

/** A viewer's subscription to the channel's schedule changes, once it shows it listens (a filler edit seen). */
async function listening(channelId: string) {
  const connection = connectWs(server.url, { authorization: `Bearer ${cast.viewer.token}` });
  open.push(connection);
  const sub = connection.subscribe(CHANGES, { id: channelId });
  const filler = (await newAsset(30_000)).id;
  await sub.waitFor((r) => r.data?.scheduleChanged?.kind === 'FILLER_CHANGED', {
    poke: () =>
      server.gql(
        cast.operator.token,
        'mutation($c: ID!, $a: [ID!]!) { setScheduleFiller(channelId: $c, assetIds: $a) { version } }',
        { c: channelId, a: [filler] },
      ),
    pokeEveryMs: 200,
  });
  return sub;
}

describe('takeScheduleEvent', () => {
  it('tells consoles (scheduleChanged EVENT_TAKEN, the version unchanged) and the take goes with the schedule', async () => {
    const start = Math.ceil((Date.now() + 10 * MINUTE) / 1000) * 1000;
    const { channel, ids, clock } = await onAir(
      () => [{ trigger: 'HARD', at: new Date(start).toISOString() }, { trigger: 'MANUAL' }],
      start + MINUTE + 5000,
    );
    const [, manual] = ids;
    const sub = await listening(channel.id);
    const takeFrame = frameAfter(clock.now() + 500);
    const res = await server.gql(
      cast.operator.token,
      'mutation($c: ID!, $e: ID!) { takeScheduleEvent(channelId: $c, eventId: $e) { state } }',
      { c: channel.id, e: manual },
    );
    expect(res.errors).toBeUndefined();
    const change = await sub.waitFor((r) => r.data?.scheduleChanged?.kind === 'EVENT_TAKEN');
    const version = (await server.services.db.schedule.findUnique({ where: { channelId: channel.id } }))!.version;
    expect(change.data.scheduleChanged).toEqual({ version, kind: 'EVENT_TAKEN', eventIds: [manual] });
    // The instant the sidecar gave it (the first frame half a second ahead), sent to any sidecar from now on.
    expect((await sidecarSchedule(server.services.db, channel)).taken).toEqual({ [manual]: takeFrame });
  });
});

describe('skip under a schedule', () => {
  it('answers OK; the event after the one on air moves up and airs, and the API plans it there too', async () => {
    const start = Math.ceil((Date.now() + 10 * MINUTE) / 1000) * 1000;
    const { channel, ids, clock } = await onAir(
      () => [
        { trigger: 'HARD', at: new Date(start).toISOString() },
        { trigger: 'FOLLOW' },
        { trigger: 'HARD', at: new Date(start + 10 * MINUTE).toISOString() },
      ],
      start + 10_000,
    );
    const [first, second] = ids;
    const sub = await listening(channel.id);
    const res = await server.gql(cast.operator.token, 'mutation($id: ID!) { skip(channelId: $id) { state } }', {
      id: channel.id,
    });
    expect(res.errors).toBeUndefined();
    expect(res.data.skip.state).toBe('PLAYING');
    const cut = new Date(frameAfter(clock.now() + 500)).toISOString();
    // The sidecar's plan: the FOLLOW event is next, from the cut.
    await clock.runUntil(clock.now() + 1000);
    const engine = await until(async () => {
      const r = await server.gql(cast.viewer.token, ENGINE, { id: channel.id });
      return r.data?.channel.engine.schedule?.onAir?.eventId === second && r.data.channel.engine;
    }, 'the FOLLOW event on air on the sidecar');
    expect(engine.schedule.onAir).toEqual({ eventId: second, kind: 'CLIP' });
    // The API's own plan (a day) moves it up as the sidecar did, and consoles hear of it.
    const change = await sub.waitFor((r) => r.data?.scheduleChanged?.kind === 'EVENT_SKIPPED');
    expect(change.data.scheduleChanged.eventIds).toEqual([first]);
    const day = await server.gql(
      cast.viewer.token,
      `query($id: ID!, $d: String!) { channel(id: $id) { schedule { day(date: $d) {
        events { eventId status plannedStart plannedEnd truncatedFrames } } } } }`,
      { id: channel.id, d: new Date(start).toISOString().slice(0, 10) },
    );
    expect(day.errors).toBeUndefined();
    const planned = Object.fromEntries(
      day.data.channel.schedule.day.events.map((e: { eventId: string }) => [e.eventId, e]),
    );
    expect(planned[first]).toMatchObject({ plannedEnd: cut });
    expect(planned[second]).toMatchObject({ status: 'PLANNED', plannedStart: cut });
  });
});

describe('skip under a schedule, at its edges', () => {
  const SKIP = 'mutation($id: ID!) { skip(channelId: $id) { state } }';
  /** What the control plane keeps of skips: each event's skipped_at, and the schedule's count of operator actions. */
  const kept = async (channelId: string) => {
    const [events, schedule] = await Promise.all([
      server.services.db.scheduleEvent.findMany({ where: { channelId }, orderBy: { position: 'asc' } }),
      server.services.db.schedule.findUnique({ where: { channelId } }),
    ]);
    return { skippedAt: events.map((e) => e.skippedAt?.toISOString() ?? null), actions: schedule!.operatorActions };
  };

  it('in the last 0.5 s is CONFLICT naming the event on air, nothing recorded; a double press is CONFLICT naming the event already skipped, the next one untouched', async () => {
    const start = Math.ceil((Date.now() + 10 * MINUTE) / 1000) * 1000;
    // Three FOLLOW-chained events of a minute each.
    const { channel, ids, clock } = await onAir(
      () => [{ trigger: 'HARD', at: new Date(start).toISOString() }, { trigger: 'FOLLOW' }, { trigger: 'FOLLOW' }],
      start + MINUTE - 2000,
    );
    const [first, second, third] = ids;
    const sub = await listening(channel.id);

    await clock.runUntil(start + MINUTE - 400);
    const late = await server.gql(cast.operator.token, SKIP, { id: channel.id });
    expect(late.data).toBeNull();
    expect(late.errors).toEqual([
      expect.objectContaining({
        message: `event ${first} ends in 400 ms, before the first frame a skip can cut (500 ms ahead): it plays to its end and the next event starts at its planned time`,
        extensions: { code: 'CONFLICT', eventId: first },
      }),
    ]);
    expect(await kept(channel.id)).toEqual({ skippedAt: [null, null, null], actions: 0 });
    // The next event airs at its planned time.
    await clock.runUntil(start + MINUTE + 1000);
    const engine = await server.gql(cast.viewer.token, ENGINE, { id: channel.id });
    expect(engine.data.channel.engine.schedule).toEqual({
      onAir: { eventId: second, kind: 'CLIP' },
      nextEvent: { eventId: third, plannedStartAt: new Date(start + 2 * MINUTE).toISOString() },
    });

    // A double press: the first skips the event on air, the second is refused (it would have cut the next one).
    const [once, twice] = await Promise.all([
      server.gql(cast.operator.token, SKIP, { id: channel.id }),
      server.gql(cast.operator.token, SKIP, { id: channel.id }),
    ]);
    const cut = new Date(frameAfter(clock.now() + 500)).toISOString();
    const [accepted, refused] = once.errors ? [twice, once] : [once, twice];
    expect(accepted.errors).toBeUndefined();
    expect(refused.errors).toEqual([
      expect.objectContaining({
        message: `event ${second} is already skipped: it leaves air at ${cut}, and the next event is not on air yet`,
        extensions: { code: 'CONFLICT', eventId: second },
      }),
    ]);
    const change = await sub.waitFor((r) => r.data?.scheduleChanged?.kind === 'EVENT_SKIPPED');
    expect(change.data.scheduleChanged.eventIds).toEqual([second]);
    expect(await kept(channel.id)).toEqual({ skippedAt: [null, cut, null], actions: 1 });
    await clock.runUntil(clock.now() + 1000);
    const after = await server.gql(cast.viewer.token, ENGINE, { id: channel.id });
    expect(after.data.channel.engine.schedule.onAir).toEqual({ eventId: third, kind: 'CLIP' });
  });
});

/** The first 25 fps frame boundary at or after `ms` (a 40 ms grid from the epoch). */
const frameAfter = (ms: number) => Math.ceil(ms / 40) * 40;
