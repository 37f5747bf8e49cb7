import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ClipListener, ClipResult, EngineClip } from '../../src/sidecar/engines/engine.ts';
import type { FfmpegEngine } from '../../src/sidecar/engines/ffmpeg/index.ts';

// What the ffmpeg engine's tests read back: the clips they play on an engine,
// watched, and the engine's output frame by frame, each frame by its colour
// (their clips are solid colours, so each frame says which clip it came from).

const run = promisify(execFile);

/** A clip played on the engine, as its listener saw it. */
export interface Watched {
  /** The instant of the clip's first frame, as the engine reported it. */
  onAirAt: number | null;
  /** Date.now() when onAir was called: how late after its frame's instant the engine said so. */
  calledAt: number | null;
  end: ClipResult | null;
}

/** Plays `clipsDir/file` (a cut, from its start; at `startAtMs` when given) and watches it. */
export function watchPlay(
  e: FfmpegEngine,
  clipsDir: string,
  itemId: string,
  file: string,
  durationMs: number,
  startAtMs?: number,
): Watched {
  const w: Watched = { onAirAt: null, calledAt: null, end: null };
  const clip: EngineClip = {
    itemId,
    file: join(clipsDir, file),
    inPointMs: 0,
    durationMs,
    transition: 'CUT',
    transitionMs: 0,
    startAtMs,
  };
  const listener: ClipListener = {
    onAir: (at) => {
      w.onAirAt = at;
      w.calledAt = Date.now();
    },
    onEnd: (result) => void (w.end = result),
  };
  e.play(clip, listener);
  return w;
}

export type Colour = 'black' | 'red' | 'green' | 'blue' | 'other';

/** The preview's frames in output order, each by its colour (the program and the preview are one encode of one stream). */
export async function outputColours(hlsDir: string): Promise<Colour[]> {
  // The playlist is live (no end tag): ffmpeg would wait on it for more, so its segments are read as one stream.
  const playlist = await readFile(join(hlsDir, 'index.m3u8'), 'utf8');
  const segments = playlist.split('\n').filter((line) => line.endsWith('.ts'));
  const { stdout } = await run(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      `concat:${segments.map((name) => join(hlsDir, name)).join('|')}`,
      '-vf',
      'scale=4:4',
      '-fps_mode',
      'passthrough',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  const colours: Colour[] = [];
  const hi = (v: number) => v > 120;
  const lo = (v: number) => v < 80;
  for (let at = 0; at + 48 <= stdout.length; at += 48) {
    // The middle pixel of the 4x4 frame.
    const [r, g, b] = stdout.subarray(at + 5 * 3, at + 5 * 3 + 3);
    if (lo(r) && lo(g) && lo(b)) colours.push('black');
    else if (hi(r) && lo(g) && lo(b)) colours.push('red');
    else if (lo(r) && hi(g) && lo(b)) colours.push('green');
    else if (lo(r) && lo(g) && hi(b)) colours.push('blue');
    else colours.push('other');
  }
  return colours;
}

/** Runs of one colour: [colour, frames]. */
export function colourRuns(colours: Colour[]): [Colour, number][] {
  const out: [Colour, number][] = [];
  for (const c of colours) {
    const last = out.at(-1);
    if (last && last[0] === c) last[1]++;
    else out.push([c, 1]);
  }
  return out;
}
