import type { ChannelSnapshot, ProducerState } from './info.ts';

/**
 * On-air truth from the server itself: what one INFO sample of the layer says
 * about the clips the engine queued. Pure; table-tested.
 *
 * Why INFO polling rather than OSC: casparcg-connection has no OSC, OSC is UDP
 * to the AMCP client's address (lossy, latest-state-wins, blocked by NAT and
 * many container networks), while INFO rides the AMCP connection the engine
 * already holds, in order with its commands, on 2.3 and 2.4 alike.
 *
 * Times come from the server's playhead, not from when a command was
 * acknowledged or a sample was seen: a clip whose playhead is 1.2 s past its
 * start at a sample taken at T went on air at T − 1.2 s (less half a tick),
 * however late the sample. The poll rate only bounds how soon the engine knows, not what it
 * records.
 */

export interface TrackedClip {
  /** The clip name as sent (CasparCG echoes it in file/name). */
  name: string;
  /** File position (s) of the item's own start: its SEEK when it first went on air. */
  baseSec: number;
  /** How long the item runs from baseSec, ms. */
  lengthMs: number;
  /** Ticks in ms: a frame, or a field on interlaced modes. */
  tickMs: number;
  onAir: boolean;
  /** Wall-clock ms of the item's first frame, moved on by paused time (null until on air). */
  anchorMs: number | null;
  /** The server showed it armed in the background. */
  armedSeen: boolean;
}

export type Observation =
  /** The first queued clip reached air. */
  | { kind: 'on-air'; startedAtMs: number }
  /** The armed clip replaced the one on air (LOADBG AUTO): the first ended as it started. */
  | { kind: 'took-over'; startedAtMs: number }
  /** The clip on air played to its out point with nothing armed behind it. */
  | { kind: 'ended'; endedAtMs: number }
  /** The layer no longer shows the clip on air (cleared by someone else, or the producer failed). */
  | { kind: 'lost'; shows: string }
  | { kind: 'none' };

export interface SampleContext {
  /** When the sample was taken (midpoint of the INFO round trip), epoch ms. */
  atMs: number;
  /** The name of the clip that was on air before the first queued one (same-name successions). */
  previousName: string | null;
  /** The previous sample's foreground, to see a playhead jump back to a clip's start. */
  previousForeground: ProducerState | null;
}

export interface SampleResult {
  observation: Observation;
  /** The anchor of the clip on air after this sample (null: unchanged). */
  anchorMs: number | null;
  /** Whether the armed clip has been seen in the background (sticky). */
  armedSeen: boolean;
  /** Whether the clip on air was seen on the layer in this sample. */
  shown: boolean;
}

const same = (a: string | null, b: string | null) => a !== null && b !== null && a.toLowerCase() === b.toLowerCase();

export const shows = (p: ProducerState, clip: TrackedClip): boolean =>
  p.producer !== 'empty' && same(p.name, clip.name);

/** Ms the playhead is past the clip's start; null when INFO gave no position. */
function elapsedMs(p: ProducerState, clip: TrackedClip): number | null {
  return p.timeSec === null ? null : (p.timeSec - clip.baseSec) * 1000;
}

/**
 * The wall-clock time of the clip's start from a sample: the playhead names
 * the frame on air, which went out at the channel's last tick, some time in
 * the tick before the sample — half a tick on average.
 */
const startOf = (atMs: number, elapsed: number, clip: TrackedClip) => Math.round(atMs - elapsed - clip.tickMs / 2);

/**
 * Whether the foreground shows `clip` itself, and not the clip before it under
 * the same name (a one-item loop, the same promo twice): the names differ, or
 * the server showed it armed and no longer does, or the playhead jumped back.
 * It also must have shown a frame: a producer still opening its file has a
 * playhead at 0.
 */
function startedAt(
  s: ChannelSnapshot,
  clip: TrackedClip,
  before: string | null,
  ctx: SampleContext,
  armedSeen: boolean,
): number | null {
  if (!showsItself(s, clip, before, ctx, armedSeen)) return null;
  const elapsed = elapsedMs(s.foreground, clip);
  if (elapsed === null || elapsed < clip.tickMs / 2) return null;
  return startOf(ctx.atMs, elapsed, clip);
}

/** Whether the foreground shows `clip` itself rather than the clip before it under the same name (see startedAt). */
function showsItself(
  s: ChannelSnapshot,
  clip: TrackedClip,
  before: string | null,
  ctx: SampleContext,
  armedSeen: boolean,
): boolean {
  if (!shows(s.foreground, clip)) return false;
  const prev = ctx.previousForeground;
  const jumpedBack =
    prev !== null && shows(prev, clip) && prev.timeSec !== null && (s.foreground.timeSec ?? 0) < prev.timeSec;
  return !same(before, clip.name) || (armedSeen && !shows(s.background, clip)) || jumpedBack;
}

/**
 * What the sample says about `current` (the first queued clip) and `next`
 * (the one armed behind it, if any).
 */
export function observe(
  s: ChannelSnapshot,
  current: TrackedClip,
  next: TrackedClip | null,
  ctx: SampleContext,
): SampleResult {
  const armedSeen = next ? next.armedSeen || shows(s.background, next) : false;
  const result = (observation: Observation, anchorMs: number | null = null, shown = false): SampleResult => ({
    observation,
    anchorMs,
    armedSeen,
    shown,
  });

  if (!current.onAir) {
    // A clip promoted from the background (skip) was seen armed there.
    const at = startedAt(s, current, ctx.previousName, ctx, current.armedSeen);
    return at === null ? result({ kind: 'none' }) : result({ kind: 'on-air', startedAtMs: at }, at, true);
  }
  if (next) {
    const at = startedAt(s, next, current.name, ctx, armedSeen);
    if (at !== null) return result({ kind: 'took-over', startedAtMs: at }, at, true);
    // Swapped in, its first frame not counted yet: the next sample dates it. Under the same name the playhead is
    // the armed clip's, back at its start: it must not re-date the clip before (which would then seem to run on).
    if (showsItself(s, next, current.name, ctx, armedSeen)) return result({ kind: 'none' });
  }
  if (!shows(s.foreground, current)) {
    // The armed clip is in, its first frame not yet counted: the next sample dates it.
    if (next && shows(s.foreground, next)) return result({ kind: 'none' });
    const what =
      s.foreground.producer === 'empty' ? 'nothing' : `${s.foreground.producer} ${s.foreground.name ?? ''}`.trim();
    return result({ kind: 'lost', shows: what });
  }
  const elapsed = elapsedMs(s.foreground, current);
  if (elapsed === null) return result({ kind: 'none' }, null, true);
  // On its last frame (INFO positions are float32 seconds: a quarter tick of slack).
  const atEnd = elapsed >= current.lengthMs - current.tickMs * 1.25;
  // Paused, or held on the last frame: the playhead stands still and says nothing about the start.
  const anchor = s.foreground.paused || atEnd ? current.anchorMs : startOf(ctx.atMs, elapsed, current);
  if (atEnd && !next && !s.foreground.paused && anchor !== null && ctx.atMs >= anchor + current.lengthMs) {
    return result({ kind: 'ended', endedAtMs: Math.round(anchor + current.lengthMs) }, anchor, true);
  }
  return result({ kind: 'none' }, anchor, true);
}
