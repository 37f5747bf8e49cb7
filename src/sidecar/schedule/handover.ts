import { join } from 'node:path';
import { frameFrom, frameStartMs, type FrameRate } from '../../schedule/frames.ts';
import type { Segment } from '../../schedule/plan.ts';
import type { Alarms } from '../alarms.ts';
import type { ClipResult, Engine } from '../engines/engine.ts';
import type { EventLog } from '../event-log.ts';
import type { RunnerPlan } from './planner.ts';
import type { KeptSchedule } from './store.ts';
import type { ManualPlay } from './precedence.ts';
import { airingRef, engineClip, itemEnded, type Airing } from './airing.ts';
import { systemClock, type RunnerClock } from './clock.ts';

export interface ScheduleRunnerOptions {
  engine: Engine;
  log: EventLog;
  alarms: Alarms;
  mediaDir: string;
  /** The channel's video format: a schedule for another one is refused. */
  videoFormat: string;
  manual?: ManualPlay;
  clock?: RunnerClock;
  /** How long before its frame a timed start (a HARD event, a take) is handed to the engine. @defaultValue 3000 */
  leadMs?: number;
  /** How far ahead of now a join in progress or a take starts: time for the engine to open the file. @defaultValue 500 */
  joinLeadMs?: number;
  /** How far ahead the runner plans to find the segment at a frame. @defaultValue one hour */
  lookaheadMs?: number;
  /** Keeps the schedule applied (null: detached) where a restart finds it; a failure is logged, not thrown. */
  persist?: (kept: KeptSchedule | null) => Promise<void>;
}

/** @defaultValue how much earlier than planned a clip may end before the rest of it is replaced by filler */
const SHORT_TOLERANCE_MS = 1000;

/**
 * The runner's hand-over of segments to the engine, by its clock: a timed
 * start `leadMs` before its frame, a queued one when the clip before it asks
 * (onCue); and what comes back from the engine (on air, ended, failed, a
 * fatal fault). The commands that change the plan (runner.ts) set `tail` and
 * call pump(). State is shared with them; see docs/schedule.md.
 */
export class Handover {
  protected plan: RunnerPlan | null = null;
  protected suspended = false;
  /** Stopped by a fatal engine fault until the next PUT or resume. */
  protected halted = false;
  /** Handed to the engine and not ended, in air order: the first is on air (or about to be). */
  protected airings: Airing[] = [];
  /** Where the next segment to hand starts; null: join in progress where the clock is. */
  protected tail: number | null = null;
  protected timer: unknown = null;
  /** Whether the runner has had a clip on air since it took the channel (STATE_CHANGED PLAYING once). */
  protected airingNow = false;
  /** Taking the channel back from manual play: its item is cut when the schedule's first clip airs. */
  protected handingBack = false;
  protected queue: Promise<unknown> = Promise.resolve();
  protected readonly clock: RunnerClock;
  protected readonly leadMs: number;
  protected readonly joinLeadMs: number;
  protected readonly lookaheadMs: number;
  /** Handed in order: MEDIA_MISSING clears once an airing handed after the last failure plays out. */
  protected gens = 0;
  protected failedGen = -1;
  protected readonly gen = new WeakMap<Airing, number>();

  constructor(protected readonly o: ScheduleRunnerOptions) {
    this.clock = o.clock ?? systemClock;
    this.leadMs = o.leadMs ?? 3000;
    this.joinLeadMs = o.joinLeadMs ?? 500;
    this.lookaheadMs = o.lookaheadMs ?? 3_600_000;
  }

  /** The schedule has the channel and put a clip on air since it took it. */
  get playing(): boolean {
    return this.running && this.airingNow && !this.halted;
  }

  /** A schedule is attached and airing (not suspended by manual play). */
  get running(): boolean {
    return this.plan !== null && !this.suspended;
  }
  /**
   * Hands the next segment to the engine when its time comes: a timed start
   * leadMs before its frame, a queued one when the clip before it asks.
   */
  protected pump(): void {
    const plan = this.plan;
    if (!plan || this.suspended || this.halted) return;
    this.cancelTimer();
    const rate = plan.rate;
    const now = this.clock.now();
    const last = this.airings.at(-1);
    if (this.tail === null || (!last && frameStartMs(this.tail, rate) < now)) {
      // Join in progress: the segment on air at the first frame the engine can still make, seeked into.
      const frame = frameFrom(now + this.joinLeadMs, rate);
      this.hand(plan.segmentAt(frame).segment, frame, true);
      return;
    }
    const { segment, cuts } = plan.segmentAt(this.tail);
    const hold = segment.kind === 'HOLD';
    // The clip before it was handed to play on under a transition this segment does not make (its media
    // failed, an edit): it is cut on this segment's frame, short of its tail.
    const comesIn = segment.startFrame === this.tail ? segment.transitionFrames : 0;
    const tailCut = !!last && last.segment.tailFrames !== comesIn;
    if (hold || cuts || !last || !last.handle || last.late || tailCut) {
      // Timed (nothing to queue behind, or a cut): handed leadMs before its frame.
      const handAt = frameStartMs(this.tail, rate) - this.leadMs;
      if (handAt <= now) {
        if (tailCut && last) last.cut = true;
        this.hand(segment, this.tail, !hold);
      } else this.timer = this.clock.after(handAt - now, () => this.pump());
      return;
    }
    // Behind a timed start it waits for that start's onAir, which tells whether it is late (what follows
    // then pinned): an engine whose first frames are late asks for the next clip before it reports the start.
    if (last.timed && last.startedAtMs === null) return;
    if (last.cueAsked) this.hand(segment, this.tail, false);
    else if (segment.transitionFrames > 0) {
      // Its transition starts before the clip on air runs out, maybe before the engine would ask (onCue
      // comes a preroll before the end): queued leadMs before its first frame at the latest.
      const handAt = frameStartMs(this.tail, rate) - this.leadMs;
      if (handAt <= now) this.hand(segment, this.tail, false);
      else this.timer = this.clock.after(handAt - now, () => this.pump());
    }
    // Else the engine asks for it (onCue) ahead of the end of the clip before it.
  }

  protected hand(segment: Segment, fromFrame: number, timed: boolean): void {
    const airing: Airing = {
      segment,
      version: this.plan!.schedule.version,
      fromFrame,
      timed,
      handle: null,
      startedAtMs: null,
      live: true,
      cut: false,
      cueAsked: false,
      late: false,
    };
    this.gen.set(airing, this.gens++);
    this.airings.push(airing);
    this.tail = segment.endFrame;
    if (segment.kind === 'HOLD') {
      // Nothing to play: the output holds until the next clip, which is handed with a timed start.
      const startMs = frameStartMs(fromFrame, this.plan!.rate);
      this.clock.after(startMs - this.clock.now(), () => this.holdReached(airing, startMs));
      this.settle();
      this.pump();
      return;
    }
    try {
      airing.handle = this.o.engine.play(engineClip(airing, this.plan!.rate, this.o.mediaDir), {
        onAir: (startedAtMs) => this.onAir(airing, startedAtMs),
        onCue: () => this.onCue(airing),
        onEnd: (result) => this.onEnd(airing, result),
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      queueMicrotask(() => this.onEnd(airing, { ok: false, message }));
    }
    this.pump();
  }

  protected onCue(airing: Airing): void {
    if (!airing.live || airing.cueAsked) return;
    airing.cueAsked = true;
    if (this.airings.at(-1) === airing) this.pump();
  }

  protected onAir(airing: Airing, startedAtMs: number): void {
    if (!airing.live || airing.startedAtMs !== null) return;
    airing.startedAtMs = startedAtMs;
    const rate = this.plan!.rate;
    // Late by a frame or more: what follows is pinned to its frame instead of queued behind it.
    if (airing.timed && startedAtMs >= this.lateFrom(airing.fromFrame, rate)) airing.late = true;
    // What follows a timed start waited for this (pump): handed now, pinned or queued.
    if (airing.timed && this.airings.at(-1) === airing) this.pump();
    // What was handed before it has left air now (cut, or played out): close it if the engine has not.
    for (const before of this.airings.slice(0, this.airings.indexOf(airing)))
      this.ended(before, { ok: true, endedAtMs: startedAtMs });
    this.o.log.append({
      kind: 'ITEM_ON_AIR',
      ...airingRef(airing, (id) => this.plan!.playlistIdOf(id)),
      startedAt: new Date(startedAtMs).toISOString(),
    });
    this.o.alarms.clear('SCHEDULE_HOLD');
    this.prefetchAfter();
    if (this.handingBack) {
      this.handingBack = false;
      void this.o.manual?.handedBack(startedAtMs);
    }
    if (!this.airingNow) {
      this.airingNow = true;
      this.o.log.append({ kind: 'STATE_CHANGED', state: 'PLAYING' });
    }
  }

  /**
   * From when a timed start on `frame` is late: the frame after it. On an
   * output with frames of its own (off the epoch's grid, its start dated to
   * about a tick), half a frame before its frame after: its on-time start may
   * fall anywhere in the epoch's frame.
   */
  protected lateFrom(frame: number, rate: FrameRate): number {
    const next = frameStartMs(frame + 1, rate);
    const own = this.o.engine.frameAtOrAfter?.(next) ?? null;
    return own === null ? next : own - (next - frameStartMs(frame, rate)) / 2;
  }

  protected onEnd(airing: Airing, result: ClipResult): void {
    if (!airing.live) return;
    if (!result.ok && result.fatal) {
      this.haltFor(result.message);
      return;
    }
    const endedAtMs = result.ok ? (result.endedAtMs ?? this.clock.now()) : this.clock.now();
    const plannedEnd = frameStartMs(airing.segment.endFrame, this.plan!.rate);
    // Media shorter than planned by more than rounding: the rest is filler, as for a clip that fails.
    const short =
      result.ok &&
      !result.cut &&
      !airing.cut &&
      airing.startedAtMs !== null &&
      endedAtMs < plannedEnd - SHORT_TOLERANCE_MS;
    if (result.ok && !short) {
      if (this.gen.get(airing)! >= this.failedGen) this.o.alarms.clear('MEDIA_MISSING');
      this.ended(airing, result);
      this.settle();
      if (this.airings.length === 0) this.pump();
      return;
    }
    // Failed at air time (or its media ended early): filler for the planned remainder.
    const clip = airing.segment.clip!;
    const why = result.ok ? 'its media ended before its planned end' : result.message;
    const what = `scheduled item ${clip.itemId} (${clip.clipName}) failed: ${why}`;
    this.plan!.missing.add(clip.assetId);
    this.failedGen = this.gens;
    this.o.log.append({ kind: 'ERROR', message: what });
    this.o.alarms.raise('MEDIA_MISSING', what);
    const index = this.airings.indexOf(airing);
    const before = this.airings[index - 1];
    this.ended(airing, result.ok ? result : { ok: false, message: why }, endedAtMs);
    // What was handed behind it is withdrawn: the plan from its frame is different now.
    for (const after of this.airings.splice(index)) this.withdraw(after);
    this.tail = airing.startedAtMs === null && before?.live ? airing.fromFrame : null;
    this.pump();
  }

  /** The engine looks into the file of the segment after those handed now, ahead of need (Engine.prefetch). */
  protected prefetchAfter(): void {
    const plan = this.plan;
    if (!plan || this.tail === null || !this.o.engine.prefetch) return;
    const next = plan.segmentAt(this.tail).segment.clip;
    if (next) this.o.engine.prefetch([join(this.o.mediaDir, next.mediaPath)]);
  }

  /** Records how an airing left air; a withdrawn one that never aired leaves no event. */
  protected ended(airing: Airing, result: ClipResult, endedAtMs?: number, reason?: string): void {
    if (!airing.live) return;
    airing.live = false;
    const at = this.airings.indexOf(airing);
    if (at >= 0) this.airings.splice(at, 1);
    if (airing.segment.kind === 'HOLD' || (result.ok && airing.startedAtMs === null)) return;
    const end = endedAtMs ?? (result.ok ? (result.endedAtMs ?? this.clock.now()) : this.clock.now());
    const plan = this.plan!;
    this.o.log.append(itemEnded(airing, result, end, plan.rate, (id) => plan.playlistIdOf(id), reason));
  }

  /**
   * A hold reached air: what still plays (a clip a take cut, manual play being
   * handed back) has no timed clip to cut it, so it is taken off here.
   */
  protected holdReached(hold: Airing, atMs: number): void {
    if (!hold.live) return;
    for (const before of this.airings.slice(0, this.airings.indexOf(hold))) {
      if (before.handle) void before.handle.stop().catch(() => undefined);
      this.ended(before, { ok: true, endedAtMs: atMs });
    }
    if (this.handingBack) {
      this.handingBack = false;
      void this.o.manual?.handedBack(atMs);
    }
    this.settle();
  }

  /** SCHEDULE_HOLD is up while a HOLD (no filler at all) is what airs. */
  protected settle(): void {
    // The first airing handed is what the output shows once the ones before it ended.
    const first = this.airings.find((a) => a.live);
    if (first?.segment.kind !== 'HOLD') return;
    this.o.alarms.raise(
      'SCHEDULE_HOLD',
      `nothing to play until ${new Date(first.segment.endMs).toISOString()}: the schedule has no usable filler`,
    );
  }

  protected withdraw(airing: Airing): void {
    airing.live = false;
    void airing.handle?.stop().catch(() => undefined);
  }

  /** The engine cannot play any more: what airs ends, PLAYOUT_STOPPED, and the runner waits for a PUT or resume. */
  protected haltFor(message: string): void {
    this.cancelTimer();
    this.halted = true;
    const all = this.airings.splice(0);
    for (const a of all) {
      if (a.startedAtMs !== null) {
        this.airings.push(a);
        this.ended(a, { ok: true }, this.clock.now(), message);
      } else this.withdraw(a);
    }
    this.airings = [];
    this.tail = null;
    this.o.log.append({ kind: 'ERROR', message: `schedule stopped: ${message}` });
    this.o.alarms.raise('PLAYOUT_STOPPED', message);
    if (this.airingNow) this.o.log.append({ kind: 'STATE_CHANGED', state: 'STOPPED' });
    this.airingNow = false;
  }

  protected async takeAllOff(reason: string): Promise<void> {
    const now = this.clock.now();
    const all = this.airings.splice(0);
    this.tail = null;
    for (const a of all) {
      if (!a.live) continue;
      if (a.startedAtMs === null) {
        this.withdraw(a);
        continue;
      }
      this.airings.push(a);
      a.cut = true;
      this.ended(a, { ok: true }, now, reason);
      await a.handle?.stop().catch(() => undefined);
    }
    this.airings = [];
  }

  protected cancelTimer(): void {
    if (this.timer !== null) this.clock.cancel(this.timer);
    this.timer = null;
  }
}
