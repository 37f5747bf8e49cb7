import { type FrameRate, frameRateOf } from '../../../src/schedule/frames.ts';
import type { WallEngineFragment } from '../gql/graphql.ts';

export type { FrameRate };

/** A channel's frame rate, from its CasparCG video format name (1080i5000: 25 frames a second). */
export function channelFrameRate(videoFormat: string): FrameRate {
  try {
    return frameRateOf(videoFormat);
  } catch {
    return { num: 25, den: 1 };
  }
}

/**
 * An engine status as received: `receivedAt` is this page's clock (performance.now()) when
 * it arrived, `receivedWallMs` the wall clock then (Date.now()).
 */
export interface AnchoredEngine<E extends WallEngineFragment = WallEngineFragment> {
  engine: E;
  receivedAt: number;
  receivedWallMs: number;
}

/**
 * A status anchored as it arrives. Its wall-clock time is read off the page clock
 * (performance.timeOrigin + performance.now()), not Date.now(): two statuses then place the wall
 * clock the same way, where Date.now()'s whole milliseconds against the page clock's coarsened
 * ones would move the countdown back a frame now and then.
 */
export function anchorEngine<E extends WallEngineFragment>(engine: E): AnchoredEngine<E> {
  const receivedAt = performance.now();
  return { engine, receivedAt, receivedWallMs: performance.timeOrigin + receivedAt };
}

// How far behind its item's start a pushed position may be and still be taken as the same
// uninterrupted play (the time a status takes from the sidecar to this page, under load).
const DELIVERY_ALLOWANCE_MS = 1_000;
// How far ahead of its own clock a sidecar's position may be (it counts frames made, a frame or
// two ahead of their instant) and still be taken as the same uninterrupted play.
const LEAD_ALLOWANCE_MS = 100;

/**
 * The on-air item's position at `now` (performance.now()). Counted from the status's position
 * as it arrived, it runs behind by the status's way from the sidecar to this page (tens of ms,
 * hundreds under load). So while the item plays, the time since its start (startedAt, the
 * sidecar's clock; facilities keep clocks in step) is taken instead when it is at most a
 * second ahead of that count (or a little behind it: the sidecar's position leads its clock by
 * a frame or two): the item has played uninterrupted. Otherwise (it was paused, or
 * the clocks disagree) the count from the status stands, which needs no clock in step.
 */
export function positionMs(anchored: AnchoredEngine, now: number): number | null {
  const { engine, receivedAt, receivedWallMs } = anchored;
  const current = engine.current;
  if (!current) return null;
  if (engine.state !== 'PLAYING' || !engine.reachable) return current.positionMs;
  const elapsed = Math.max(0, now - receivedAt);
  const counted = current.positionMs + elapsed;
  const sinceStart = receivedWallMs + elapsed - Date.parse(current.startedAt);
  // The time since the start runs with the wall clock, so the countdown never steps back; the
  // count from each status would, by the difference between two statuses' ways to this page.
  return sinceStart >= counted - LEAD_ALLOWANCE_MS && sinceStart <= counted + DELIVERY_ALLOWANCE_MS
    ? sinceStart
    : counted;
}

/** Milliseconds left of the item on air at `now` (performance.now()); null when nothing timed is on air. */
export function remainingMs(anchored: AnchoredEngine, now: number): number | null {
  const duration = anchored.engine.current?.durationMs;
  const position = positionMs(anchored, now);
  if (duration == null || position === null) return null;
  return Math.max(0, duration - position);
}

const two = (n: number) => String(n).padStart(2, '0');

/**
 * HH:MM:SS:FF of a duration: whole seconds of real time, then the frames into the next
 * second at the channel's rate (rounded down, so 00:00:00:00 is the item's last frame ending).
 * At 1001-denominator rates this is real time, not drop-frame time code.
 */
export function timecode(ms: number, rate: FrameRate): string {
  const whole = Math.max(0, Math.floor(ms));
  const seconds = Math.floor(whole / 1000);
  const frames = Math.floor(((whole % 1000) * rate.num) / (1000 * rate.den));
  return `${two(Math.floor(seconds / 3600))}:${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}:${two(frames)}`;
}

/**
 * A countdown that never steps back while one item plays: a status whose way to this page was
 * slower than the last one's would place the item earlier (by up to the second a status may
 * take on its way, see positionMs), and the countdown would show earlier frames again. A change of
 * item or state shows at once, and so does a correction of more than STEP_BACK_MS. Returns the
 * function a component calls with each value it computes.
 */
const STEP_BACK_MS = 1500;
export function steadyCountdown(): (anchored: AnchoredEngine | null, remaining: number | null) => number | null {
  let item = '';
  let shown = Number.POSITIVE_INFINITY;
  return (anchored, remaining) => {
    const current = anchored?.engine.current;
    const key = current ? `${current.clipName}|${current.startedAt}|${anchored.engine.state}` : '';
    if (remaining === null || key !== item || remaining < shown || remaining - shown > STEP_BACK_MS) {
      item = key;
      shown = remaining ?? Number.POSITIVE_INFINITY;
      return remaining;
    }
    return shown;
  };
}
