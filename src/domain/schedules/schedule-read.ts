import { badInput } from '../../errors.ts';
import { frameAt, frameRateOf, frameStartMs, type FrameRate } from '../../schedule/frames.ts';
import type { Schedule } from '../../schedule/model.ts';
import { nowAndNext, type NowAndNext } from '../../schedule/on-air.ts';
import { planSchedule, type Plan, type PlannedEvent } from '../../schedule/plan.ts';
import { broadcastDay, type Window } from '../../schedule/time-zone.ts';
import { requirePrincipal } from '../access/access.ts';
import { requireChannel } from '../channels/channels.ts';
import type { DomainContext } from '../shared/context.ts';
import { cachedPlan, cachedSchedule } from './schedule-cache.ts';
import type { BuiltSchedule } from './schedule-model.ts';
import { readSchedule, scheduleView, sidecarSchedule, type Reader, type ScheduleView } from './schedule-snapshot.ts';

/** A visible channel's schedule (VIEWER and up), or NOT_FOUND. */
export async function findSchedule(ctx: DomainContext, rawChannelId: string): Promise<ScheduleView> {
  requirePrincipal(ctx.principal);
  const channel = await requireChannel(ctx, 'channelId', rawChannelId, 'VIEWER');
  return scheduleView(ctx.db, channel);
}

/**
 * The schedule as a channel's sidecar takes it (`PUT /schedule`), read in one
 * snapshot so its version and its events agree. OPERATOR and up (it carries
 * media paths, as a playlist load does).
 */
export async function scheduleForSidecar(ctx: DomainContext, rawChannelId: string): Promise<Schedule> {
  const channel = await requireChannel(ctx, 'channelId', rawChannelId, 'OPERATOR');
  return sidecarSchedule(ctx.db, channel);
}

export function planOf(built: BuiltSchedule, rate: FrameRate, window: Window, nowMs: number): Plan {
  return planSchedule(built.schedule, rate, {
    window,
    nowMs,
    missingAssets: built.missingAssets,
    taken: built.taken,
    skipped: built.skipped,
  });
}

export interface DayPlan {
  date: string;
  window: Window;
  hours: number;
  plan: Plan;
  /** The events of the day: those on air in it, and those held or skipped where it is. */
  events: PlannedEvent[];
  unplayable: BuiltSchedule['unplayable'];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The broadcast day `date` (local date in the schedule's time zone, from its day start), planned. */
export async function scheduleDay(db: Reader, view: ScheduleView, date: string, nowMs = Date.now()): Promise<DayPlan> {
  if (
    !DATE.test(date) ||
    Number.isNaN(Date.parse(`${date}T00:00:00Z`)) ||
    new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) !== date
  )
    throw badInput('date', 'must be a date, YYYY-MM-DD');
  const window = broadcastDay(date, view.timeZone, view.dayStart);
  const built = await cachedSchedule(view, () => readSchedule(db, view));
  const plan = cachedPlan(view, built, frameRateOf(view.videoFormat), window, nowMs);
  return {
    date,
    window,
    hours: (window.toMs - window.fromMs) / 3_600_000,
    plan,
    events: eventsIn(plan),
    unplayable: built.unplayable,
  };
}

/**
 * Events of a window: a planned event overlapping it; one without a start
 * (held, skipped) where the timeline is, its time or else that of the event before it.
 */
function eventsIn(plan: Plan): PlannedEvent[] {
  let anchor: number | null = null;
  return plan.events.filter((e) => {
    if (e.startFrame !== null && e.endFrame !== null) {
      anchor = e.startFrame;
      return e.startFrame < plan.toFrame && e.endFrame > plan.fromFrame;
    }
    if (e.timedFrame !== null) anchor = e.timedFrame;
    return anchor !== null && anchor >= plan.fromFrame && anchor < plan.toFrame;
  });
}

export interface OnAirNow extends NowAndNext {
  atMs: number;
  rate: FrameRate;
  /** The next HARD event's planned start after now, and how long until it. */
  nextHard: PlannedEvent | null;
  msToNextHard: number | null;
}

/** What is on air at `nowMs` by the schedule, and what comes next. */
export async function scheduleNow(db: Reader, view: ScheduleView, nowMs = Date.now()): Promise<OnAirNow> {
  const rate = frameRateOf(view.videoFormat);
  const built = await cachedSchedule(view, () => readSchedule(db, view));
  return onAirNow(built, rate, nowMs);
}

export function onAirNow(built: BuiltSchedule, rate: FrameRate, nowMs: number): OnAirNow {
  const plan = planOf(built, rate, { fromMs: nowMs, toMs: nowMs + 1 }, nowMs);
  const result = nowAndNext(plan, nowMs);
  if (result.now) {
    // The segment after the one on air lies beyond this window: plan from its end.
    const end = result.now.segment.endMs;
    const after = planOf(built, rate, { fromMs: end, toMs: end + 1 }, nowMs);
    result.nextSegment = after.segments.find((s) => s.startFrame >= result.now!.segment.endFrame) ?? null;
  }
  const nowFrame = frameAt(nowMs, rate);
  const nextHard = plan.events.find((e) => e.trigger === 'HARD' && e.startFrame !== null && e.startFrame > nowFrame);
  return {
    ...result,
    atMs: nowMs,
    rate,
    nextHard: nextHard ?? null,
    msToNextHard: nextHard ? frameStartMs(nextHard.startFrame!, rate) - nowMs : null,
  };
}
