import { chmod, copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClipHandle, ClipListener, ClipResult, EngineClip } from '../../src/sidecar/engines/engine.ts';
import { FfmpegEngine } from '../../src/sidecar/engines/ffmpeg/index.ts';
import { hlsSettings, type HlsSettings } from '../../src/sidecar/hls.ts';
import { VIDEO_MODES } from '../../src/sidecar/video-modes.ts';
import { until } from '../helpers/until.ts';
import { CHANNEL_ID, makeMediaDir } from './helpers.ts';
import { blends, colourReferences, previewFrames, runs, type Yuv } from './preview-frames.ts';

// A clip queued behind another with a transition takes air that many frames before the other runs out, the
// two blended meanwhile, as on CasparCG. Measured on the output itself: the preview's frames (one encode of
// the same stream as the program) decoded frame by frame, each placed between the two clips' colours.
const FRAME_MS = 40; // 576p2500

let dir: string;
let engine: FfmpegEngine | null = null;
let hls: HlsSettings;
let dropped = 0;
/** Each colour clip's YUV as the preview shows it. */
let reference: Map<string, Yuv>;

beforeAll(async () => {
  dir = await makeMediaDir(
    { 'red.mp4': 3, 'blue.mp4': 3, 'green.mp4': 2 },
    { 'red.mp4': 'red', 'blue.mp4': 'blue', 'green.mp4': 'green' },
  );
  reference = await colourReferences(join(dir, 'clips'), ['red', 'blue', 'green']);
}, 60_000);

afterEach(async () => {
  await engine?.close();
  engine = null;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function startEngine(ffmpegPath?: string): Promise<FfmpegEngine> {
  dropped = 0;
  hls = hlsSettings(dir, CHANNEL_ID, { listSize: 200 });
  engine = new FfmpegEngine({
    mode: VIDEO_MODES.get('576p2500')!,
    output: { type: 'UDP', url: 'udp://127.0.0.1:9' },
    hls,
    report: { error: () => undefined, count: (name, n = 1) => void (name === 'framesDropped' && (dropped += n)) },
    ffmpegPath,
  });
  await engine.start();
  return engine;
}

interface Watched {
  onAirAt: number | null;
  end: ClipResult | null;
  handle: ClipHandle;
}

function play(
  e: FfmpegEngine,
  itemId: string,
  colour: string,
  durationMs: number,
  transition: EngineClip['transition'] = 'CUT',
  transitionMs = 0,
): Watched {
  const clip: EngineClip = {
    itemId,
    file: join(dir, 'clips', `${colour}.mp4`),
    inPointMs: 0,
    durationMs,
    transition,
    transitionMs,
  };
  const w = { onAirAt: null, end: null } as Omit<Watched, 'handle'>;
  const listener: ClipListener = {
    onAir: (at) => void (w.onAirAt = at),
    onEnd: (result) => void (w.end = result),
  };
  return Object.assign(w, { handle: e.play(clip, listener) });
}

/** The output's frames, each named by colour or placed between `from` and `to`. */
const output = (from: string, to: string) => previewFrames(hls.dir, reference, [[from, to]]);

describe('transitions on the ffmpeg engine', () => {
  it('a MIX takes air its length before the clip on air runs out, the two crossfading meanwhile', async () => {
    const e = await startEngine();
    const a = play(e, 'A', 'red', 2000);
    const b = play(e, 'B', 'blue', 2000, 'MIX', 400);
    const c = play(e, 'C', 'green', 1000);
    await until(() => c.end !== null, 'C to play out', 30_000, 10);
    await e.close();
    engine = null;

    // B on air, and A ended as played out (not cut), at the same frame: 10 frames before A's end.
    expect(a.onAirAt! % FRAME_MS).toBe(0);
    expect(b.onAirAt).toBe(a.onAirAt! + 2000 - 10 * FRAME_MS);
    expect(a.end).toEqual({ ok: true, endedAtMs: b.onAirAt });
    expect(b.end).toEqual({ ok: true, endedAtMs: b.onAirAt! + 2000 });
    expect(c.onAirAt).toBe(b.onAirAt! + 2000);

    const shown = await output('red', 'blue');
    const seen = runs(shown);
    const mixed = blends(shown);
    console.info(
      `[mix] output ${JSON.stringify(seen)}; blends ${mixed.map((p) => p.toFixed(2)).join(' ')}; ${dropped} dropped`,
    );
    expect(seen.slice(0, 4).map(([colour]) => colour)).toEqual(['red', 'between', 'blue', 'green']);
    // Each blend nearer blue than the one before (a frame a decoder lost shows the one before again).
    for (let i = 1; i < mixed.length; i++) expect(mixed[i]).toBeGreaterThan(mixed[i - 1] - (dropped ? 0.02 : 0));
    // Frames the decoders lost are shown as repeats: only without any are the counts exact.
    if (dropped === 0)
      expect(seen.slice(0, 3)).toEqual([
        ['red', 40],
        ['between', 10],
        ['blue', 40],
      ]);
    const together = seen.slice(0, 3).reduce((sum, [, frames]) => sum + frames, 0);
    expect(together).toBe(50 + 50 - 10);
  }, 60_000);

  it('a CUT, or a MIX of no length, follows the clip on air back to back', async () => {
    const e = await startEngine();
    const a = play(e, 'A', 'red', 1000);
    const b = play(e, 'B', 'blue', 1000, 'CUT', 400);
    const c = play(e, 'C', 'green', 1000, 'MIX', 0);
    await until(() => c.end !== null, 'C to play out', 30_000, 10);
    await e.close();
    engine = null;

    expect(b.onAirAt).toBe(a.onAirAt! + 1000);
    expect(a.end).toEqual({ ok: true, endedAtMs: b.onAirAt });
    expect(c.onAirAt).toBe(b.onAirAt! + 1000);
    const seen = runs(await output('red', 'blue'));
    expect(seen.slice(0, 3).map(([colour]) => colour)).toEqual(['red', 'blue', 'green']);
    if (dropped === 0)
      expect(seen.slice(0, 2)).toEqual([
        ['red', 25],
        ['blue', 25],
      ]);
  }, 60_000);

  it('a skip during the transition takes the outgoing clip off air with the incoming one', async () => {
    const e = await startEngine();
    const a = play(e, 'A', 'red', 2000);
    const b = play(e, 'B', 'blue', 2000, 'MIX', 1000);
    const c = play(e, 'C', 'green', 1000);
    await until(() => b.onAirAt !== null, 'B on air', 30_000, 5);
    await sleep(300);
    await b.handle.stop();
    await until(() => c.end !== null, 'C to play out', 30_000, 10);
    await e.close();
    engine = null;

    expect(b.onAirAt).toBe(a.onAirAt! + 2000 - 25 * FRAME_MS);
    expect(a.end).toEqual({ ok: true, endedAtMs: b.onAirAt });
    expect(b.end).toBeNull();

    const shown = await output('red', 'blue');
    const seen = runs(shown);
    console.info(`[mix] skipped mid-transition: output ${JSON.stringify(seen)}; ${dropped} dropped`);
    // Red, part of the crossfade, then green at once: neither the rest of red's tail nor blue alone.
    expect(seen.slice(0, 3).map(([colour]) => colour)).toEqual(['red', 'between', 'green']);
    expect(seen.slice(3).every(([colour]) => colour === 'green' || colour === 'black')).toBe(true);
    const [, [, mixedFrames]] = seen;
    expect(mixedFrames).toBeLessThan(25);
    // C airs from the frame after the last one of the crossfade.
    if (dropped === 0) expect(c.onAirAt).toBe(b.onAirAt! + mixedFrames * FRAME_MS);
  }, 60_000);

  it('a pause during the transition ends it: the blend holds, and the incoming clip resumes alone', async () => {
    const e = await startEngine();
    const a = play(e, 'A', 'red', 2000);
    const b = play(e, 'B', 'blue', 2000, 'MIX', 1000);
    await until(() => b.onAirAt !== null, 'B on air', 30_000, 5);
    await sleep(200);
    b.handle.pause();
    await sleep(600);
    b.handle.resume();
    await until(() => b.end !== null, 'B to play out', 30_000, 10);
    await e.close();
    engine = null;

    expect(a.end).toEqual({ ok: true, endedAtMs: b.onAirAt });
    const shown = await output('red', 'blue');
    const seen = runs(shown);
    const mixed = blends(shown);
    console.info(`[mix] paused mid-transition: output ${JSON.stringify(seen)}; last blend ${mixed.at(-1)?.toFixed(2)}`);
    // Red, the crossfade so far and its last frame held through the pause, then blue: no more of red's tail.
    expect(seen.slice(0, 3).map(([colour]) => colour)).toEqual(['red', 'between', 'blue']);
    expect(seen[1][1]).toBeGreaterThan(10);
    expect(mixed.at(-1)).toBeLessThan(0.8);
  }, 60_000);

  it('an incoming clip that fails during its transition leaves the outgoing tail to play out alone, then what follows', async () => {
    // B's decoder (an ffmpeg that gives no frame, then fails when the test says so) is late: the tail shows
    // alone from the handover, keeping B's time; when it fails, the tail plays on to its end and C follows.
    await copyFile(join(dir, 'clips', 'blue.mp4'), join(dir, 'clips', 'fails.mp4'));
    const wrapper = join(dir, 'ffmpeg-fails');
    await writeFile(
      wrapper,
      [
        '#!/bin/bash',
        'case "$*" in',
        `  *fails.mp4*) while [ ! -e ${join(dir, 'fail-now')} ]; do sleep 0.01; done; echo "broken stream" >&2; exit 1 ;;`,
        '  *) exec ffmpeg "$@" ;;',
        'esac',
        '',
      ].join('\n'),
    );
    await chmod(wrapper, 0o755);
    const e = await startEngine(wrapper);
    const a = play(e, 'A', 'red', 2000);
    const b = play(e, 'B', 'fails', 2000, 'MIX', 1000);
    const c = play(e, 'C', 'green', 1000);
    await until(() => a.end !== null, 'the handover to B', 30_000, 5);
    await sleep(300);
    await writeFile(join(dir, 'fail-now'), '');
    await until(() => c.end !== null, 'C to play out', 30_000, 10);
    await e.close();
    engine = null;

    expect(a.end).toEqual({ ok: true, endedAtMs: a.onAirAt! + 1000 });
    expect(b.onAirAt).toBeNull();
    expect(b.end).toMatchObject({ ok: false, message: expect.stringContaining('broken stream') });
    // C after the tail's 25 frames, not at B's failure.
    expect(c.onAirAt).toBe(a.onAirAt! + 2000);
    const seen = runs(await output('red', 'blue'));
    expect(seen.slice(0, 2)).toEqual([
      ['red', 50],
      ['green', expect.any(Number)],
    ]);
  }, 60_000);
});
