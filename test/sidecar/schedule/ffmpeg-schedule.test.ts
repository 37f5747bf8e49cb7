import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SidecarEvent } from '../../../src/protocol/sidecar-api.ts';
import { frameFrom, frameRateOf, frameStartMs } from '../../../src/schedule/frames.ts';
import { ScheduleSchema } from '../../../src/schedule/model.ts';
import { buildSidecarApp, type SidecarApp } from '../../../src/sidecar/app.ts';
import { loadSidecarConfig, type SidecarConfig } from '../../../src/sidecar/config.ts';
import { until } from '../../helpers/until.ts';
import { CHANNEL_ID, client, makeMediaDir, SECRET, sleep } from '../helpers.ts';
import { blends, colourReferences, previewFrames, runs, type Yuv } from '../preview-frames.ts';
import { ffmpegRunner } from './rig.ts';

// A short schedule on a real sidecar with the real ffmpeg engine: three HARD
// events, FOLLOW clips, filler in the gaps. What a user checks: every clip
// reaches air within one frame (40 ms at 25 fps) of its planned start, and a
// sidecar restarted in the middle of an event joins it in progress. And FOLLOW
// clips coming in with a MIX: on air the transition's length before the clip
// before them runs out, as planned, that one PLAYED, the output crossfading.

const FORMAT = '576p2500';
const RATE = frameRateOf(FORMAT);
const FRAME_MS = 40;

let mediaDir: string;
let config: SidecarConfig;
let app: SidecarApp | null = null;
let mixRig: Awaited<ReturnType<typeof ffmpegRunner>> | null = null;
let reference: Map<string, Yuv>;

const clip = (name: string, file: string, durationMs: number) => ({
  itemId: `item-${name}`,
  assetId: `asset-${name}`,
  clipName: name,
  mediaPath: `clips/${file}`,
  durationMs,
  transition: 'CUT' as const,
  transitionMs: 0,
});

beforeAll(async () => {
  mediaDir = await makeMediaDir(
    { 'a.mp4': 8, 'b.mp4': 8, 'fill.mp4': 3, 'red.mp4': 3, 'blue.mp4': 3, 'green.mp4': 2 },
    { 'red.mp4': 'red', 'blue.mp4': 'blue', 'green.mp4': 'green' },
  );
  reference = await colourReferences(join(mediaDir, 'clips'), ['red', 'blue', 'green']);
  config = loadSidecarConfig({
    CHANNEL_ID,
    PORT: '0',
    SIDECAR_SECRET: SECRET,
    ENGINE: 'ffmpeg',
    VIDEO_FORMAT: FORMAT,
    MEDIA_DIR: mediaDir,
    OUTPUT_JSON: JSON.stringify({ type: 'UDP', url: 'udp://127.0.0.1:9' }),
  });
}, 60_000);

// One at a time: each writes the channel's preview, and a second encoder would load the one core a test has.
afterEach(async () => {
  await app?.stop();
  app = null;
  await mixRig?.close();
  mixRig = null;
});

afterAll(async () => {
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

async function startSidecar() {
  app = buildSidecarApp(config, { eventsFile: false });
  return client(`http://127.0.0.1:${await app.start()}`);
}

const onAirEvents = (a: SidecarApp) =>
  a.log.after(0).filter((e): e is Extract<SidecarEvent, { kind: 'ITEM_ON_AIR' }> => e.kind === 'ITEM_ON_AIR');

describe('a schedule on the ffmpeg engine', () => {
  it('puts every clip on air within a frame of plan, HARD events on their frame, and joins in progress after a restart', async () => {
    const call = await startSidecar();
    // On a whole second a few seconds ahead, so that the engine has the first clip ready.
    const t0 = Math.ceil((Date.now() + 6000) / 1000) * 1000;
    const iso = (ms: number) => new Date(ms).toISOString();
    const put = await call('PUT', '/schedule', {
      version: 1,
      videoFormat: FORMAT,
      timeZone: 'UTC',
      events: [
        { eventId: 'h1', trigger: 'HARD', at: iso(t0), content: { kind: 'CLIP', clip: clip('a1', 'a.mp4', 6000) } },
        { eventId: 'f1', trigger: 'FOLLOW', content: { kind: 'CLIP', clip: clip('b1', 'b.mp4', 4000) } },
        // 10 s: two seconds of filler, then a HARD event that cuts the next clip at 18 s.
        {
          eventId: 'h2',
          trigger: 'HARD',
          at: iso(t0 + 12_000),
          content: { kind: 'CLIP', clip: clip('a2', 'a.mp4', 8000) },
        },
        {
          eventId: 'h3',
          trigger: 'HARD',
          at: iso(t0 + 18_000),
          content: { kind: 'CLIP', clip: clip('b2', 'b.mp4', 8000) },
        },
      ],
      filler: [clip('fill', 'fill.mp4', 3000)],
    });
    expect(put.body).toEqual({ version: 1 });
    // Restarted two and a half seconds into b2 (18 s to 26 s): the new sidecar joins b2 where the clock is.
    await sleep(Math.max(0, t0 + 20_500 - Date.now()));
    const first = app!;
    await first.stop();
    const restartedAt = Date.now();
    const again = await startSidecar();
    const joined = await until(() => onAirEvents(app!)[0], 'the restarted sidecar on air', 5000);
    expect(joined).toMatchObject({ itemId: 'item-b2', schedule: { eventId: 'h3', plannedStartAt: iso(t0 + 18_000) } });
    // On air as soon as the engine has started and opened the clip, seeked to where the clock is.
    expect(Date.parse(joined.startedAt) - restartedAt).toBeLessThan(3000);
    const status = (await again('GET', '/status')).body;
    expect(status).toMatchObject({
      state: 'PLAYING',
      current: { itemId: 'item-b2' },
      schedule: { version: 1, onAir: { eventId: 'h3' } },
    });
    // Its position is where the clock is in the event (less what the engine took to start), not the time since the restart.
    const behind = Date.now() - (t0 + 18_000) - status.current.positionMs;
    expect(behind).toBeGreaterThanOrEqual(-FRAME_MS);
    expect(behind).toBeLessThanOrEqual(Date.parse(joined.startedAt) - restartedAt + 100);
    // What follows is on its planned frame again: a late start does not push the schedule.
    const next = await until(() => onAirEvents(app!)[1], 'the segment after the joined one', 10_000);
    const after = app!.log
      .after(0)
      .map((e) => [
        e.kind,
        'itemId' in e ? e.itemId : '',
        e.at,
        'startedAt' in e ? e.startedAt : '',
        'message' in e ? e.message : '',
      ]);
    expect(
      Math.abs(Date.parse(next.startedAt) - Date.parse(next.schedule!.plannedStartAt)),
      JSON.stringify({ t0, restartedAt, after }),
    ).toBeLessThanOrEqual(FRAME_MS);

    // Before the restart: every clip within a frame of its planned start, HARD events on their frame.
    const aired = onAirEvents(first).filter((e) => Date.parse(e.schedule!.plannedStartAt) >= t0);
    expect(aired.map((e) => e.itemId)).toEqual(['item-a1', 'item-b1', 'item-fill', 'item-a2', 'item-b2']);
    const lateness = aired.map((e) => Date.parse(e.startedAt) - Date.parse(e.schedule!.plannedStartAt));
    for (const late of lateness) expect(Math.abs(late)).toBeLessThanOrEqual(FRAME_MS);
    for (const [id, at] of [
      ['item-a1', t0],
      ['item-a2', t0 + 12_000],
      ['item-b2', t0 + 18_000],
    ] as const) {
      const hard = aired.find((e) => e.itemId === id)!;
      expect(Math.abs(Date.parse(hard.startedAt) - frameStartMs(frameFrom(at, RATE), RATE))).toBeLessThanOrEqual(
        FRAME_MS,
      );
    }
    const ended = first.log
      .after(0)
      .filter(
        (e): e is Extract<SidecarEvent, { kind: 'ITEM_ENDED' }> =>
          e.kind === 'ITEM_ENDED' && Date.parse(e.schedule!.plannedStartAt) >= t0,
      );
    expect(ended.find((e) => e.itemId === 'item-a2')).toMatchObject({ how: 'TRUNCATED' });
    expect(ended.find((e) => e.itemId === 'item-fill')).toMatchObject({ how: 'TRUNCATED' });
    console.log(
      `planned → aired (ms): ${aired.map((e, i) => `${e.itemId} ${lateness[i]}`).join(', ')}; joined after the restart ${Date.parse(joined.startedAt) - restartedAt} ms, ${behind} ms behind the clock, the next segment ${Date.parse(next.startedAt) - Date.parse(next.schedule!.plannedStartAt)} ms`,
    );
  }, 90_000);
  it('puts a FOLLOW clip with a MIX on air its length before the clip before it runs out, within a frame of plan, that one PLAYED, the output crossfading', async () => {
    const rig = (mixRig = await ffmpegRunner(mediaDir, FORMAT));
    const T = 10; // MIX 400 ms, in frames
    const t0 = Math.ceil((Date.now() + 4000) / FRAME_MS) * FRAME_MS;
    const mix = (name: string, durationMs: number) => ({
      ...clip(name, `${name}.mp4`, durationMs),
      transition: 'MIX' as const,
      transitionMs: T * FRAME_MS,
    });
    await rig.runner.apply(
      ScheduleSchema.parse({
        version: 1,
        videoFormat: FORMAT,
        timeZone: 'UTC',
        events: [
          {
            eventId: 'h1',
            trigger: 'HARD',
            at: new Date(t0).toISOString(),
            content: { kind: 'CLIP', clip: clip('red', 'red.mp4', 2000) },
          },
          { eventId: 'f1', trigger: 'FOLLOW', content: { kind: 'CLIP', clip: mix('blue', 2000) } },
          { eventId: 'f2', trigger: 'FOLLOW', content: { kind: 'CLIP', clip: mix('green', 1000) } },
        ],
        filler: [clip('fill', 'fill.mp4', 3000)],
      }),
    );
    // Each clip with a MIX where the clip before it runs out, less the MIX.
    const blue = t0 + 2000 - T * FRAME_MS;
    const green = blue + 2000 - T * FRAME_MS;
    await until(
      () => rig.onAir().some((e) => Date.parse(e.schedule!.plannedStartAt) === green + 1000),
      'the filler after green',
      20_000,
    );
    // An encoder behind real time (a loaded machine) is up to a second behind the frames made (maxBehindMs),
    // and the preview writes a segment a second: closed now, the preview would end before green does.
    await sleep(2500);
    await rig.close();
    mixRig = null;

    const aired = rig.onAir().filter((e) => Date.parse(e.schedule!.plannedStartAt) >= t0);
    expect(aired.map((e) => [e.itemId, Date.parse(e.schedule!.plannedStartAt)])).toEqual([
      ['item-red', t0],
      ['item-blue', blue],
      ['item-green', green],
      ['item-fill', green + 1000],
    ]);
    const lateness = aired.map((e) => Date.parse(e.startedAt) - Date.parse(e.schedule!.plannedStartAt));
    const asRun = rig.log
      .after(0)
      .filter((e) => e.kind !== 'STATE_CHANGED')
      .map((e) =>
        [
          e.kind,
          'itemId' in e ? e.itemId : '',
          'startedAt' in e && e.startedAt ? Date.parse(e.startedAt) - t0 : '',
          'endedAt' in e ? Date.parse(e.endedAt) - t0 : '',
          'how' in e ? e.how : '',
          'message' in e ? e.message : '',
        ].join(' '),
      );
    for (const [i, late] of lateness.entries())
      expect(Math.abs(late), `${aired[i].itemId}; ${asRun.join('; ')}`).toBeLessThanOrEqual(FRAME_MS);
    // The outgoing clip ends PLAYED (its tail aired under the MIX) on the frame the incoming one took air.
    const ended = rig.ended().filter((e) => Date.parse(e.schedule!.plannedStartAt) >= t0);
    expect(ended.slice(0, 3).map((e) => [e.itemId, e.how, e.endedAt])).toEqual([
      ['item-red', 'PLAYED', aired[1].startedAt],
      ['item-blue', 'PLAYED', aired[2].startedAt],
      ['item-green', 'PLAYED', aired[3].startedAt],
    ]);

    // The output: red, T frames between red and blue moving toward blue, blue, the same toward green, green.
    const all = await previewFrames(rig.hls.dir, reference, [
      ['red', 'blue'],
      ['blue', 'green'],
    ]);
    const shown = all.slice(all.findIndex((f) => f.colour === 'red'));
    const seen = runs(shown).slice(0, 5);
    const dropped = rig.framesDropped();
    console.info(
      `MIX on the ffmpeg engine: planned → aired (ms) ${aired.map((e, i) => `${e.itemId} ${lateness[i]}`).join(', ')}; output ${JSON.stringify(seen)}; ${dropped} dropped`,
    );
    expect(seen.map(([colour]) => colour)).toEqual(['red', 'between', 'blue', 'between', 'green']);
    for (const [from, to] of [
      ['red', 'blue'],
      ['blue', 'green'],
    ]) {
      const mixed = blends(shown.filter((f) => 'from' in f && f.from === from && f.to === to));
      for (let i = 1; i < mixed.length; i++) expect(mixed[i]).toBeGreaterThan(mixed[i - 1] - (dropped ? 0.02 : 0));
    }
    // Frames the decoders lost are shown as repeats: only without any are the counts exact.
    if (dropped === 0)
      expect(seen).toEqual([
        ['red', 50 - T],
        ['between', T],
        ['blue', 50 - 2 * T],
        ['between', T],
        ['green', 25 - T],
      ]);
  }, 60_000);
});
