import { ErrorCode, OnairError, badInput } from '../../errors.ts';
import { frameFrom, frameRateOf } from '../../schedule/frames.ts';
import { ScheduleSchema } from '../../schedule/model.ts';
import { planSchedule } from '../../schedule/plan.ts';
import type { Window } from '../../schedule/time-zone.ts';
import type { DomainContext } from '../shared/context.ts';
import { parseId } from '../shared/ids.ts';
import { editSchedule, type Committed, type LockedSchedule } from './schedule-edit.ts';
import { newEvent, type EventFields } from './schedule-events.ts';
import { draftSchedule, type EventRow } from './schedule-model.ts';

/**
 * Replaces the future events of a window (a broadcast day, for a traffic
 * import) with a new list, all or nothing, as one versioned change. The event
 * on air and those before it stay whatever the window; the events of the
 * window that have not started are removed, and the new ones go where the
 * removed ones were (before the first later event), in the order given.
 * An invalid new event is BAD_USER_INPUT naming `events.<i>.<field>`.
 */
export interface ReplacedEvents {
  /** Ids of the new events, in the order given. */
  added: string[];
  removed: string[];
}

export async function replaceScheduleEvents(
  ctx: DomainContext,
  rawChannelId: string,
  window: Window,
  events: readonly (EventFields & { trigger: NonNullable<EventFields['trigger']> })[],
): Promise<Committed<ReplacedEvents>> {
  const channelId = parseId('channelId', rawChannelId);
  if (!(window.toMs > window.fromMs)) throw badInput('window', 'must end after it starts');
  return editSchedule(ctx, 'channelId', channelId, async (locked) => {
    const anchors = anchorsOf(locked);
    const rate = frameRateOf(locked.videoFormat);
    const [from, to] = [frameFrom(window.fromMs, rate), frameFrom(window.toMs, rate)];
    const inWindow = (e: EventRow, i: number) => {
      const anchor = anchors.get(e.id);
      return i >= locked.pastLength && anchor !== undefined && anchor !== null && anchor >= from && anchor < to;
    };
    const removed = locked.events.filter(inWindow).map((e) => e.id);
    const kept = locked.events.filter((e, i) => !inWindow(e, i));
    const added: EventRow[] = [];
    for (const [i, input] of events.entries()) {
      try {
        added.push(await newEvent(locked, input));
      } catch (err) {
        throw renamed(err, `events.${i}`);
      }
    }
    // Before the first later event not on air (its anchor at or after the window's end), else at the end.
    let at = kept.findIndex((e) => {
      const anchor = anchors.get(e.id);
      return locked.events.indexOf(e) >= locked.pastLength && anchor != null && anchor >= to;
    });
    if (at < 0) at = kept.length;
    at = Math.max(at, locked.pastLength);
    locked.events.splice(0, locked.events.length, ...kept.slice(0, at), ...added, ...kept.slice(at));
    return {
      kind: 'EVENTS_REPLACED',
      eventIds: [...removed, ...added.map((e) => e.id)],
      touched: removed,
      blame: 'events',
      inputOf: (id) => {
        const i = added.findIndex((e) => e.id === id);
        return i < 0 ? undefined : `events.${i}`;
      },
      result: () => ({ added: added.map((e) => e.id), removed }),
    };
  });
}

/** Where each event sits on the timeline (frames): its planned start, else its time, else that of the event before. */
function anchorsOf(locked: LockedSchedule): Map<string, number | null> {
  const draft = draftSchedule(locked.settings, locked.videoFormat, locked.events, locked.filler);
  const parsed = ScheduleSchema.safeParse(draft.input);
  const anchors = new Map<string, number | null>();
  if (!parsed.success) return anchors;
  const window = { fromMs: locked.nowMs, toMs: locked.nowMs + 1 };
  const rate = frameRateOf(locked.videoFormat);
  const plan = planSchedule(parsed.data, rate, {
    window,
    nowMs: locked.nowMs,
    missingAssets: draft.missingAssets,
    taken: draft.taken,
    skipped: draft.skipped,
  });
  const planned = new Map(plan.events.map((e) => [e.eventId, e]));
  let last: number | null = null;
  for (const e of locked.events) {
    const p = planned.get(e.id);
    last = p?.startFrame ?? p?.timedFrame ?? last;
    anchors.set(e.id, last);
  }
  return anchors;
}

/** An input error of one new event, named under its place in the list (`events.3.at`). */
function renamed(err: unknown, prefix: string): unknown {
  if (!(err instanceof OnairError) || err.extensions.code !== ErrorCode.BAD_USER_INPUT) return err;
  const field = String(err.extensions.field ?? '');
  const name = field.startsWith('input.') ? `${prefix}.${field.slice('input.'.length)}` : prefix;
  return badInput(name, err.message.slice(field.length + 2));
}
