import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

// What the ffmpeg engine's output showed, frame by frame: its HLS preview (one encode of the same stream as the
// program) decoded, each frame's plane means named by the solid colour clip it shows, or placed between two
// (previewFrames); or, for tests of timing alone, each frame loosely by its middle pixel's colour (outputColours).

const run = promisify(execFile);

export type Yuv = [number, number, number];

/** Every frame of `input` through the filter `vf`, as raw bytes in `pixFmt` (its own format by default). */
async function rawFrames(input: string, vf: string, pixFmt?: string): Promise<Buffer> {
  const { stdout } = await run(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      input,
      '-vf',
      vf,
      '-fps_mode',
      'passthrough',
      '-f',
      'rawvideo',
      ...(pixFmt ? ['-pix_fmt', pixFmt] : []),
      'pipe:1',
    ],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

/** The preview's segments as one ffmpeg input: the playlist is live (no end tag), ffmpeg would wait on it for more. */
async function previewInput(hlsDir: string): Promise<string> {
  const playlist = await readFile(join(hlsDir, 'index.m3u8'), 'utf8');
  const segments = playlist.split('\n').filter((line) => line.endsWith('.ts'));
  return `concat:${segments.map((name) => join(hlsDir, name)).join('|')}`;
}

/** The mean Y, U and V of every frame of a file (or of the segments, one stream), in order. */
export async function frameMeans(input: string): Promise<Yuv[]> {
  const stdout = await rawFrames(input, 'scale=8:8:flags=area,format=yuv444p');
  const means: Yuv[] = [];
  const mean = (at: number) => stdout.subarray(at, at + 64).reduce((sum, v) => sum + v, 0) / 64;
  for (let at = 0; at + 192 <= stdout.length; at += 192) means.push([mean(at), mean(at + 64), mean(at + 128)]);
  return means;
}

/** Each colour clip's YUV as the preview shows it (its first frame), and black. */
export async function colourReferences(clipsDir: string, colours: string[]): Promise<Map<string, Yuv>> {
  const reference = new Map<string, Yuv>();
  for (const colour of colours) reference.set(colour, (await frameMeans(join(clipsDir, `${colour}.mp4`)))[0]);
  reference.set('black', [16, 128, 128]);
  return reference;
}

/** A frame of the output: one of the clips' colours, or a blend `p` of the way from `from` to `to`. */
export type Shown =
  | { colour: string }
  | { colour: 'between'; p: number; from: string; to: string }
  | { colour: 'other'; yuv: Yuv };

/**
 * The preview's frames after the black the encoder starts on, each named by
 * colour or placed between two colours of `pairs` ([from, to]).
 */
export async function previewFrames(
  hlsDir: string,
  reference: Map<string, Yuv>,
  pairs: [string, string][],
): Promise<Shown[]> {
  const means = await frameMeans(await previewInput(hlsDir));
  const shown = means.map((yuv): Shown => {
    for (const [colour, ref] of reference) if (yuv.every((v, i) => Math.abs(v - ref[i]) < 4)) return { colour };
    for (const [from, to] of pairs) {
      // On the line from one colour to the other (a linear blend in YUV), strictly between them.
      const [x, y] = [reference.get(from)!, reference.get(to)!];
      const axis = y.map((v, i) => v - x[i]);
      const norm = axis.reduce((sum, v) => sum + v * v, 0);
      const p = yuv.reduce((sum, v, i) => sum + (v - x[i]) * axis[i], 0) / norm;
      const off = Math.max(...yuv.map((v, i) => Math.abs(v - (x[i] + p * axis[i]))));
      if (p > 0 && p < 1 && off < 4) return { colour: 'between', p, from, to };
    }
    return { colour: 'other', yuv };
  });
  return shown.slice(shown.findIndex((s) => s.colour !== 'black'));
}

/** Runs of one colour (blends from the same pair one run): [colour, frames]. */
export function runs(shown: Shown[]): [string, number][] {
  const out: [string, number][] = [];
  let lastKey = '';
  for (const s of shown) {
    const key = 'from' in s ? `${s.from}>${s.to}` : s.colour;
    const last = out.at(-1);
    if (last && key === lastKey) last[1]++;
    else out.push([s.colour, 1]);
    lastKey = key;
  }
  return out;
}

/** The blend positions of the frames between two colours, in output order. */
export function blends(shown: Shown[]): number[] {
  return shown.flatMap((s) => ('p' in s ? [s.p] : []));
}

export type Colour = 'black' | 'red' | 'green' | 'blue' | 'other';

/**
 * The preview's frames in output order, each by the colour of its middle
 * pixel, loosely (a clip's colour through the encoder, edges included): for
 * tests of timing, where a frame need only say which clip it came from.
 */
export async function outputColours(hlsDir: string): Promise<Colour[]> {
  const stdout = await rawFrames(await previewInput(hlsDir), 'scale=4:4', 'rgb24');
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
