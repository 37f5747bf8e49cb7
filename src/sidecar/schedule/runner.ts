import { frameAt, frameFrom, frameStartMs } from '../../schedule/frames.ts';
import type { Schedule } from '../../schedule/model.ts';
import { StateConflictError } from '../sequencer.ts';
import { RunnerPlan } from './planner.ts';
import { sameAiring, sameClipRun, type Airing } from './airing.ts';
import { runnerStatus, type RunnerStatus } from './status.ts';
import { Handover } from './handover.ts';
import type { KeptSchedule } from './store.ts';
import { hardResumeFrame } from './precedence.ts';

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
export class ScheduleRunner extends Handover {
  /**
   * PUT /schedule. The first one takes the channel, joining in progress (or
   * waits suspended while a manual playlist airs); a newer version applies
   * from the next segment boundary, the segment on air playing on; the same
   * version again changes nothing; an older one is STALE.
   */
  apply(schedule: Schedule, restored: Partial<Omit<KeptSchedule, 'schedule'>> = {}): Promise<{ version: number }> {
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
      if (!this.plan) {
        this.plan = new RunnerPlan(schedule, () => this.clock.now(), this.lookaheadMs);
        // A restart: the takes and skips made before it still stand (their events are on air or done).
        for (const [id, at] of Object.entries(restored.taken ?? {})) this.plan.taken.set(id, at);
        for (const [id, at] of Object.entries(restored.skipped ?? {})) this.plan.skipped.set(id, at);
      }
      // Those the control plane recorded that this runner did not make (another sidecar, before a failover).
      for (const [id, at] of Object.entries(schedule.taken ?? {}))
        if (!this.plan.taken.has(id)) this.plan.taken.set(id, at);
      for (const [id, at] of Object.entries(schedule.skipped ?? {}))
        if (!this.plan.skipped.has(id)) this.plan.skipped.set(id, at);
      this.plan.replace(schedule);
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

  /**
   * POST /transport/skip while the schedule airs: the event on air is cut on
   * the first frame the engine can make (joinLeadMs ahead, as a take), ending
   * SKIPPED ("skipped by an operator"), and the plan is derived again from
   * there: FOLLOW events after it move up to that frame, SOFT ones start at the
   * later of their time and it, HARD ones keep their time (filler before them).
   * The event is the one on air when the operator pressed, never the one at
   * the cut: refused (CONFLICT naming it) when it ends before that frame (it
   * plays out; a late press must not skip the next event by surprise) or is
   * already skipped (a double press); refused in filler between events (the
   * next event has its time). Decided here, in the runner's one queue, so two
   * presses never both pass.
   */
  skip(): Promise<{ eventId: string; atMs: number }> {
    return this.serial(async () => {
      const plan = this.plan;
      if (!plan || this.suspended || this.halted)
        throw new StateConflictError(plan ? 'the schedule does not have the channel' : 'nothing is playing');
      const now = this.clock.now();
      const onAir = frameAt(now, plan.rate);
      const frame = frameFrom(now + this.joinLeadMs, plan.rate);
      const { segment } = plan.segmentAt(onAir);
      const event = plan.at(onAir).events.find((e) => e.eventId === segment.eventId);
      if (!event || event.startFrame === null || event.endFrame === null)
        throw new StateConflictError(
          'filler plays until the next event, which keeps its time: there is no scheduled event on air to skip',
        );
      const endMs = frameStartMs(event.endFrame, plan.rate);
      if (plan.skipped.has(event.eventId))
        throw new StateConflictError(
          `event ${event.eventId} is already skipped: it leaves air at ${new Date(endMs).toISOString()}, and the next event is not on air yet`,
          'CONFLICT',
          event.eventId,
        );
      if (event.endFrame <= frame)
        throw new StateConflictError(
          `event ${event.eventId} ends in ${Math.max(0, endMs - now)} ms, before the first frame a skip can cut ` +
            `(${this.joinLeadMs} ms ahead): it plays to its end and the next event starts at its planned time`,
          'CONFLICT',
          event.eventId,
        );
      const atMs = frameStartMs(frame, plan.rate);
      plan.skipped.set(event.eventId, atMs);
      await this.persist();
      await this.cutAt(frame, { how: 'SKIPPED', reason: 'skipped by an operator' });
      return { eventId: event.eventId, atMs };
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
      skipped: plan.skipped,
    });
  }

  /** Keeps the schedule and its takes where a restart finds them (nothing once detached). */
  private async persist(): Promise<void> {
    const plan = this.plan;
    try {
      await this.o.persist?.(
        plan
          ? {
              schedule: plan.schedule,
              taken: Object.fromEntries(plan.taken),
              skipped: Object.fromEntries(plan.skipped),
            }
          : null,
      );
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
   * Cuts at `frame` (a take, a skip): airings from then on are withdrawn; the
   * one airing then ends there, TRUNCATED (its planned end moved to the cut),
   * or as `endedBy` says (a skip: its planned end stays, the as-run shows the cut).
   */
  protected async cutAt(frame: number, endedBy?: Airing['endedBy']): Promise<void> {
    this.cancelTimer();
    const keep = this.airings.filter((a) => a.fromFrame < frame);
    for (const a of this.airings.filter((x) => x.fromFrame >= frame)) this.withdraw(a);
    this.airings = keep;
    for (const a of keep) {
      // Cut by the take: it ends where the plan with the take ends it.
      const now = this.plan!.segmentAt(a.fromFrame).segment;
      if (now.endFrame >= a.segment.endFrame) continue;
      a.cut = true;
      if (endedBy && a.segment.endFrame > frame) {
        a.endedBy = endedBy;
        continue;
      }
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
  protected async replanFromNextBoundary(): Promise<void> {
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
    // The one on air keeps its clip; the next one's transition may move where it hands over (its tail).
    const onAir = live[0];
    const now = plan.segmentAt(onAir.fromFrame).segment;
    if (sameClipRun(now, onAir.segment)) onAir.segment = now;
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
  protected async takeChannelBack(frame: number): Promise<void> {
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
  protected armHardResume(): void {
    this.cancelTimer();
    const plan = this.plan!;
    const now = this.clock.now();
    const frame = hardResumeFrame(plan, now, this.leadMs);
    if (frame === null) return;
    const wakeIn = frameStartMs(frame, plan.rate) - this.leadMs - now;
    this.timer = this.clock.after(wakeIn, () => {
      this.timer = null;
      void this.serial(async () => {
        if (this.suspended && this.plan === plan) await this.takeChannelBack(frame);
      });
    });
  }
}
