import { join } from 'node:path';
import { frameFrom, frameStartMs, type FrameRate } from '../../schedule/frames.ts';
import type { Schedule } from '../../schedule/model.ts';
import type { Segment } from '../../schedule/plan.ts';
import type { Alarms } from '../alarms.ts';
import type { ClipResult, Engine } from '../engines/engine.ts';
import type { EventLog } from '../event-log.ts';
import { StateConflictError } from '../sequencer.ts';
import { RunnerPlan } from './planner.ts';
import type { KeptSchedule } from './store.ts';
import { airingRef, engineClip, itemEnded, sameAiring, type Airing } from './airing.ts';
import { runnerStatus, type RunnerStatus } from './status.ts';
import { systemClock, type RunnerClock } from './clock.ts';

/** Manual play (the sequencer) as the runner sees it: the precedence of docs/schedule.md. */
export interface ManualPlay {
  /** A playlist is on air (playing or paused). */
  active(): boolean;
  /** The schedule takes the channel back at `atMs`: manual play cues nothing more; its item on air is cut then. */
  handBack(atMs: number): Promise<void>;
  /** The schedule's first clip reached air at `atMs`: the manual item it cut ends there. */
  handedBack(atMs: number): Promise<void>;
}

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

/**
 * Runs a channel's schedule by the sidecar's own clock: plans with the pure
 * planner (src/schedule) and hands each segment to the engine ahead of time.
 * A segment that follows on the frame the one before it ends is queued when
 * the engine asks for it (onCue); one that starts by cutting (a HARD event, a
 * take, a join in progress) is handed with a timed start on its first frame,
 * `leadMs` ahead. Every start comes from frames, never from a clip's actual
 * end, so nothing drifts. A clip failing at air time is replaced by filler for
 * its planned remainder (its asset is re-planned as missing); with no filler
 * the channel holds black and SCHEDULE_HOLD is raised. See docs/schedule.md.
 */
/** @defaultValue how much earlier than planned a clip may end before the rest of it is replaced by filler */
const SHORT_TOLERANCE_MS = 1000;

export class ScheduleRunner {
  private plan: RunnerPlan | null = null;
  private suspended = false;
  /** Stopped by a fatal engine fault until the next PUT or resume. */
  private halted = false;
  /** Handed to the engine and not ended, in air order: the first is on air (or about to be). */
  private airings: Airing[] = [];
  /** Where the next segment to hand starts; null: join in progress where the clock is. */
  private tail: number | null = null;
  private timer: unknown = null;
  /** Whether the runner has had a clip on air since it took the channel (STATE_CHANGED PLAYING once). */
  private airingNow = false;
  /** Taking the channel back from manual play: its item is cut when the schedule's first clip airs. */
  private handingBack = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly clock: RunnerClock;
  private readonly leadMs: number;
  private readonly joinLeadMs: number;
  private readonly lookaheadMs: number;
  /** Handed in order: MEDIA_MISSING clears once an airing handed after the last failure plays out. */
  private gens = 0;
  private failedGen = -1;
  private readonly gen = new WeakMap<Airing, number>();

  constructor(private readonly o: ScheduleRunnerOptions) {
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
   * PUT /schedule. The first one takes the channel, joining in progress (or
   * waits suspended while a manual playlist airs); a newer version applies
   * from the next segment boundary, the segment on air playing on; the same
   * version again changes nothing; an older one is STALE.
   */
  apply(schedule: Schedule, restoredTakes: Record<string, number> = {}): Promise<{ version: number }> {
    return this.serial(async () => {
      if (schedule.videoFormat !== this.o.videoFormat) {
        throw new StateConflictError(
          `the schedule is for ${schedule.videoFormat}; this channel plays ${this.o.videoFormat}`,
        );
      }
      const held = this.plan?.schedule;
      if (held && schedule.version < held.version) {
        throw new StateConflictError(
          `version ${schedule.version} is older than the version running (${held.version})`,
          'STALE',
        );
      }
      if (held && schedule.version === held.version && !this.halted) return { version: held.version };
      if (this.plan) this.plan.replace(schedule);
      else {
        this.plan = new RunnerPlan(schedule, () => this.clock.now(), this.lookaheadMs);
        // A restart: the takes made before it still stand (their events are on air or done).
        for (const [id, at] of Object.entries(restoredTakes)) this.plan.taken.set(id, at);
        this.plan.replace(schedule);
      }
      await this.persist();
      if (!held || this.halted) {
        if (this.halted) this.o.alarms.clear('PLAYOUT_STOPPED');
        this.halted = false;
        this.suspended = this.o.manual?.active() ?? false;
        this.tail = null;
        if (this.suspended) this.armHardResume();
        else this.pump();
      } else if (this.suspended) this.armHardResume();
      else await this.replanFromNextBoundary();
      return { version: schedule.version };
    });
  }

  /** DELETE /schedule: the schedule's clip leaves air (TRUNCATED) and the channel is manual again. */
  detach(): Promise<void> {
    return this.serial(async () => {
      if (!this.plan) return;
      this.cancelTimer();
      await this.takeAllOff('the schedule was detached');
      this.plan = null;
      await this.persist();
      this.suspended = false;
      this.halted = false;
      this.o.alarms.clear('SCHEDULE_HOLD');
      if (this.airingNow) this.o.log.append({ kind: 'STATE_CHANGED', state: 'STOPPED' });
      this.airingNow = false;
    });
  }

  /**
   * POST /schedule/take: an operator takes a MANUAL event that holds. It cuts
   * what plays on the first frame the engine can make (joinLeadMs ahead), as a
   * HARD event would.
   */
  take(eventId: string): Promise<void> {
    return this.serial(async () => {
      const plan = this.plan;
      if (!plan) throw new StateConflictError('no schedule is attached');
      if (this.suspended || this.halted)
        throw new StateConflictError(
          `the schedule is ${this.halted ? 'stopped (engine fault)' : 'suspended by manual play'}: resume it first`,
        );
      const event = plan.schedule.events.find((e) => e.eventId === eventId);
      if (event?.trigger !== 'MANUAL') throw new StateConflictError(`the schedule has no MANUAL event ${eventId}`);
      const planned = plan.at(frameFrom(this.clock.now(), plan.rate)).events.find((e) => e.eventId === eventId);
      if (planned?.status !== 'HOLDING')
        throw new StateConflictError(`event ${eventId} is not holding (it is ${planned?.status ?? 'unknown'})`);
      const frame = frameFrom(this.clock.now() + this.joinLeadMs, plan.rate);
      plan.taken.set(eventId, frameStartMs(frame, plan.rate));
      // A HARD event due before the first frame the take can make passes the event by: nothing to take.
      if (plan.at(frame).events.find((e) => e.eventId === eventId)?.status !== 'PLANNED') {
        plan.taken.delete(eventId);
        throw new StateConflictError(`event ${eventId} cannot be taken: a HARD event starts before it could`);
      }
      await this.persist();
      await this.cutAt(frame);
    });
  }

  /** POST /schedule/resume: the schedule takes the channel back from manual play, joining in progress. */
  resume(): Promise<void> {
    return this.serial(async () => {
      if (!this.plan) throw new StateConflictError('no schedule is attached');
      if (!this.suspended && !this.halted) throw new StateConflictError('the schedule is not suspended');
      await this.takeChannelBack(frameFrom(this.clock.now() + this.joinLeadMs, this.plan.rate));
    });
  }

  /**
   * A manual playlist is loaded: the schedule's clips leave air (the one on
   * air ends TRUNCATED) and the schedule waits, keeping its clock, for
   * /schedule/resume or its next HARD event.
   */
  suspend(): Promise<void> {
    return this.serial(async () => {
      if (!this.plan || this.suspended) return;
      this.suspended = true;
      this.cancelTimer();
      await this.takeAllOff('a playlist was loaded');
      this.o.alarms.clear('SCHEDULE_HOLD');
      this.airingNow = false;
      this.tail = null;
      this.armHardResume();
    });
  }

  /** The manual playlist played to its end: the schedule comes back at once rather than leave black. */
  manualEnded(): Promise<void> {
    return this.serial(async () => {
      if (!this.plan || !this.suspended) return;
      await this.takeChannelBack(frameFrom(this.clock.now() + this.joinLeadMs, this.plan.rate));
    });
  }

  /** Shutdown: what airs ends TRUNCATED; never throws. */
  close(): Promise<void> {
    return this.serial(async () => {
      this.cancelTimer();
      await this.takeAllOff('the sidecar is shutting down');
      this.plan = null;
    }).catch(() => undefined);
  }

  /** The /status schedule summary; with the schedule on air, also what /status shows as current and next. */
  status(): RunnerStatus | null {
    const plan = this.plan;
    if (!plan) return null;
    const frame = frameFrom(this.clock.now(), plan.rate);
    return runnerStatus({
      version: plan.schedule.version,
      suspended: this.suspended,
      rate: plan.rate,
      now: this.clock.now(),
      airings: this.airings,
      nextEvent: plan.events(frame).find((e) => e.startFrame !== null && e.startFrame > frame),
      playlistIdOf: (id) => plan.playlistIdOf(id),
    });
  }

  /** Keeps the schedule and its takes where a restart finds them (nothing once detached). */
  private async persist(): Promise<void> {
    const plan = this.plan;
    try {
      await this.o.persist?.(plan ? { schedule: plan.schedule, taken: Object.fromEntries(plan.taken) } : null);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.o.log.append({ kind: 'ERROR', message: `the schedule could not be kept for a restart: ${message}` });
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Hands the next segment to the engine when its time comes: a timed start
   * leadMs before its frame, a queued one when the clip before it asks.
   */
  private pump(): void {
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
    if (hold || cuts || !last || !last.handle || last.late) {
      // Timed (nothing to queue behind, or a cut): handed leadMs before its frame.
      const handAt = frameStartMs(this.tail, rate) - this.leadMs;
      if (handAt <= now) this.hand(segment, this.tail, !hold);
      else this.timer = this.clock.after(handAt - now, () => this.pump());
    } else if (last.cueAsked) this.hand(segment, this.tail, false);
    // Else the engine asks for it (onCue) ahead of the end of the clip before it.
  }

  private hand(segment: Segment, fromFrame: number, timed: boolean): void {
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

  private onCue(airing: Airing): void {
    if (!airing.live || airing.cueAsked) return;
    airing.cueAsked = true;
    if (this.airings.at(-1) === airing) this.pump();
  }

  private onAir(airing: Airing, startedAtMs: number): void {
    if (!airing.live || airing.startedAtMs !== null) return;
    airing.startedAtMs = startedAtMs;
    const rate = this.plan!.rate;
    if (airing.timed && startedAtMs >= this.lateFrom(airing.fromFrame, rate)) {
      // Late by a frame or more: what follows is pinned to its frame instead of queued behind it.
      airing.late = true;
      if (this.airings.at(-1) === airing) this.pump();
    }
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
  private lateFrom(frame: number, rate: FrameRate): number {
    const next = frameStartMs(frame + 1, rate);
    const own = this.o.engine.frameAtOrAfter?.(next) ?? null;
    return own === null ? next : own - (next - frameStartMs(frame, rate)) / 2;
  }

  private onEnd(airing: Airing, result: ClipResult): void {
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
  private prefetchAfter(): void {
    const plan = this.plan;
    if (!plan || this.tail === null || !this.o.engine.prefetch) return;
    const next = plan.segmentAt(this.tail).segment.clip;
    if (next) this.o.engine.prefetch([join(this.o.mediaDir, next.mediaPath)]);
  }

  /** Records how an airing left air; a withdrawn one that never aired leaves no event. */
  private ended(airing: Airing, result: ClipResult, endedAtMs?: number, reason?: string): void {
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
  private holdReached(hold: Airing, atMs: number): void {
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
  private settle(): void {
    // The first airing handed is what the output shows once the ones before it ended.
    const first = this.airings.find((a) => a.live);
    if (first?.segment.kind !== 'HOLD') return;
    this.o.alarms.raise(
      'SCHEDULE_HOLD',
      `nothing to play until ${new Date(first.segment.endMs).toISOString()}: the schedule has no usable filler`,
    );
  }

  private withdraw(airing: Airing): void {
    airing.live = false;
    void airing.handle?.stop().catch(() => undefined);
  }

  /** Cuts at `frame` (a take): airings from then on are withdrawn; the one airing then ends TRUNCATED there. */
  private async cutAt(frame: number): Promise<void> {
    this.cancelTimer();
    const keep = this.airings.filter((a) => a.fromFrame < frame);
    for (const a of this.airings.filter((x) => x.fromFrame >= frame)) this.withdraw(a);
    this.airings = keep;
    for (const a of keep) {
      // Cut by the take: it ends where the plan with the take ends it.
      const now = this.plan!.segmentAt(a.fromFrame).segment;
      if (now.endFrame >= a.segment.endFrame) continue;
      a.cut = true;
      a.segment = { ...a.segment, endFrame: now.endFrame, endMs: now.endMs, truncated: true };
    }
    this.tail = frame;
    this.pump();
  }

  /**
   * A new version: the airing on air plays on; those handed behind it stay
   * where the new plan airs the same from their frame (or their handover is
   * too close to withdraw them), and from the first that differs everything is
   * withdrawn and handed again from the new plan.
   */
  private async replanFromNextBoundary(): Promise<void> {
    this.cancelTimer();
    const live = this.airings.filter((a) => a.live);
    if (live.length === 0) {
      this.pump();
      return;
    }
    const plan = this.plan!;
    // Too close to its handover to withdraw it for sure (Engine.cueLockMs): it airs as handed.
    const locked = (a: Airing) =>
      frameStartMs(a.fromFrame, plan.rate) - this.clock.now() < (this.o.engine.cueLockMs ?? 0);
    let kept = 1;
    for (; kept < live.length; kept++) {
      const a = live[kept];
      if (sameAiring(plan.segmentAt(a.fromFrame).segment, a.segment)) a.version = plan.schedule.version;
      else if (!locked(a)) break;
    }
    for (const a of live.slice(kept)) this.withdraw(a);
    this.airings = live.slice(0, kept);
    this.tail = this.airings.at(-1)!.segment.endFrame;
    this.pump();
  }

  /** Takes the channel back from manual play at `frame`: manual play is cut there by the schedule's clip. */
  private async takeChannelBack(frame: number): Promise<void> {
    this.cancelTimer();
    this.suspended = false;
    if (this.halted) this.o.alarms.clear('PLAYOUT_STOPPED');
    this.halted = false;
    this.handingBack = true;
    await this.o.manual?.handBack(frameStartMs(frame, this.plan!.rate));
    this.airings = [];
    this.tail = frame;
    const { segment } = this.plan!.segmentAt(frame);
    this.hand(segment, frame, true);
  }

  /** While suspended: the next HARD event brings the schedule back (a fixed-time event is usually contracted). */
  private armHardResume(): void {
    this.cancelTimer();
    const plan = this.plan!;
    const rate = plan.rate;
    const now = this.clock.now();
    const soonest = frameFrom(now + this.leadMs, rate);
    const hard = plan
      .at(frameFrom(now, rate))
      .events.find((e) => e.trigger === 'HARD' && e.status === 'PLANNED' && e.startFrame! >= soonest);
    if (!hard) return;
    const wakeIn = frameStartMs(hard.startFrame!, rate) - this.leadMs - now;
    this.timer = this.clock.after(wakeIn, () => {
      this.timer = null;
      void this.serial(async () => {
        if (this.suspended && this.plan === plan) await this.takeChannelBack(hard.startFrame!);
      });
    });
  }

  /** The engine cannot play any more: what airs ends, PLAYOUT_STOPPED, and the runner waits for a PUT or resume. */
  private haltFor(message: string): void {
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

  private async takeAllOff(reason: string): Promise<void> {
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

  private cancelTimer(): void {
    if (this.timer !== null) this.clock.cancel(this.timer);
    this.timer = null;
  }
}
