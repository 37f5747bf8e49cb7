import { frameAt, framesToMs } from './frames.ts';
import type { Plan, PlannedEvent, Segment } from './plan.ts';

/**
 * Join in progress: which segment of a plan is on air at a wall-clock instant,
 * and how far into it. A sidecar (re)starting, or taking over in a failover,
 * seeks its clip there instead of starting the schedule from the top.
 */
export interface OnAir {
  segment: Segment;
  /** Its position in plan.segments. */
  index: number;
  /** The frame on air at the instant. */
  frame: number;
  /** Frames of the segment already played at the instant. */
  offsetFrames: number;
  /** Where to seek in the clip's media: its in point plus the frames played, in ms (0 for HOLD). */
  seekMs: number;
}

/** The segment on air at `ms`, or null outside the plan's segments. */
export function onAirAt(plan: Plan, ms: number): OnAir | null {
  const frame = frameAt(ms, plan.rate);
  const { segments } = plan;
  // Segments are in time order and tile the window: a binary search finds the one holding the frame.
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = segments[mid];
    if (frame < s.startFrame) hi = mid - 1;
    else if (frame >= s.endFrame) lo = mid + 1;
    else {
      const offsetFrames = frame - s.startFrame;
      const seekMs = s.clip ? (s.clip.inPointMs ?? 0) + framesToMs(offsetFrames, plan.rate) : 0;
      return { segment: s, index: mid, frame, offsetFrames, seekMs };
    }
  }
  return null;
}

export interface NowAndNext {
  now: OnAir | null;
  /** The segment after the one on air. */
  nextSegment: Segment | null;
  /** The event on air (its clip, or filler instead of a missing clip); null in filler between events. */
  event: PlannedEvent | null;
  /** The first event planned to start after the instant. */
  nextEvent: PlannedEvent | null;
}

/** What is on air at `ms` and what comes next, as a console shows it. */
export function nowAndNext(plan: Plan, ms: number): NowAndNext {
  const now = onAirAt(plan, ms);
  const frame = frameAt(ms, plan.rate);
  const eventId = now?.segment.eventId ?? null;
  return {
    now,
    nextSegment: now ? (plan.segments[now.index + 1] ?? null) : null,
    event: eventId === null ? null : (plan.events.find((e) => e.eventId === eventId) ?? null),
    nextEvent: plan.events.find((e) => e.startFrame !== null && e.startFrame > frame) ?? null,
  };
}
