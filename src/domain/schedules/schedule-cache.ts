import type { FrameRate } from '../../schedule/frames.ts';
import { planSchedule, type Plan } from '../../schedule/plan.ts';
import type { Window } from '../../schedule/time-zone.ts';
import type { BuiltSchedule } from './schedule-model.ts';

/**
 * A channel's schedule as read and parsed for one version, and the days planned
 * from it, kept in this process: a console asking for a day or now/next every
 * few seconds re-reads only the schedule's row. Every change of what a
 * schedule airs bumps its version (edits, block and media changes) or, for a
 * take or a skip on air, its count of operator actions, both in the key, so an entry is never stale; an
 * older one simply stops being asked for and leaves the LRU. Plans are shared between requests: never mutate one.
 */

/** @defaultValue 32 schedules (a 2,000-event day is a few MB parsed) */
export const CACHED_SCHEDULES = 32;
/** @defaultValue 4 windows planned per schedule (yesterday, today, tomorrow, and one more) */
export const CACHED_PLANS = 4;

interface Entry {
  built: BuiltSchedule;
  /** Untaken MANUAL events make a plan depend on "now" (HOLDING until a HARD event passes, then SKIPPED). */
  nowDependent: boolean;
  plans: Map<string, Plan>;
}

export interface ScheduleKey {
  channelId: string;
  version: number;
  /** Takes and skips so far: an operator's action changes the plan, not the version (the sidecar already has it). */
  operatorActions: number;
  videoFormat: string;
  timeZone: string;
}

const entries = new Map<string, Entry>();
const keyOf = (k: ScheduleKey) => `${k.channelId}|${k.version}|${k.operatorActions}|${k.videoFormat}|${k.timeZone}`;

/** Moves `key` to the most recent end of a Map used as an LRU, dropping the oldest past `max`. */
function touch<V>(map: Map<string, V>, key: string, value: V, max: number): V {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value!);
  return value;
}

/** The built schedule of `key`, read by `load` when this version is not held yet. */
export async function cachedSchedule(key: ScheduleKey, load: () => Promise<BuiltSchedule>): Promise<BuiltSchedule> {
  const k = keyOf(key);
  const held = entries.get(k);
  if (held) return touch(entries, k, held, CACHED_SCHEDULES).built;
  const built = await load();
  const nowDependent = built.schedule.events.some((e) => e.trigger === 'MANUAL');
  return touch(entries, k, { built, nowDependent, plans: new Map() }, CACHED_SCHEDULES).built;
}

/** The plan of a window of a cached schedule: kept per window unless it depends on "now". */
export function cachedPlan(
  key: ScheduleKey,
  built: BuiltSchedule,
  rate: FrameRate,
  window: Window,
  nowMs: number,
): Plan {
  const plan = () =>
    planSchedule(built.schedule, rate, {
      window,
      nowMs,
      missingAssets: built.missingAssets,
      taken: built.taken,
      skipped: built.skipped,
    });
  const entry = entries.get(keyOf(key));
  if (!entry || entry.built !== built || entry.nowDependent) return plan();
  const w = `${window.fromMs}|${window.toMs}`;
  return touch(entry.plans, w, entry.plans.get(w) ?? plan(), CACHED_PLANS);
}

/** Forgets everything (tests measuring a cold read). */
export function clearScheduleCache(): void {
  entries.clear();
}
