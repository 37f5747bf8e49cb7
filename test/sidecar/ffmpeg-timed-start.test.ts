import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FfmpegEngine } from '../../src/sidecar/engines/ffmpeg/index.ts';
import { hlsSettings, type HlsSettings } from '../../src/sidecar/hls.ts';
import { VIDEO_MODES } from '../../src/sidecar/video-modes.ts';
import { frameFrom, frameRateOf, frameStartMs } from '../../src/schedule/frames.ts';
import { until } from '../helpers/until.ts';
import { CHANNEL_ID, makeMediaDir, watchPlay } from './helpers.ts';
import { colourRuns, outputColours } from './preview-frames.ts';
const FRAME_MS = 40; // 576p2500

// Clips of one solid colour each, so that every frame of the output says which clip it came from.
let dir: string;
let engine: FfmpegEngine | null = null;
let hls: HlsSettings;
let dropped = 0;

beforeAll(async () => {
  dir = await makeMediaDir(
    { 'red.mp4': 10, 'green.mp4': 3, 'blue.mp4': 3 },
    { 'red.mp4': 'red', 'green.mp4': 'green', 'blue.mp4': 'blue' },
  );
}, 60_000);

afterEach(async () => {
  await engine?.close();
  engine = null;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function startEngine(mode = '576p2500'): Promise<FfmpegEngine> {
  dropped = 0;
  hls = hlsSettings(dir, CHANNEL_ID, { listSize: 100 });
  engine = new FfmpegEngine({
    mode: VIDEO_MODES.get(mode)!,
    output: { type: 'UDP', url: 'udp://127.0.0.1:9' },
    hls,
    report: { error: () => undefined, count: (name, n = 1) => void (name === 'framesDropped' && (dropped += n)) },
  });
  await engine.start();
  return engine;
}

const play = (e: FfmpegEngine, itemId: string, file: string, durationMs: number, startAtMs?: number) =>
  watchPlay(e, join(dir, 'clips'), itemId, file, durationMs, startAtMs);
const outputRuns = async () => colourRuns(await outputColours(hls.dir));

describe('a timed start on the ffmpeg engine', () => {
  it('cuts the clip on air on its frame, with no gap, and drops the clip that was to follow', async () => {
    const e = await startEngine();
    const a = play(e, 'A', 'red.mp4', 10_000);
    await until(() => a.onAirAt !== null, 'A on air', 30_000, 10);
    // The follower the sequencer queues behind A (it never airs), then B timed 3 s or more ahead, on a frame
    // of A's, and D to follow B.
    const c = play(e, 'C', 'green.mp4', 2000);
    const ahead = Math.ceil((Date.now() + 3000 - a.onAirAt!) / FRAME_MS);
    const startAtMs = a.onAirAt! + ahead * FRAME_MS;
    expect(startAtMs % FRAME_MS).toBe(0); // the channel's frame grid: frame n at n × 40 ms since the epoch
    const b = play(e, 'B', 'blue.mp4', 1000, startAtMs);
    const d = play(e, 'D', 'green.mp4', 400);
    await until(() => d.end !== null, 'D to play out', 30_000, 10);
    const droppedMeanwhile = dropped;
    await e.close();
    engine = null;

    expect(b.onAirAt).toBe(startAtMs);
    expect(a.end).toEqual({ ok: true, endedAtMs: startAtMs, cut: 'TRUNCATED' });
    expect(c.onAirAt).toBeNull();
    expect(c.end).toEqual({ ok: true, cut: 'SKIPPED' });
    expect(b.end).toEqual({ ok: true, endedAtMs: startAtMs + 1000 });
    expect(d.onAirAt).toBe(startAtMs + 1000);

    // What went out: black before A, A's red up to the cut, B's blue from the very next frame, then D's green
    // (C's green never).
    const shown = (await outputRuns()).filter(([colour]) => colour !== 'black');
    expect(shown.map(([colour]) => colour)).toEqual(['red', 'blue', 'green']);
    const [[, redFrames], [, blueFrames]] = shown;
    // How late the engine's tick for B's frame ran on this machine, and what it lost.
    console.info(
      `timed start: B's frame made ${b.calledAt! - startAtMs} ms after its instant; ${droppedMeanwhile} frames dropped; red ${redFrames}/${ahead}, blue ${blueFrames}/25`,
    );
    // A aired `ahead` frames, then B its 25. A frame counted as dropped is either not sent (the encoder behind)
    // or, while a decoder lags, the last frame sent again: only then can the counts differ.
    if (droppedMeanwhile === 0) expect([redFrames, blueFrames]).toEqual([ahead, 25]);
    expect(redFrames + blueFrames).toBeLessThanOrEqual(ahead + 25 + droppedMeanwhile);
    expect(redFrames + blueFrames).toBeGreaterThanOrEqual(ahead + 25 - droppedMeanwhile);
  }, 60_000);

  it('a clip whose instant has passed cuts as soon as its first frame is ready, reporting that instant', async () => {
    const e = await startEngine();
    const a = play(e, 'A', 'red.mp4', 10_000);
    await until(() => a.onAirAt !== null, 'A on air', 30_000, 10);
    const calledAt = Date.now();
    const b = play(e, 'B', 'blue.mp4', 1000, calledAt - 5000);
    const d = play(e, 'D', 'green.mp4', 400);
    await until(() => d.end !== null, 'D to play out', 30_000, 10);
    await e.close();
    engine = null;

    expect(b.onAirAt).not.toBeNull();
    expect(b.onAirAt!).toBeGreaterThanOrEqual(calledAt - FRAME_MS);
    expect(b.onAirAt! % FRAME_MS).toBe(0);
    expect(a.end).toEqual({ ok: true, endedAtMs: b.onAirAt, cut: 'TRUNCATED' });
    expect(b.end).toEqual({ ok: true, endedAtMs: b.onAirAt! + 1000 });
    // Red straight to blue: the clip on air went on while B's decoder opened its file.
    const shown = (await outputRuns()).filter(([colour]) => colour !== 'black');
    expect(shown.map(([colour]) => colour)).toEqual(['red', 'blue', 'green']);
    if (dropped === 0) expect(shown[1][1]).toBe(25);
  }, 60_000);

  it('a clip queued before the timed one that ends earlier plays out, and the output holds until the instant', async () => {
    const e = await startEngine();
    const a = play(e, 'A', 'red.mp4', 1000);
    await until(() => a.onAirAt !== null, 'A on air', 30_000, 10);
    const startAtMs = a.onAirAt! + 2000;
    const b = play(e, 'B', 'blue.mp4', 1000, startAtMs);
    const d = play(e, 'D', 'green.mp4', 400);
    await until(() => d.end !== null, 'D, queued after B, to play out', 30_000, 10);
    await e.close();
    engine = null;

    expect(a.end).toEqual({ ok: true, endedAtMs: a.onAirAt! + 1000 });
    expect(b.onAirAt).toBe(startAtMs);
    expect(b.end).toEqual({ ok: true, endedAtMs: startAtMs + 1000 });
    expect(d.onAirAt).toBe(startAtMs + 1000);
    // Between A's end and B's instant the output idles as it does with nothing queued: A's last frame held
    // for half a second, then black (a schedule fills such a gap with filler).
    const shown = await outputRuns();
    const red = shown.findIndex(([colour]) => colour === 'red');
    expect(shown.slice(red, red + 4).map(([colour]) => colour)).toEqual(['red', 'black', 'blue', 'green']);
    if (dropped === 0) {
      expect(shown[red][1]).toBe(25 + 13);
      expect(shown[red + 1][1]).toBe(50 - 25 - 13);
      // D's last frame is held after it (nothing follows), so its run is at least its 10 frames.
      expect(shown[red + 2]).toEqual(['blue', 25]);
      expect(shown[red + 3][1]).toBeGreaterThanOrEqual(10);
    }
  }, 60_000);

  it('names the frame the schedule plans at 29.97 fps, whose frames fall between whole ms', async () => {
    const rate = frameRateOf('720p2997');
    const e = await startEngine('720p2997');
    const a = play(e, 'A', 'red.mp4', 10_000);
    await until(() => a.onAirAt !== null, 'A on air', 30_000, 10);
    // The plan's instant of a frame about three seconds ahead (whole ms, rounded down), as the runner passes it.
    const frame = frameFrom(Date.now() + 3000, rate);
    const startAtMs = frameStartMs(frame, rate);
    const b = play(e, 'B', 'blue.mp4', 1000, startAtMs);
    await until(() => b.onAirAt !== null, 'B on air', 30_000, 10);
    expect(frameStartMs(frameFrom(a.onAirAt!, rate), rate)).toBe(a.onAirAt);
    expect(b.onAirAt).toBe(startAtMs);
    expect(a.end).toEqual({ ok: true, endedAtMs: startAtMs, cut: 'TRUNCATED' });
  }, 60_000);
});
