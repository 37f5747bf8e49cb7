import { z } from 'zod';

/**
 * One CasparCG video mode. The frame rate is timeScale / duration frames per
 * second: an interlaced mode's frames hold two fields each (1080i5000 is 25
 * frames, 50 fields a second), and frames are what msToFrames/framesToMs and
 * timecodes count. CasparCG 2.3/2.4 count clip positions and transition
 * lengths (SEEK, LENGTH, MIX n) in fields on interlaced modes, so AMCP
 * commands use ticks of 1/(frame rate × 2) there (casparcg/commands.ts,
 * tickRate), not these frames.
 */
export interface VideoFormat {
  name: string;
  width: number;
  height: number;
  interlaced: boolean;
  timeScale: number;
  duration: number;
}

const mode = (
  name: string,
  width: number,
  height: number,
  interlaced: boolean,
  timeScale: number,
  duration: number,
): VideoFormat => ({
  name,
  width,
  height,
  interlaced,
  timeScale,
  duration,
});

// CasparCG 2.3+ core/video_format.cpp, in its order.
const FORMATS: readonly VideoFormat[] = [
  mode('PAL', 720, 576, true, 25000, 1000),
  mode('NTSC', 720, 486, true, 30000, 1001),
  mode('576p2500', 720, 576, false, 25000, 1000),
  mode('720p2398', 1280, 720, false, 24000, 1001),
  mode('720p2400', 1280, 720, false, 24000, 1000),
  mode('720p2500', 1280, 720, false, 25000, 1000),
  mode('720p5000', 1280, 720, false, 50000, 1000),
  mode('720p2997', 1280, 720, false, 30000, 1001),
  mode('720p5994', 1280, 720, false, 60000, 1001),
  mode('720p3000', 1280, 720, false, 30000, 1000),
  mode('720p6000', 1280, 720, false, 60000, 1000),
  mode('1080p2398', 1920, 1080, false, 24000, 1001),
  mode('1080p2400', 1920, 1080, false, 24000, 1000),
  mode('1080i5000', 1920, 1080, true, 25000, 1000),
  mode('1080i5994', 1920, 1080, true, 30000, 1001),
  mode('1080i6000', 1920, 1080, true, 30000, 1000),
  mode('1080p2500', 1920, 1080, false, 25000, 1000),
  mode('1080p2997', 1920, 1080, false, 30000, 1001),
  mode('1080p3000', 1920, 1080, false, 30000, 1000),
  mode('1080p5000', 1920, 1080, false, 50000, 1000),
  mode('1080p5994', 1920, 1080, false, 60000, 1001),
  mode('1080p6000', 1920, 1080, false, 60000, 1000),
  mode('1556p2398', 2048, 1556, false, 24000, 1001),
  mode('1556p2400', 2048, 1556, false, 24000, 1000),
  mode('1556p2500', 2048, 1556, false, 25000, 1000),
  mode('dci1080p2398', 2048, 1080, false, 24000, 1001),
  mode('dci1080p2400', 2048, 1080, false, 24000, 1000),
  mode('dci1080p2500', 2048, 1080, false, 25000, 1000),
  mode('2160p2398', 3840, 2160, false, 24000, 1001),
  mode('2160p2400', 3840, 2160, false, 24000, 1000),
  mode('2160p2500', 3840, 2160, false, 25000, 1000),
  mode('2160p2997', 3840, 2160, false, 30000, 1001),
  mode('2160p3000', 3840, 2160, false, 30000, 1000),
  mode('2160p5000', 3840, 2160, false, 50000, 1000),
  mode('2160p5994', 3840, 2160, false, 60000, 1001),
  mode('2160p6000', 3840, 2160, false, 60000, 1000),
  mode('dci2160p2398', 4096, 2160, false, 24000, 1001),
  mode('dci2160p2400', 4096, 2160, false, 24000, 1000),
  mode('dci2160p2500', 4096, 2160, false, 25000, 1000),
];

/** Every mode by its exact CasparCG name. */
export const VIDEO_FORMATS: ReadonlyMap<string, VideoFormat> = new Map(FORMATS.map((f) => [f.name, f]));

export const VIDEO_FORMAT_NAMES: readonly string[] = FORMATS.map((f) => f.name);

/** @defaultValue the contract's default for CreateChannelInput.videoFormat */
export const DEFAULT_VIDEO_FORMAT = '1080p5994';

/**
 * Exact names only: CasparCG itself matches case-insensitively, but one spelling
 * per mode keeps stored values comparable. (Pure: a bundle that does not use it,
 * such as the operator console's, leaves zod out.)
 */
export const videoFormatSchema = /* @__PURE__ */ z
  .string()
  .refine(
    (name) => VIDEO_FORMATS.has(name),
    'must be a CasparCG video mode, e.g. 1080i5000, 1080p5994, 720p5000 or 2160p5000',
  );

export function videoFormat(name: string): VideoFormat {
  const format = VIDEO_FORMATS.get(name);
  if (!format) throw new Error(`unknown video format ${name}`);
  return format;
}

/** Frames per second as a number (e.g. 59.94…); use the rational form for arithmetic. */
export function framesPerSecond(name: string): number {
  const f = videoFormat(name);
  return f.timeScale / f.duration;
}

/** The whole frame at or before `ms` (exact for 1001-denominator rates: no float drift). */
export function msToFrames(ms: number, name: string): number {
  const f = videoFormat(name);
  return Math.floor((ms * f.timeScale) / (1000 * f.duration));
}

/** The start of frame `frames` in whole milliseconds, rounded down. */
export function framesToMs(frames: number, name: string): number {
  const f = videoFormat(name);
  return Math.floor((frames * 1000 * f.duration) / f.timeScale);
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** A rate of `num`/`den` per second as a reduced fraction (30000/1000 → 30/1; 30000/1001 stays). */
export function reducedRate(num: number, den: number): { num: number; den: number } {
  const g = gcd(num, den);
  return { num: num / g, den: den / g };
}
