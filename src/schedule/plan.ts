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
  /**
   * Frames from its start to the end of its last clip, as scheduled: its
   * clips' lengths less the transitions between them.
   */
  durationFrames: number;
  /**
   * Frames its first clip's transition (MIX, PUSH, WIPE, SLIDE) overlaps the
   * end of the event before it: it starts that much before that event's last
   * clip runs out, which plays on under the transition (and ends here, not
   * TRUNCATED). 0: a cut (CUT, a timed start, or after a cut or filler).
   */
  transitionFrames: number;
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
  /**
   * Frames its clip plays in from the clip before it, under its transition
   * (the segment before it runs that many past its end: its tailFrames); 0 for
   * a cut. Always 0 for filler and hold: filler pieces cut to each other.
   */
  transitionFrames: number;
  /** Frames its clip plays on past endFrame, under the next segment's transition (its transitionFrames). */
  tailFrames: number;
  /**
   * Its clip does not play to its end: cut by a HARD event or take, filler
   * trimmed to the next event's frame, or a clip cut where the next one's
   * transition would have started (that one's media is missing).
   */
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

/**
 * Frames `clip`'s transition overlaps `before`, the clip it follows: none for
 * a CUT, else its length in whole frames, at most half of either clip (so a
 * clip is never under two transitions at once).
 */
export function transitionFrames(before: ScheduleClip, clip: ScheduleClip, rate: FrameRate): number {
  if (clip.transition === 'CUT' || clip.transitionMs <= 0) return 0;
  const shorter = Math.min(durationFrames(before.durationMs, rate), durationFrames(clip.durationMs, rate));
  return Math.min(durationFrames(clip.transitionMs, rate), Math.floor(shorter / 2));
}

/** Where each clip of an event starts, from the event's start: after the one before it, less its transition. */
function clipStarts(clips: readonly ScheduleClip[], rate: FrameRate, start: number): number[] {
  const starts = [start];
  for (let k = 1; k < clips.length; k++)
    starts.push(
      starts[k - 1] + durationFrames(clips[k - 1].durationMs, rate) - transitionFrames(clips[k - 1], clips[k], rate),
    );
  return starts;
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
  /** The clip that runs out at the cursor, when it plays to its end there (not cut): a transition may overlap it. */
  let runsOut: ScheduleClip | null = null;
  /** Each aired event's end before the event after it overlapped it: where a cut of that event puts it back. */
  const contentEnd = new Map<PlannedEvent, number>();
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
      durationFrames: 0,
      transitionFrames: 0,
      lateFrames: 0,
      truncatedFrames: 0,
      overrunFrames: 0,
      underrunFrames: 0,
      missingClips: clips.filter((clip) => options.missingAssets?.has(clip.assetId)).length,
    };
    p.durationFrames = clipStarts(clips, rate, 0).at(-1)! + durationFrames(clips.at(-1)!.durationMs, rate);
    planned.push(p);
    const take = event.trigger === 'MANUAL' ? options.taken?.get(event.eventId) : undefined;
    const cuts = event.trigger === 'HARD' || take !== undefined;
    if (event.at !== undefined) p.timedFrame = frameFrom(Date.parse(event.at), rate);
    if (take !== undefined) p.timedFrame = frameFrom(take, rate);

    if (event.trigger === 'MANUAL' && take === undefined) {
      p.status = 'HOLDING';
      waiting.push(p);
      cursor = null;
      runsOut = null;
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
          Object.assign(last, { status: 'SKIPPED', startFrame: null, endFrame: null, transitionFrames: 0 });
          aired.pop();
          // What it overlapped plays to its own end again, unless this cut takes that too.
          const before = aired.at(-1);
          if (before) before.endFrame = contentEnd.get(before)!;
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
      // When the event before it runs on, less its transition; at its time, with what is left of the transition.
      const overlap = cursor !== null && runsOut ? transitionFrames(runsOut, clips[0], rate) : 0;
      start = cursor === null ? p.timedFrame! : Math.max(p.timedFrame!, cursor - overlap);
      p.lateFrames = start - p.timedFrame!;
      if (cursor !== null) p.transitionFrames = Math.max(0, Math.min(overlap, cursor - start));
      if (previous && cursor !== null) {
        if (p.lateFrames > 0) previous.overrunFrames = p.lateFrames;
        else if (cursor < p.timedFrame!) previous.underrunFrames = p.timedFrame! - cursor;
      }
    } else {
      // FOLLOW (the schema makes the first event timed, so there is a cursor).
      p.transitionFrames = cursor !== null && runsOut ? transitionFrames(runsOut, clips[0], rate) : 0;
      start = (cursor ?? p.timedFrame ?? 0) - p.transitionFrames;
    }
    // The event before it ends where this one starts; its last frames air under the transition.
    if (previous && p.transitionFrames > 0) previous.endFrame = start;
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
    runsOut = skippedAt !== undefined && p.truncatedFrames > 0 ? null : clips.at(-1)!;
    contentEnd.set(p, p.endFrame);
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
          transitionFrames: 0,
          tailFrames: 0,
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
          transitionFrames: 0,
          tailFrames: 0,
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
          transitionFrames: 0,
          tailFrames: 0,
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
  /** Where the last clip laid (scheduled, with its media) ends: a transition can only overlap a clip that plays. */
  let clipEnd: number | null = null;
  const playable = (clip: ScheduleClip | undefined) => clip !== undefined && !missing.has(clip.assetId);
  for (let k = 0; k < aired.length; k++) {
    const { p, i, content } = aired[k];
    const start = p.startFrame!;
    if (cursor < start) {
      // Held for a MANUAL event when one waited here (this one, taken, or one passed); else an under-run before a timed event.
      const heldFor = events.slice(aired[k - 1].i + 1, i + 1).some((e) => e.trigger === 'MANUAL');
      filler.fill(cursor, start, heldFor ? 'MANUAL' : 'GAP', null);
      clipEnd = null;
    }
    if (cursor >= toFrame) break;
    const clips = eventClips(content);
    const starts = clipStarts(clips, rate, start);
    // The next event, when its first clip's transition overlaps this one's last.
    const next = aired[k + 1];
    const mixesIn = next && next.p.transitionFrames > 0 && next.p.startFrame === p.endFrame ? next : null;
    clips.forEach((clip, clipIndex) => {
      const at = starts[clipIndex];
      if (at >= p.endFrame!) return; // cut before it started
      const last = clipIndex === clips.length - 1;
      const length = durationFrames(clip.durationMs, rate);
      const end = last ? p.endFrame! : Math.min(starts[clipIndex + 1], p.endFrame!);
      // It plays in over the clip before it, and on under the one after it, only where both have their media.
      const overlapIn = clipIndex === 0 ? p.transitionFrames : transitionFrames(clips[clipIndex - 1], clip, rate);
      const transition = playable(clip) && clipEnd === at + overlapIn ? overlapIn : 0;
      // The clip that follows it inside the event, or the next event's first when that one mixes in.
      const after = last ? (mixesIn ? eventClips(mixesIn.content)[0] : undefined) : clips[clipIndex + 1];
      const overlapOut = !after ? 0 : last ? (mixesIn?.p.transitionFrames ?? 0) : transitionFrames(clip, after, rate);
      const tail = playable(clip) && playable(after) && end === at + length - overlapOut ? overlapOut : 0;
      if (!playable(clip)) filler.fill(at, end, 'MISSING', p.eventId);
      else if (end > fromFrame && at < toFrame) {
        segments.push({
          kind: 'CLIP',
          startFrame: at,
          endFrame: end,
          eventId: p.eventId,
          clip,
          clipIndex,
          transitionFrames: transition,
          tailFrames: tail,
          truncated: end + tail < at + length,
          fills: null,
          alarm: false,
        });
      }
      clipEnd = playable(clip) ? end + tail : null;
    });
    cursor = p.endFrame!;
  }
  const holding = events.slice(aired.at(-1)!.i + 1).some((e) => e.status === 'HOLDING');
  filler.fill(cursor, toFrame, holding ? 'MANUAL' : 'GAP', null);
  return segments;
}
