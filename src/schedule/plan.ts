import { durationFrames, frameFrom, frameStartMs, type FrameRate } from './frames.ts';
import { eventClips, type Schedule, type ScheduleClip, type Trigger } from './model.ts';
import type { Window } from './time-zone.ts';

/**
 * The planner: a schedule, the channel's rate, "now" and a window in; every
 * event's planned start and end and the segments that tile the window out.
 * Pure (time is passed in, nothing is read), so the control plane (queries,
 * as-run against plan) and the sidecar (which plays the segments by its own
 * clock) compute the same frames. Semantics: docs/schedule.md.
 */

export const EVENT_STATUSES = [
  /** Has a planned start and end. */
  'PLANNED',
  /** Waits for an operator: an untaken MANUAL event, or an event after one, until a HARD event passes it. */
  'HOLDING',
  /** Never airs: a HARD event (or a take) came before it started. */
  'SKIPPED',
] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export interface PlannedEvent {
  eventId: string;
  trigger: Trigger;
  status: EventStatus;
  /** The frame its time names: HARD and SOFT at `at`, a taken MANUAL at the take; null otherwise. */
  timedFrame: number | null;
  /** Planned start and end ([start, end), frames since the Unix epoch); null unless PLANNED. */
  startFrame: number | null;
  endFrame: number | null;
  /** Its clips' length in frames, as scheduled. */
  durationFrames: number;
  /** SOFT: frames it starts after its time because the event before it ran on (pushed). */
  lateFrames: number;
  /** Frames of it a later HARD event (or take) cut off: it ends TRUNCATED. */
  truncatedFrames: number;
  /** Frames it runs past the time of the next timed event (cut there, or pushing it). */
  overrunFrames: number;
  /** Frames between its end and the next timed event, filled with filler (or held). */
  underrunFrames: number;
  /** Its clips whose media is missing, replaced by filler for their planned length. */
  missingClips: number;
}

export const FILLS = [
  /** A gap before a timed event, before the first event or after the last. */
  'GAP',
  /** Waiting for a MANUAL event to be taken. */
  'MANUAL',
  /** Instead of a clip whose media is missing, for its planned length. */
  'MISSING',
] as const;
export type Fill = (typeof FILLS)[number];

export interface Segment {
  /** CLIP: a scheduled clip; FILLER: a clip from the pool; HOLD: black (no filler at all). */
  kind: 'CLIP' | 'FILLER' | 'HOLD';
  /** [start, end) in frames since the Unix epoch; a segment always starts at its clip's first frame. */
  startFrame: number;
  endFrame: number;
  /** The same as instants (ms since the epoch, rounded down: frameFrom gives the frames back). */
  startMs: number;
  endMs: number;
  /** The event it airs for (a FILLER instead of a missing clip names its event); null for gap filler. */
  eventId: string | null;
  /** The clip; null for HOLD. */
  clip: ScheduleClip | null;
  /** Position of the clip in its event (0 for a single clip); null for filler and hold. */
  clipIndex: number | null;
  /** Ends before its clip does: cut by a HARD event or take, or filler trimmed to the next event's frame. */
  truncated: boolean;
  /** Its event is a SOFT one that starts after its time (the event before it ran on). */
  pushed: boolean;
  /** Why filler or hold plays here; null for CLIP. */
  fills: Fill | null;
  /** Black: raise an alarm (no filler to play). */
  alarm: boolean;
}

export interface Plan {
  version: number;
  rate: FrameRate;
  /** The window's frames: segments cover [fromFrame, toFrame) exactly, whole segments included. */
  fromFrame: number;
  toFrame: number;
  /** Every event of the schedule, in schedule order, wherever the window is. */
  events: PlannedEvent[];
  /** In time order, each ending where the next starts. */
  segments: Segment[];
}

export interface PlanOptions {
  /** Where to lay segments; events are planned from the schedule's first event whatever the window. */
  window: Window;
  /** Whether a MANUAL event passed by a HARD event is SKIPPED (now is past the HARD event) or still HOLDING. */
  nowMs: number;
  /** MANUAL events an operator took, and when (ms since the epoch): a take cuts what plays, as HARD does. */
  taken?: ReadonlyMap<string, number>;
  /** Assets whose media cannot play (missing, staging failed): their clips are replaced by filler. */
  missingAssets?: ReadonlySet<string>;
  /**
   * Events an operator skipped on air, and when (ms since the epoch): each ends
   * on that frame (TRUNCATED), so a FOLLOW after it starts there, a SOFT one at
   * the later of its time and there; a HARD one keeps its time (filler before it).
   */
  skipped?: ReadonlyMap<string, number>;
}

export function planSchedule(schedule: Schedule, rate: FrameRate, options: PlanOptions): Plan {
  const missing = options.missingAssets ?? new Set<string>();
  const events = planEvents(schedule, rate, options);
  const fromFrame = frameFrom(options.window.fromMs, rate);
  const toFrame = Math.max(fromFrame, frameFrom(options.window.toMs, rate));
  const pool = schedule.filler.filter((clip) => !missing.has(clip.assetId));
  const laid = layOut(schedule, rate, events, pool, missing, fromFrame, toFrame);
  const pushed = new Set(events.filter((e) => e.lateFrames > 0).map((e) => e.eventId));
  const segments = laid.map(
    (seg): Segment => ({
      ...seg,
      startMs: frameStartMs(seg.startFrame, rate),
      endMs: frameStartMs(seg.endFrame, rate),
      pushed: seg.eventId !== null && pushed.has(seg.eventId),
    }),
  );
  return { version: schedule.version, rate, fromFrame, toFrame, events, segments };
}

/** A segment as laid out, before its instants and flags from the event plan are added. */
type Laid = Omit<Segment, 'startMs' | 'endMs' | 'pushed'>;

/** Each event's start and end, frame-accurately, by its trigger. */
function planEvents(schedule: Schedule, rate: FrameRate, options: PlanOptions): PlannedEvent[] {
  const nowFrame = frameFrom(options.nowMs, rate);
  const planned: PlannedEvent[] = [];
  /** The last PLANNED events, for cuts: a HARD event truncates those still running at its frame. */
  const aired: PlannedEvent[] = [];
  /** Where the content so far ends; null while holding for a MANUAL event. */
  let cursor: number | null = null;
  /** Events behind an untaken MANUAL event, until a HARD event passes them. */
  let waiting: PlannedEvent[] = [];

  for (const event of schedule.events) {
    const clips = eventClips(event.content);
    const p: PlannedEvent = {
      eventId: event.eventId,
      trigger: event.trigger,
      status: 'PLANNED',
      timedFrame: null,
      startFrame: null,
      endFrame: null,
      durationFrames: clips.reduce((sum, clip) => sum + durationFrames(clip.durationMs, rate), 0),
      lateFrames: 0,
      truncatedFrames: 0,
      overrunFrames: 0,
      underrunFrames: 0,
      missingClips: clips.filter((clip) => options.missingAssets?.has(clip.assetId)).length,
    };
    planned.push(p);
    const take = event.trigger === 'MANUAL' ? options.taken?.get(event.eventId) : undefined;
    const cuts = event.trigger === 'HARD' || take !== undefined;
    if (event.at !== undefined) p.timedFrame = frameFrom(Date.parse(event.at), rate);
    if (take !== undefined) p.timedFrame = frameFrom(take, rate);

    if (event.trigger === 'MANUAL' && take === undefined) {
      p.status = 'HOLDING';
      waiting.push(p);
      cursor = null;
      continue;
    }
    if (waiting.length > 0 && !cuts) {
      // A FOLLOW or SOFT event after an untaken MANUAL one waits with it.
      p.status = 'HOLDING';
      waiting.push(p);
      continue;
    }

    let start: number;
    const previous = aired.at(-1);
    if (cuts) {
      start = p.timedFrame!;
      for (const w of waiting) w.status = nowFrame >= start ? 'SKIPPED' : 'HOLDING';
      waiting = [];
      // Cut what still plays at the frame: HARD wins over everything before it.
      while (aired.length > 0 && aired.at(-1)!.endFrame! > start) {
        const last = aired.at(-1)!;
        if (last.startFrame! >= start) {
          Object.assign(last, { status: 'SKIPPED', startFrame: null, endFrame: null });
          aired.pop();
          continue;
        }
        last.truncatedFrames = last.endFrame! - start;
        last.overrunFrames = last.truncatedFrames;
        last.endFrame = start;
        break;
      }
      const before = aired.at(-1);
      if (before && cursor !== null && before.endFrame! < start) before.underrunFrames = start - before.endFrame!;
    } else if (event.trigger === 'SOFT') {
      start = cursor === null ? p.timedFrame! : Math.max(p.timedFrame!, cursor);
      p.lateFrames = start - p.timedFrame!;
      if (previous && cursor !== null) {
        if (cursor > p.timedFrame!) previous.overrunFrames = cursor - p.timedFrame!;
        else previous.underrunFrames = p.timedFrame! - cursor;
      }
    } else {
      // FOLLOW (the schema makes the first event timed, so there is a cursor).
      start = cursor ?? p.timedFrame ?? 0;
    }
    p.startFrame = start;
    p.endFrame = start + p.durationFrames;
    const skippedAt = options.skipped?.get(event.eventId);
    if (skippedAt !== undefined) {
      // Cut by an operator while it aired: it ends there, and what follows it plans from there.
      const cut = frameFrom(skippedAt, rate);
      if (cut > start && cut < p.endFrame) {
        p.truncatedFrames = p.endFrame - cut;
        p.endFrame = cut;
      }
    }
    cursor = p.endFrame;
    aired.push(p);
  }
  return planned;
}

/** What fills [from, to): the pool in turn, looping, or black. Keeps its place in the pool from gap to gap. */
class Filler {
  private next = 0;
  private readonly lengths: number[];
  private readonly cycle: number;
  constructor(
    private readonly pool: readonly ScheduleClip[],
    rate: FrameRate,
    private readonly fromFrame: number,
    private readonly toFrame: number,
    private readonly out: Laid[],
  ) {
    this.lengths = pool.map((clip) => durationFrames(clip.durationMs, rate));
    this.cycle = this.lengths.reduce((a, b) => a + b, 0);
  }

  fill(from: number, to: number, fills: Fill, eventId: string | null): void {
    if (from >= to) return;
    if (this.pool.length === 0) {
      if (to > this.fromFrame && from < this.toFrame) {
        this.out.push({
          kind: 'HOLD',
          startFrame: from,
          endFrame: to,
          eventId,
          clip: null,
          clipIndex: null,
          truncated: false,
          fills,
          alarm: true,
        });
      }
      return;
    }
    let at = from;
    // Whole turns of the pool before the window change nothing but time.
    if (at < this.fromFrame) at += Math.floor((Math.min(to, this.fromFrame) - at) / this.cycle) * this.cycle;
    while (at < to && at < this.toFrame) {
      const i = this.next;
      const end = Math.min(at + this.lengths[i], to);
      if (end > this.fromFrame) {
        const truncated = end < at + this.lengths[i];
        this.out.push({
          kind: 'FILLER',
          startFrame: at,
          endFrame: end,
          eventId,
          clip: this.pool[i],
          clipIndex: null,
          truncated,
          fills,
          alarm: false,
        });
      }
      this.next = (i + 1) % this.pool.length;
      at = end;
    }
  }

  /** Before the schedule's first event: the pool laid backwards from it, so every window sees the same filler. */
  fillBack(to: number): void {
    if (to <= this.fromFrame) return;
    if (this.pool.length === 0) {
      this.fill(this.fromFrame, to, 'GAP', null);
      return;
    }
    const laid: Laid[] = [];
    let at = to;
    // Whole turns of the pool after a window that ends before the first event change nothing but time.
    if (at > this.toFrame) at -= Math.floor((at - this.toFrame) / this.cycle) * this.cycle;
    let i = this.pool.length - 1;
    while (at > this.fromFrame) {
      const start = at - this.lengths[i];
      if (start < this.toFrame) {
        laid.push({
          kind: 'FILLER',
          startFrame: start,
          endFrame: at,
          eventId: null,
          clip: this.pool[i],
          clipIndex: null,
          truncated: false,
          fills: 'GAP',
          alarm: false,
        });
      }
      at = start;
      i = (i + this.pool.length - 1) % this.pool.length;
    }
    this.out.push(...laid.reverse());
  }
}

function layOut(
  schedule: Schedule,
  rate: FrameRate,
  events: readonly PlannedEvent[],
  pool: readonly ScheduleClip[],
  missing: ReadonlySet<string>,
  fromFrame: number,
  toFrame: number,
): Laid[] {
  const segments: Laid[] = [];
  const filler = new Filler(pool, rate, fromFrame, toFrame, segments);
  const aired = events.flatMap((p, i) =>
    p.status === 'PLANNED' ? [{ p, i, content: schedule.events[i].content }] : [],
  );
  if (aired.length === 0) {
    filler.fill(fromFrame, toFrame, 'GAP', null);
    return segments;
  }
  filler.fillBack(aired[0].p.startFrame!);
  let cursor = aired[0].p.startFrame!;
  for (let k = 0; k < aired.length; k++) {
    const { p, i, content } = aired[k];
    const start = p.startFrame!;
    if (cursor < start) {
      // Held for a MANUAL event when one waited here (this one, taken, or one passed); else an under-run before a timed event.
      const heldFor = events.slice(aired[k - 1].i + 1, i + 1).some((e) => e.trigger === 'MANUAL');
      filler.fill(cursor, start, heldFor ? 'MANUAL' : 'GAP', null);
    }
    if (cursor >= toFrame) break;
    let at = start;
    eventClips(content).forEach((clip, clipIndex) => {
      if (at >= p.endFrame!) return; // cut before it started
      const length = durationFrames(clip.durationMs, rate);
      const end = Math.min(at + length, p.endFrame!);
      if (missing.has(clip.assetId)) filler.fill(at, end, 'MISSING', p.eventId);
      else if (end > fromFrame && at < toFrame) {
        segments.push({
          kind: 'CLIP',
          startFrame: at,
          endFrame: end,
          eventId: p.eventId,
          clip,
          clipIndex,
          truncated: end < at + length,
          fills: null,
          alarm: false,
        });
      }
      at = end;
    });
    cursor = p.endFrame!;
  }
  const holding = events.slice(aired.at(-1)!.i + 1).some((e) => e.status === 'HOLDING');
  filler.fill(cursor, toFrame, holding ? 'MANUAL' : 'GAP', null);
  return segments;
}
