import { type FrameRate, framesToMs } from './frames.ts';

/**
 * SMPTE time code labels (ST 12-1, as BXF writes them: SMPTE 258M clause 8),
 * read as frame counts and from there as ms, frame-accurately.
 *
 * A label is HH:MM:SS then a separator and the frame: ':' or '.' for
 * non-drop-frame, ';' or ',' for drop-frame ('.' and ',' mark the second
 * field). Non-drop-frame labels count `nominal` frames a second (30 at 29.97
 * fps), so at a 1001 rate they run slow of the clock by 3.6 s an hour; drop-frame
 * labels skip frames 0 and 1 (0–3 at 59.94) of every minute but each tenth, which
 * keeps them within a frame or three of the clock over a day. Either way the
 * label is a frame count, converted exactly.
 */

export interface TimeCode {
  hours: number;
  minutes: number;
  seconds: number;
  frames: number;
  dropFrame: boolean;
}

export type Read<T> = { ok: true; value: T } | { ok: false; reason: string };

const LABEL = /^(\d{2}):(\d{2}):(\d{2})([:;.,])(\d{2})$/;

/** Reads a label's fields; its frames are checked against a rate by `timeCodeFrames`. */
export function parseTimeCode(text: string): Read<TimeCode> {
  const m = LABEL.exec(text.trim());
  if (!m)
    return { ok: false, reason: `"${clip(text)}" is not SMPTE time code (HH:MM:SS:FF, or HH:MM:SS;FF drop-frame)` };
  const [hours, minutes, seconds, frames] = [m[1], m[2], m[3], m[5]].map(Number);
  if (hours > 23 || minutes > 59 || seconds > 59)
    return { ok: false, reason: `"${text.trim()}" is not SMPTE time code (hours 00-23, minutes and seconds 00-59)` };
  return { ok: true, value: { hours, minutes, seconds, frames, dropFrame: m[4] === ';' || m[4] === ',' } };
}

/** Frames a second as time code labels count them: 25, 30 for 29.97, 60 for 59.94. */
export const nominalFps = (rate: FrameRate): number => Math.round(rate.num / rate.den);

/**
 * A `frameRate` as BXF writes it (xs:decimal: 25, 29.97, 23.976, 59.94): a whole
 * rate, or the 1001 rate it names to within 0.01 frames a second. Null for
 * anything else (not a playout rate).
 */
export function frameRateFromDecimal(text: string): FrameRate | null {
  if (!/^\d{1,3}(\.\d{1,6})?$/.test(text.trim())) return null;
  const value = Number(text);
  const nominal = Math.round(value);
  if (nominal < 1 || nominal > 120) return null;
  if (value === nominal) return { num: nominal, den: 1 };
  if (Math.abs(value - (nominal * 1000) / 1001) < 0.01) return { num: nominal * 1000, den: 1001 };
  return null;
}

const rateLabel = (rate: FrameRate) =>
  rate.den === 1 ? String(rate.num) : String(Number((rate.num / rate.den).toFixed(3)));

/** The frame number a label names at `rate`, counted from 00:00:00:00. */
export function timeCodeFrames(tc: TimeCode, rate: FrameRate): Read<number> {
  const nominal = nominalFps(rate);
  const text = formatTimeCode(tc);
  if (tc.frames >= nominal)
    return {
      ok: false,
      reason: `${text}: frame ${tc.frames} does not exist at ${rateLabel(rate)} fps (00-${nominal - 1})`,
    };
  const base = (tc.hours * 3600 + tc.minutes * 60 + tc.seconds) * nominal + tc.frames;
  if (!tc.dropFrame) return { ok: true, value: base };
  if (rate.den !== 1001 || nominal % 30 !== 0)
    return {
      ok: false,
      reason: `${text}: drop-frame time code exists only at 29.97 and 59.94 fps, not ${rateLabel(rate)}`,
    };
  const dropped = nominal / 15; // 2 labels a minute at 29.97, 4 at 59.94
  if (tc.seconds === 0 && tc.minutes % 10 !== 0 && tc.frames < dropped)
    return {
      ok: false,
      reason: `${text}: drop-frame time code skips this label (frames 00-0${dropped - 1} of minute ${tc.minutes})`,
    };
  const minutes = tc.hours * 60 + tc.minutes;
  return { ok: true, value: base - dropped * (minutes - Math.floor(minutes / 10)) };
}

/**
 * Frames a day of labels counts, 00:00:00:00 to 23:59:59 and its last frame:
 * 24 × 3600 × nominal, less the labels drop-frame skips (2,589,408 at 29.97,
 * 5,178,816 at 59.94: about 2.6 and 5.2 frames short of a day of the clock).
 */
export function timeCodeDayFrames(rate: FrameRate, dropFrame: boolean): number {
  const nominal = nominalFps(rate);
  const labels = 86_400 * nominal;
  return dropFrame ? labels - (nominal / 15) * (1440 - 144) : labels;
}

/**
 * The label of frame `frames` counted from 00:00:00:00 (the inverse of
 * `timeCodeFrames`, exactly): a frame count of 0 up to a day of labels
 * (`timeCodeDayFrames`); drop-frame only at 29.97 and 59.94 fps.
 */
export function frameTimeCode(frames: number, rate: FrameRate, dropFrame: boolean): TimeCode {
  const nominal = nominalFps(rate);
  if (dropFrame && (rate.den !== 1001 || nominal % 30 !== 0))
    throw new RangeError(`drop-frame time code exists only at 29.97 and 59.94 fps, not ${rateLabel(rate)}`);
  if (!Number.isInteger(frames) || frames < 0 || frames >= timeCodeDayFrames(rate, dropFrame))
    throw new RangeError(`frame ${frames} is not within a day of time code labels`);
  let labels = frames;
  if (dropFrame) {
    // Each ten minutes counts 10 × 60 × nominal labels less 9 minutes' dropped ones.
    const dropped = nominal / 15;
    const perMinute = 60 * nominal - dropped;
    const perTenMinutes = 600 * nominal - 9 * dropped;
    const tens = Math.floor(frames / perTenMinutes);
    const rest = frames % perTenMinutes;
    // The first minute of ten keeps all its labels; the nine after it skip `dropped` each.
    const skipped = rest < 60 * nominal ? 0 : dropped * (Math.floor((rest - 60 * nominal) / perMinute) + 1);
    labels = frames + dropped * 9 * tens + skipped;
  }
  const seconds = Math.floor(labels / nominal);
  return {
    hours: Math.floor(seconds / 3600),
    minutes: Math.floor(seconds / 60) % 60,
    seconds: seconds % 60,
    frames: labels % nominal,
    dropFrame,
  };
}

/** The label's frame count as ms from 00:00:00:00, rounded down (frames.ts). */
export function timeCodeMs(tc: TimeCode, rate: FrameRate): Read<number> {
  const frames = timeCodeFrames(tc, rate);
  return frames.ok ? { ok: true, value: framesToMs(frames.value, rate) } : frames;
}

const two = (n: number) => String(n).padStart(2, '0');

export function formatTimeCode(tc: TimeCode): string {
  return `${two(tc.hours)}:${two(tc.minutes)}:${two(tc.seconds)}${tc.dropFrame ? ';' : ':'}${two(tc.frames)}`;
}

const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);
