import { type FrameRate, frameRateOf } from '../../../src/schedule/frames.ts';
import { broadcastDay, type Window, zoneOffsetMs } from '../../../src/schedule/time-zone.ts';

export type { Window };

const two = (n: number) => String(n).padStart(2, '0');

/** YYYY-MM-DD of instant `ms` on the calendar of `timeZone`. */
export function localDate(ms: number, timeZone: string): string {
  const local = new Date(ms + zoneOffsetMs(ms, timeZone));
  return `${local.getUTCFullYear()}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())}`;
}

/** The date `days` after `date` (YYYY-MM-DD), calendar days. */
export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + days));
  return `${next.getUTCFullYear()}-${two(next.getUTCMonth() + 1)}-${two(next.getUTCDate())}`;
}

/** The broadcast day (its date) that instant `ms` falls in: before the day start, it is the day before's. */
export function broadcastDateOf(ms: number, timeZone: string, dayStart: string): string {
  const date = localDate(ms, timeZone);
  return broadcastDay(date, timeZone, dayStart).fromMs > ms ? addDays(date, -1) : date;
}

/** The window of the broadcast day `date`, as the API plans it (23 or 25 hours when the clocks change). */
export function dayWindow(date: string, timeZone: string, dayStart: string): Window {
  return broadcastDay(date, timeZone, dayStart);
}

/**
 * HH:MM:SS:FF of an instant on the wall clock of `timeZone`: local time of day, then the frame of
 * the channel's rate within that second. A planned time is a frame's start rounded down to the ms,
 * so the frame is taken to the nearest tenth of a frame before rounding down.
 */
export function zoneClock(iso: string, timeZone: string, rate: FrameRate): string {
  const ms = Date.parse(iso);
  const local = ms + zoneOffsetMs(ms, timeZone);
  const inDay = ((local % 86_400_000) + 86_400_000) % 86_400_000;
  const seconds = Math.floor(inDay / 1000);
  const frames = Math.floor(((inDay % 1000) * rate.num) / (1000 * rate.den) + 0.1);
  return `${two(Math.floor(seconds / 3600))}:${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}:${two(frames)}`;
}

/** A count of frames as HH:MM:SS:FF at the channel's rate (real time, not drop-frame). */
export function framesCode(count: number, rate: FrameRate): string {
  const perSecond = rate.num / rate.den;
  const whole = Math.floor((count * rate.den) / rate.num);
  const frames = Math.round(count - whole * perSecond);
  return `${two(Math.floor(whole / 3600))}:${two(Math.floor(whole / 60) % 60)}:${two(whole % 60)}:${two(Math.min(frames, Math.ceil(perSecond) - 1))}`;
}

export { frameRateOf };
