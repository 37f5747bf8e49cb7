import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSidecarApp, type SidecarApp } from '../../../src/sidecar/app.ts';
import { loadSidecarConfig } from '../../../src/sidecar/config.ts';
import { frameRateOf } from '../../../src/schedule/frames.ts';
import { SidecarEventSchema, StatusSchema } from '../../../src/protocol/sidecar-api.ts';
import { CHANNEL_ID, client, item, SECRET } from '../helpers.ts';
import { clip, event, minutes } from '../../schedule/helpers.ts';
import { VirtualClock, VirtualDevice } from './virtual-device.ts';

// The schedule's HTTP API on a real sidecar app: validation naming the field,
// versions acknowledged and STALE refused, take, manual play suspending the
// schedule and resume, detach. The runner and the device run on a virtual
// clock the test moves (virtual-device.ts); requests are real HTTP.

const FORMAT = '1080p2500';
const T0 = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
const at = (m: number, s = 0) => T0 + minutes(m) + s * 1000;

let mediaDir: string;
let app: SidecarApp;
let call: ReturnType<typeof client>;
let clock: VirtualClock;
let base: string;

const body = (version: number, extra: object = {}) => ({
  version,
  videoFormat: FORMAT,
  timeZone: 'Europe/London',
  events: [
    event('news', 'HARD', clip('news', minutes(10)), at(0)),
    event('live', 'MANUAL', clip('live', minutes(5))),
    event('film', 'HARD', clip('film', minutes(30)), at(20)),
  ],
  filler: [clip('fill', 30_000)],
  ...extra,
});

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'onair-schedule-'));
  await mkdir(join(mediaDir, 'clips'), { recursive: true });
  await writeFile(join(mediaDir, 'clips', 'manual.mp4'), 'x');
  const config = loadSidecarConfig({
    CHANNEL_ID,
    PORT: '0',
    SIDECAR_SECRET: SECRET,
    ENGINE: 'ffmpeg',
    VIDEO_FORMAT: FORMAT,
    MEDIA_DIR: mediaDir,
    OUTPUT_JSON: JSON.stringify({ type: 'UDP', url: 'udp://127.0.0.1:9' }),
  });
  clock = new VirtualClock(at(0) - 500);
  app = buildSidecarApp(config, {
    engine: new VirtualDevice(clock, frameRateOf(FORMAT)),
    clock,
    eventsFile: false,
  });
  base = `http://127.0.0.1:${await app.start()}`;
  call = client(base);
});

afterAll(async () => {
  await app?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

describe('the sidecar schedule API', () => {
  it('refuses a bad schedule with 400 naming the field, and needs the bearer token', async () => {
    expect((await fetch(`${base}/schedule`, { method: 'PUT', body: '{}' })).status).toBe(401);
    const cases: [object, string][] = [
      [body(-1), 'version'],
      [body(1, { videoFormat: '1080i5994' }), 'videoFormat'],
      [body(1, { timeZone: 'Mars/Olympus' }), 'timeZone'],
      [body(1, { events: [event('f', 'FOLLOW', clip('x', 1000))] }), 'events.0.trigger'],
      [body(1, { events: [{ ...event('h', 'HARD', clip('x', 1000), at(0)), at: undefined }] }), 'events.0.at'],
      [body(1, { filler: [{ ...clip('x', 1000), mediaPath: '../x' }] }), 'filler.0.mediaPath'],
    ];
    for (const [bad, field] of cases) {
      const res = await call('PUT', '/schedule', bad);
      expect([res.status, res.body.error.code, res.body.error.field], field).toEqual([400, 'BAD_REQUEST', field]);
      expect(res.body.error.message).toMatch(new RegExp(`^${field.replaceAll('.', '\\.')}: `));
    }
    expect((await call('GET', '/status')).body.schedule).toBeUndefined();
  });

  it('acknowledges the version it runs, in the answer and in /status; an older one is 409 STALE', async () => {
    const put = await call('PUT', '/schedule', body(4));
    expect([put.status, put.body]).toEqual([200, { version: 4 }]);
    await clock.runUntil(at(1));
    const status = (await call('GET', '/status')).body;
    expect(status).toMatchObject({
      state: 'PLAYING',
      current: { itemId: 'item-news', startedAt: new Date(at(0)).toISOString() },
      schedule: {
        version: 4,
        suspended: false,
        onAir: { eventId: 'news', kind: 'CLIP', itemId: 'item-news', plannedStartAt: new Date(at(0)).toISOString() },
        nextEvent: { eventId: 'film', plannedStartAt: new Date(at(20)).toISOString() },
      },
    });
    const stale = await call('PUT', '/schedule', body(3));
    expect([stale.status, stale.body.error.code]).toEqual([409, 'STALE']);
    expect((await call('PUT', '/schedule', body(4))).body).toEqual({ version: 4 });
    expect((await call('PUT', '/schedule', body(5))).body).toEqual({ version: 5 });
    expect((await call('GET', '/status')).body.schedule.version).toBe(5);
  });

  it('takes a MANUAL event that holds; refuses one that does not, and a bad body', async () => {
    expect((await call('POST', '/schedule/take', { eventId: '' })).body.error.field).toBe('eventId');
    const notManual = await call('POST', '/schedule/take', { eventId: 'news' });
    expect([notManual.status, notManual.body.error.code]).toEqual([409, 'CONFLICT']);
    await clock.runUntil(at(12)); // the news ended at 10 min: filler while 'live' holds
    expect((await call('GET', '/status')).body.schedule.onAir).toMatchObject({ kind: 'FILLER', fills: 'MANUAL' });
    const take = await call('POST', '/schedule/take', { eventId: 'live' });
    expect(take.status).toBe(200);
    await clock.runUntil(at(12, 2));
    expect((await call('GET', '/status')).body.schedule.onAir).toMatchObject({ eventId: 'live', kind: 'CLIP' });
  });

  it('is suspended by a manual playlist and taken back at resume, joining in progress', async () => {
    const load = await call('POST', '/playlist', {
      playlistId: 'manual',
      loop: true,
      items: [item('m1', 'manual.mp4', 60_000)],
    });
    expect(load.status).toBe(200);
    let status = (await call('GET', '/status')).body;
    expect(status).toMatchObject({ playlistId: 'manual', current: { itemId: 'm1' }, schedule: { suspended: true } });
    await clock.runUntil(at(13));
    const resume = await call('POST', '/schedule/resume');
    expect(resume.status).toBe(200);
    await clock.runUntil(at(13, 2));
    status = (await call('GET', '/status')).body;
    expect(status).toMatchObject({ state: 'PLAYING', schedule: { suspended: false, onAir: { eventId: 'live' } } });
    const again = await call('POST', '/schedule/resume');
    expect([again.status, again.body.error.code]).toEqual([409, 'CONFLICT']);
    const ended = app.log.after(0).filter((e) => e.kind === 'ITEM_ENDED' && e.itemId === 'm1');
    expect(ended).toMatchObject([{ how: 'TRUNCATED', reason: 'the schedule took the channel back' }]);
  });

  it('hands the channel back to manual at DELETE: the clip on air ends TRUNCATED, no schedule in /status', async () => {
    const del = await call('DELETE', '/schedule');
    expect(del.status).toBe(200);
    expect(del.body.schedule).toBeUndefined();
    expect(del.body.state).toBe('STOPPED');
    const last = app.log.after(0).findLast((e) => e.kind === 'ITEM_ENDED');
    expect(last).toMatchObject({ itemId: 'item-live', how: 'TRUNCATED', reason: 'the schedule was detached' });
    expect((await call('POST', '/schedule/take', { eventId: 'live' })).status).toBe(409);
  });
});

describe('manual play over a schedule, on a sidecar app', () => {
  it('gives the channel back at the next HARD event, on its frame, and when a playlist that does not loop ends', async () => {
    const put = await call('PUT', '/schedule', {
      ...body(20),
      events: [
        event('s1', 'HARD', clip('s1', minutes(10)), at(40)),
        event('s2', 'HARD', clip('s2', minutes(10)), at(45)),
      ],
    });
    expect(put.status).toBe(200);
    await clock.runUntil(at(41));
    const seq = app.log.lastSeq;
    await call('POST', '/playlist', { playlistId: 'manual', loop: true, items: [item('m2', 'manual.mp4', 50_000)] });
    await clock.runUntil(at(45, 1));
    let status = (await call('GET', '/status')).body;
    expect(status).toMatchObject({ state: 'PLAYING', schedule: { suspended: false, onAir: { eventId: 's2' } } });
    const since = app.log.after(seq);
    const m2 = since.filter((e) => e.kind === 'ITEM_ENDED' && e.itemId === 'm2').at(-1);
    const s2 = since.find((e) => e.kind === 'ITEM_ON_AIR' && e.itemId === 'item-s2');
    expect(m2).toMatchObject({ how: 'TRUNCATED', endedAt: new Date(at(45)).toISOString() });
    expect(s2).toMatchObject({ startedAt: new Date(at(45)).toISOString() });

    // A playlist that does not loop: when it ends, the schedule joins in progress rather than leave black.
    await call('POST', '/playlist', { playlistId: 'manual', loop: false, items: [item('m3', 'manual.mp4', 20_000)] });
    expect((await call('GET', '/status')).body.schedule.suspended).toBe(true);
    await clock.runUntil(at(45, 23));
    status = (await call('GET', '/status')).body;
    expect(status).toMatchObject({ state: 'PLAYING', schedule: { suspended: false, onAir: { eventId: 's2' } } });
    expect(StatusSchema.parse(status).schedule?.version).toBe(20);
    for (const e of app.log.after(0, 10_000)) SidecarEventSchema.parse(e);
    await call('DELETE', '/schedule');
  });
});

describe('a sidecar restarted while its schedule runs', () => {
  it('joins the schedule in progress from its volume, before the control plane calls', async () => {
    const config = loadSidecarConfig({
      CHANNEL_ID,
      PORT: '0',
      SIDECAR_SECRET: SECRET,
      ENGINE: 'ffmpeg',
      VIDEO_FORMAT: FORMAT,
      MEDIA_DIR: mediaDir,
      OUTPUT_JSON: JSON.stringify({ type: 'UDP', url: 'udp://127.0.0.1:9' }),
    });
    const rate = frameRateOf(FORMAT);
    const first = new VirtualClock(at(30));
    const before = buildSidecarApp(config, { engine: new VirtualDevice(first, rate), clock: first, eventsFile: false });
    const put = client(`http://127.0.0.1:${await before.start()}`);
    const schedule = body(9, {
      events: [
        event('short', 'HARD', clip('short', minutes(1)), at(30)),
        event('live', 'MANUAL', clip('live', minutes(60))),
      ],
    });
    expect((await put('PUT', '/schedule', schedule)).body).toEqual({ version: 9 });
    await first.runUntil(at(30, 40));
    // Taken at 30:40 (on air 30:40.52): a restart must not forget it and go back to the filler it held on.
    expect((await put('POST', '/schedule/take', { eventId: 'live' })).status).toBe(200);
    await first.runUntil(at(31));
    await before.stop();

    // Back 4 min 10 s later, on another clock: nothing is sent to it.
    const second = new VirtualClock(at(35, 10));
    const device = new VirtualDevice(second, rate);
    const after = buildSidecarApp(config, { engine: device, clock: second, eventsFile: false });
    const get = client(`http://127.0.0.1:${await after.start()}`);
    try {
      await second.runUntil(at(35, 12));
      expect(device.output).toMatchObject([{ itemId: 'item-live', inPointMs: minutes(4) + 30_000 }]);
      const status = (await get('GET', '/status')).body;
      expect(status).toMatchObject({ state: 'PLAYING', schedule: { version: 9, onAir: { eventId: 'live' } } });
      const onAir = after.log.after(0).find((e) => e.kind === 'ITEM_ON_AIR');
      expect(onAir).toMatchObject({
        startedAt: new Date(at(35, 10.52)).toISOString(),
        schedule: { eventId: 'live', plannedStartAt: new Date(at(30, 40.52)).toISOString() },
      });
      // Detached: the next start finds no schedule.
      await get('DELETE', '/schedule');
    } finally {
      await after.stop();
    }
    const third = buildSidecarApp(config, {
      engine: new VirtualDevice(second, rate),
      clock: second,
      eventsFile: false,
    });
    const again = client(`http://127.0.0.1:${await third.start()}`);
    expect((await again('GET', '/status')).body.schedule).toBeUndefined();
    await third.stop();
  });
});
