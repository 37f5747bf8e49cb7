import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { framesLostReason } from '../../src/sidecar/engines/engine.ts';
import { FfmpegEngine } from '../../src/sidecar/engines/ffmpeg/index.ts';
import type { FfmpegEngineOptions } from '../../src/sidecar/engines/ffmpeg/options.ts';
import { hlsSettings, type HlsSettings } from '../../src/sidecar/hls.ts';
import { VIDEO_MODES } from '../../src/sidecar/video-modes.ts';
import { until } from '../helpers/until.ts';
import { CHANNEL_ID, makeMediaDir, watchPlay } from './helpers.ts';
import { type Colour, colourRuns, outputColours } from './preview-frames.ts';

// When the machine falls behind real time (here: the encoder stopped, the sidecar's event loop blocked),
// the ffmpeg engine owes the encoder the frames it cannot take and pays them back as repeats, so that
// output frame N stays wall frame N; past its debt bound frames are lost, said by ENGINE_BEHIND,
// framesDropped and the as-run reason. Measured on the output itself: the preview's frames, one encode
// of the same stream as the program, decoded frame by frame.
const FRAME_MS = 40; // 576p2500

let dir: string;
let engine: FfmpegEngine | null = null;
let hls: HlsSettings;
let dropped = 0;
let alarms: string[] = [];
let stopped: number | null = null;

beforeAll(async () => {
  dir = await makeMediaDir(
    { 'red.mp4': 25, 'green.mp4': 4, 'blue.mp4': 4 },
    { 'red.mp4': 'red', 'green.mp4': 'green', 'blue.mp4': 'blue' },
  );
}, 60_000);

afterEach(async () => {
  // An encoder left stopped by a failed test would hold its close for killAfterMs.
  if (stopped) process.kill(stopped, 'SIGCONT');
  stopped = null;
  await engine?.close();
  engine = null;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function startEngine(options: Partial<FfmpegEngineOptions> = {}): Promise<FfmpegEngine> {
  dropped = 0;
  alarms = [];
  hls = hlsSettings(dir, CHANNEL_ID, { listSize: 200 });
  engine = new FfmpegEngine({
    mode: VIDEO_MODES.get('576p2500')!,
    output: { type: 'UDP', url: 'udp://127.0.0.1:9' },
    hls,
    report: {
      error: () => undefined,
      count: (name, n = 1) => void (name === 'framesDropped' && (dropped += n)),
      raise: (kind) => void alarms.push(`raised ${kind}`),
      clear: (kind) => void alarms.push(`cleared ${kind}`),
    },
    ...options,
  });
  await engine.start();
  return engine;
}

/** The encoder ffmpeg of the engine's session: the process the test stops to make playout fall behind. */
function encoderPid(e: FfmpegEngine): number {
  const enc = (e as unknown as { enc: { proc: ChildProcess; started: boolean } | null }).enc;
  if (!enc?.started || !enc.proc.pid) throw new Error('no encoder taking frames');
  return enc.proc.pid;
}

/** Stops the encoder for `ms` (SIGSTOP, then SIGCONT): it takes no frame meanwhile. Returns the frames of wall time it missed. */
async function stopEncoder(e: FfmpegEngine, ms: number): Promise<number> {
  const pid = encoderPid(e);
  const from = performance.now();
  process.kill(pid, 'SIGSTOP');
  stopped = pid;
  await sleep(ms);
  process.kill(pid, 'SIGCONT');
  stopped = null;
  return Math.round((performance.now() - from) / FRAME_MS);
}

/** Runs of one colour after the black the encoder starts on: [colour, frames]. */
async function shown(): Promise<[Colour, number][]> {
  const colours = await outputColours(hls.dir);
  return colourRuns(colours.slice(colours.findIndex((c) => c !== 'black')));
}

const play = (e: FfmpegEngine, itemId: string, file: string, durationMs: number, startAtMs?: number) =>
  watchPlay(e, join(dir, 'clips'), itemId, file, durationMs, startAtMs);

/** Blocks this process (the engine's clock with it) for `ms`: a starved sidecar. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/**
 * Red timed at T0, green timed at T0 + `greenAfterMs`, blue queued after green: the output must show red for
 * exactly `greenAfterMs` of frames and green for exactly its 100, whatever happened in between.
 */
async function schedule(e: FfmpegEngine, greenAfterMs: number) {
  // T0 on the channel's frame grid, far enough ahead for the decoder to have red ready.
  const t0 = Math.ceil((Date.now() + 3000) / FRAME_MS) * FRAME_MS;
  const red = play(e, 'RED', 'red.mp4', 25_000, t0);
  const green = play(e, 'GREEN', 'green.mp4', 4000, t0 + greenAfterMs);
  const blue = play(e, 'BLUE', 'blue.mp4', 2000);
  await until(() => red.onAirAt !== null, 'red on air', 30_000, 10);
  return { t0, red, green, blue };
}

describe('the ffmpeg engine when the machine falls behind real time', () => {
  it('owes the encoder the frames it could not take and pays them back: HARD start and clip lengths exact in output frames', async () => {
    const e = await startEngine();
    const { t0, red, green, blue } = await schedule(e, 16_000);
    await sleep(1000);
    // The encoder stopped 3 s (its pipe holds a second, the rest is owed), then the sidecar itself blocked 1.5 s.
    const missed = await stopEncoder(e, 3000);
    await sleep(3000);
    blockEventLoop(1500);
    await until(() => blue.end !== null, 'blue to play out after green', 40_000, 10);
    const lost = dropped;
    const behind = [...alarms];
    await e.close();
    engine = null;

    expect(red.onAirAt).toBe(t0);
    expect(green.onAirAt).toBe(t0 + 16_000);
    expect(red.end).toEqual({ ok: true, endedAtMs: t0 + 16_000, cut: 'TRUNCATED' });
    expect(green.end).toEqual({ ok: true, endedAtMs: t0 + 20_000 });
    const runs = await shown();
    console.info(
      `[drift] encoder stopped ${missed} frames, event loop blocked 1.5 s: ${lost} frames dropped (a decoder behind, ` +
        `the last frame repeated); output red ${runs[0]?.[1]}/400, green ${runs[1]?.[1]}/100; alarms ${behind.join(', ') || 'none'}`,
    );
    // Nothing lost for good (red's end says none): the output holds every wall frame, the owed ones as repeats
    // of red. Frames dropped while the blocked process left red's decoder behind are repeats too.
    expect(runs.slice(0, 3).map(([c]) => c)).toEqual(['red', 'green', 'blue']);
    expect(runs[0][1]).toBe(400);
    expect(runs[1][1]).toBe(100);
    expect(runs[2][1]).toBeGreaterThanOrEqual(50);
    expect(framesLostReason(red.end!)).toBeNull();
    // Owing more than a second of frames is said, and unsaid once all was paid back (the blocked loop may say it again).
    expect(behind.length % 2).toBe(0);
    expect(behind.length).toBeGreaterThanOrEqual(2);
    expect(behind).toEqual(behind.map((_, i) => (i % 2 ? 'cleared ENGINE_BEHIND' : 'raised ENGINE_BEHIND')));
  }, 90_000);

  it('a HARD start while frames are owed still lands on its own output frame: each clip owed is repeated as its own', async () => {
    const e = await startEngine();
    const { t0, red, green, blue } = await schedule(e, 6000);
    // The encoder stopped from 1.5 s before green's instant to 1.5 s after: red and green frames owed in one debt.
    await sleep(t0 + 4500 - Date.now());
    const missed = await stopEncoder(e, 3000);
    await until(() => blue.end !== null, 'blue to play out after green', 40_000, 10);
    await e.close();
    engine = null;

    const runs = await shown();
    console.info(`[drift] encoder stopped ${missed} frames across a HARD start: output ${JSON.stringify(runs)}`);
    expect(green.onAirAt).toBe(t0 + 6000);
    expect(red.end).toEqual({ ok: true, endedAtMs: t0 + 6000, cut: 'TRUNCATED' });
    expect(runs.slice(0, 3).map(([c]) => c)).toEqual(['red', 'green', 'blue']);
    expect(runs[0][1]).toBe(150);
    expect(runs[1][1]).toBe(100);
  }, 90_000);

  it('past its debt bound loses frames, counted, with ENGINE_BEHIND up and the clip saying how many', async () => {
    // A 2 s bound, the encoder stopped 6 s: its pipe holds 1 s, 2 s are owed and paid back, the rest is lost.
    const e = await startEngine({ maxDebtMs: 2000 });
    const { t0, red, green, blue } = await schedule(e, 16_000);
    await sleep(1000);
    const missed = await stopEncoder(e, 6000);
    const upWhileStopped = [...alarms];
    await until(() => blue.end !== null, 'blue to play out after green', 40_000, 10);
    const lost = dropped;
    const behind = [...alarms];
    await e.close();
    engine = null;

    const runs = await shown();
    const framesLost = red.end?.ok ? (red.end.framesLost ?? 0) : 0;
    console.info(
      `[drift] encoder stopped ${missed} frames, debt bound 50 frames: ${framesLost} frames lost (${lost} dropped); ` +
        `output red ${runs[0]?.[1]}/400, green ${runs[1]?.[1]}/100; alarms ${behind.join(', ')}`,
    );
    expect(upWhileStopped).toEqual(['raised ENGINE_BEHIND']);
    expect(behind).toEqual(['raised ENGINE_BEHIND', 'cleared ENGINE_BEHIND']);
    // What was lost is what the pipe and the bound could not hold (one frame either side for the timing of the stop).
    expect(framesLost).toBeGreaterThan(0);
    expect(framesLost).toBeLessThanOrEqual(missed - 50 - 25 + 2);
    expect(framesLost).toBeGreaterThanOrEqual(missed - 50 - 27 - 2);
    // framesDropped counts them (and any frame a lagging decoder cost, shown as a repeat).
    expect(lost).toBeGreaterThanOrEqual(framesLost);
    // The output is short by exactly the frames lost, all of them red's: green's start and length are exact.
    expect(runs.slice(0, 3).map(([c]) => c)).toEqual(['red', 'green', 'blue']);
    expect(runs[0][1]).toBe(400 - framesLost);
    expect(runs[1][1]).toBe(100);
    // The engine's times stay the wall clock's; red's as-run entry says what the output lost.
    expect(green.onAirAt).toBe(t0 + 16_000);
    expect(red.end).toEqual({ ok: true, endedAtMs: t0 + 16_000, cut: 'TRUNCATED', framesLost });
    expect(framesLostReason(red.end!)).toBe(`${framesLost} frames lost: playout fell behind real time`);
    expect(green.end).toEqual({ ok: true, endedAtMs: t0 + 20_000 });
  }, 90_000);
});
