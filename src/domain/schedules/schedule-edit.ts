import { randomUUID } from 'node:crypto';
import type { Principal } from '../../auth/principal.ts';
import { badInput, conflict, notFound } from '../../errors.ts';
import { frameAt, frameRateOf, frameStartMs, type FrameRate } from '../../schedule/frames.ts';
import { ScheduleSchema } from '../../schedule/model.ts';
import { onAirAt } from '../../schedule/on-air.ts';
import { planSchedule } from '../../schedule/plan.ts';
import type { Prisma } from '../../services/db.ts';
import type { ScheduleChangeKind, ScheduleChangeMessage } from '../../services/pubsub.ts';
import { assertAccess, canSee, requirePrincipal } from '../access/access.ts';
import { TX_OPTIONS, type Tx } from '../playlists/playlists.ts';
import type { DomainContext } from '../shared/context.ts';
import { pushSchedule } from './schedule-push.ts';
import { draftSchedule, EVENT_CONTENT, type AssetRow, type EventRow, type ScheduleSettings } from './schedule-model.ts';

/**
 * The one way a schedule changes: in a transaction that locks the schedule's
 * row (FOR UPDATE; concurrent edits of a channel's schedule queue there), an
 * edit rewrites the list of events in memory, the result is validated as the
 * sidecar will parse it (ScheduleSchema) and against what is on air now, the
 * difference is written and the version bumped; after the commit the change is
 * published. What is already on air or aired is the past and stays as it is:
 * the event on air, and every event before it in air order, cannot be edited,
 * moved or removed, nothing can be put before them, and no edit may make an
 * event start before now.
 */

/** What an edit sees under the lock. */
export interface LockedSchedule {
  channelId: string;
  projectId: string | null;
  videoFormat: string;
  settings: ScheduleSettings;
  /** Events in air order, with their content; an edit rewrites this list. */
  events: EventRow[];
  filler: AssetRow[];
  principal: Principal;
  tx: Tx;
  nowMs: number;
  /** How many events, from the first, are on air or aired: an edit leaves them as they are. */
  pastLength: number;
  /** Assets read by this edit (a day imported names a few assets many times): each is read once. */
  assets: Map<string, Promise<AssetRow>>;
}

export interface EditOutcome<T> {
  kind: ScheduleChangeKind;
  /** Events added, changed, moved or removed. */
  eventIds: string[];
  /** The events touched that must not be in the past (updated, moved, removed). */
  touched?: string[];
  /** The input field an invalid resulting schedule is blamed on, unless the issue is about an edited event's own field. */
  blame: string;
  /** An edited event's id: an issue about its trigger or time names `input.trigger` / `input.at`. */
  edited?: string;
  /**
   * The input field a new event comes from (`events.3`), when an edit adds several: an issue
   * about it names that field, never the row id the caller has not seen.
   */
  inputOf?: (eventId: string) => string | undefined;
  settings?: Partial<Omit<ScheduleSettings, 'version'>>;
  /** New filler pool (asset ids in order), when the edit sets it. */
  filler?: string[];
  result: () => T;
}

export interface Committed<T> {
  channelId: string;
  version: number;
  value: T;
}

/** Locks and reads a channel's schedule (created on first edit). OPERATOR and up, as playlists. */
async function lockSchedule(tx: Tx, p: Principal, field: string, channelId: string): Promise<LockedSchedule> {
  // FOR SHARE: a concurrent deleteChannel waits, so no schedule lands on a tombstone.
  const channels = await tx.$queryRaw<{ project_id: string | null; video_format: string }[]>`
    SELECT project_id, video_format FROM channels WHERE id = ${channelId}::uuid AND deleted_at IS NULL FOR SHARE`;
  if (!channels.length || !canSee(p, channels[0].project_id))
    throw field === 'id' ? notFound('schedule event') : notFound('channel');
  assertAccess(p, channels[0].project_id, 'OPERATOR', 'schedule');
  await tx.$executeRaw`INSERT INTO schedules (channel_id) VALUES (${channelId}::uuid) ON CONFLICT DO NOTHING`;
  const rows = await tx.$queryRaw<{ version: number; time_zone: string; day_start: string }[]>`
    SELECT version, time_zone, day_start FROM schedules WHERE channel_id = ${channelId}::uuid FOR UPDATE`;
  const [events, filler] = await Promise.all([
    tx.scheduleEvent.findMany({ where: { channelId }, orderBy: { position: 'asc' }, include: EVENT_CONTENT }),
    tx.scheduleFiller.findMany({ where: { channelId }, orderBy: { position: 'asc' }, include: { asset: true } }),
  ]);
  return {
    channelId,
    projectId: channels[0].project_id,
    videoFormat: channels[0].video_format,
    settings: { version: rows[0].version, timeZone: rows[0].time_zone, dayStart: rows[0].day_start },
    events,
    filler: filler.map((f) => f.asset),
    principal: p,
    tx,
    nowMs: Date.now(),
    pastLength: 0,
    assets: new Map(),
  };
}

/** The channel of a visible schedule event, or NOT_FOUND. */
export async function channelOfEvent(ctx: DomainContext, eventId: string): Promise<string> {
  const row = await ctx.db.scheduleEvent.findUnique({
    where: { id: eventId },
    select: { channelId: true, schedule: { select: { channel: { select: { projectId: true, deletedAt: true } } } } },
  });
  const channel = row?.schedule.channel;
  if (!row || !channel || channel.deletedAt !== null || !canSee(requirePrincipal(ctx.principal), channel.projectId))
    throw notFound('schedule event');
  return row.channelId;
}

interface Past {
  /** Events that started at or before now, and every event before them in air order. */
  frozen: Set<string>;
  /** How many events the frozen prefix holds. */
  length: number;
  onAir: string | null;
  /** Events the schedule already left out of its plan. */
  unplayable: string[];
}

/** What of a schedule is the past at `nowMs`: the prefix of events up to the last one started. */
function pastOf(locked: LockedSchedule, events: readonly EventRow[], rate: FrameRate): Past {
  const draft = draftSchedule(locked.settings, locked.videoFormat, events, locked.filler);
  const parsed = ScheduleSchema.safeParse(draft.input);
  // Every commit was validated: a schedule that does not parse is a bug, and what is on air could not be told.
  if (!parsed.success)
    throw new Error(`schedule of channel ${locked.channelId} does not parse: ${parsed.error.message}`);
  const window = { fromMs: locked.nowMs, toMs: locked.nowMs + 1 };
  const plan = planSchedule(parsed.data, rate, {
    window,
    nowMs: locked.nowMs,
    missingAssets: draft.missingAssets,
    taken: draft.taken,
    skipped: draft.skipped,
  });
  const nowFrame = frameAt(locked.nowMs, rate);
  const started = new Set(
    plan.events.filter((e) => e.startFrame !== null && e.startFrame <= nowFrame).map((e) => e.eventId),
  );
  let length = 0;
  events.forEach((e, i) => {
    if (started.has(e.id)) length = i + 1;
  });
  return {
    frozen: new Set(events.slice(0, length).map((e) => e.id)),
    length,
    onAir: onAirAt(plan, locked.nowMs)?.segment.eventId ?? null,
    unplayable: draft.unplayable.map((u) => u.eventId),
  };
}

/** Field of a ScheduleSchema issue path, for the event it is about. */
function fieldOf(path: readonly PropertyKey[], outcome: EditOutcome<unknown>, eventIds: string[]) {
  if (path[0] === 'events' && typeof path[1] === 'number') {
    const id = eventIds[path[1]];
    const key = String(path[2] ?? '');
    const input = id ? outcome.inputOf?.(id) : undefined;
    if (input) return { field: key === 'trigger' || key === 'at' ? `${input}.${key}` : input, id: undefined };
    if (id && id === outcome.edited && (key === 'trigger' || key === 'at')) return { field: `input.${key}`, id };
    return { field: outcome.blame, id };
  }
  if (path[0] === 'timeZone') return { field: 'input.timeZone', id: undefined };
  return { field: outcome.blame, id: undefined };
}

/**
 * Runs `edit` on the locked schedule, validates and writes the result, bumps
 * the version and publishes the change. `edit` throws BAD_USER_INPUT for its
 * own inputs; the checks here cover the schedule as a whole.
 */
export async function editSchedule<T>(
  ctx: DomainContext,
  field: string,
  channelId: string,
  edit: (locked: LockedSchedule) => Promise<EditOutcome<T>>,
): Promise<Committed<T>> {
  const p = requirePrincipal(ctx.principal);
  let message: ScheduleChangeMessage | undefined;
  const committed = await ctx.db.$transaction(async (tx) => {
    const locked = await lockSchedule(tx, p, field, channelId);
    const before = locked.events.slice();
    const rate = frameRateOf(locked.videoFormat);
    const past = pastOf(locked, before, rate);
    locked.pastLength = past.length;
    const outcome = await edit(locked);
    const after = locked.events;

    for (const id of outcome.touched ?? []) {
      if (id === past.onAir)
        throw conflict(`schedule event ${id} is on air: it cannot be changed, moved or removed`, { eventId: id });
      if (past.frozen.has(id))
        throw conflict(`schedule event ${id} has already aired: it cannot be changed, moved or removed`, {
          eventId: id,
        });
    }
    const head = (events: EventRow[]) => events.slice(0, past.length).map((e) => e.id);
    if (head(after).join() !== head(before).join()) {
      const onAir = past.onAir ?? before[past.length - 1]?.id;
      throw conflict(
        `events cannot be put before schedule event ${onAir}, which is on air or aired: the first free position is ${past.length}`,
        { eventId: onAir, position: past.length },
      );
    }

    const settings = { ...locked.settings, ...outcome.settings };
    const filler = outcome.filler ? await fillerAssets(tx, outcome.filler) : locked.filler;
    const draft = draftSchedule(settings, locked.videoFormat, after, filler);
    // An event that airs nothing, or that the edit left first without a time, is refused (one that was so before is not this edit's).
    const unplayableBefore = new Set(past.unplayable);
    const broken = draft.unplayable.find((u) => u.eventId === outcome.edited || !unplayableBefore.has(u.eventId));
    if (broken) {
      const own = broken.eventId === outcome.edited;
      const input = outcome.inputOf?.(broken.eventId);
      const prefix = own ? 'input' : input;
      if (prefix) throw badInput(`${prefix}.${broken.cause === 'ANCHOR' ? 'trigger' : 'playlistId'}`, broken.reason);
      throw badInput(outcome.blame, `schedule event ${broken.eventId}: ${broken.reason}`);
    }
    const parsed = ScheduleSchema.safeParse(draft.input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const ids = (draft.input as { events: { eventId: string }[] }).events.map((e) => e.eventId);
      const { field: blamed, id } = fieldOf(issue.path, outcome, ids);
      throw badInput(blamed, id && id !== outcome.edited ? `schedule event ${id}: ${issue.message}` : issue.message);
    }
    // Nothing may start in the past: an event the edit moved there (a FOLLOW chain after a removed event, a time gone by).
    const window = { fromMs: locked.nowMs, toMs: locked.nowMs + 1 };
    const plan = planSchedule(parsed.data, rate, {
      window,
      nowMs: locked.nowMs,
      missingAssets: draft.missingAssets,
      taken: draft.taken,
      skipped: draft.skipped,
    });
    const nowFrame = frameAt(locked.nowMs, rate);
    for (const e of plan.events) {
      if (past.frozen.has(e.eventId) || e.startFrame === null || e.startFrame > nowFrame) continue;
      if (e.eventId === outcome.edited && e.timedFrame !== null && e.timedFrame <= nowFrame)
        throw badInput('input.at', 'must be in the future');
      const input = outcome.inputOf?.(e.eventId);
      throw conflict(
        `${input ? `the new event ${input}` : `schedule event ${e.eventId}`} would start at ${new Date(frameStartMs(e.startFrame, rate)).toISOString()}, which is past`,
        input ? { field: input } : { eventId: e.eventId },
      );
    }

    await writeEvents(tx, channelId, before, after);
    if (outcome.filler) await writeFiller(tx, channelId, outcome.filler);
    const [{ version }] = await tx.$queryRaw<{ version: number }[]>`
      UPDATE schedules SET version = version + 1, updated_at = now(),
        time_zone = ${settings.timeZone}, day_start = ${settings.dayStart}
      WHERE channel_id = ${channelId}::uuid RETURNING version`;
    message = {
      channelId,
      projectId: locked.projectId,
      version,
      kind: outcome.kind,
      eventIds: outcome.eventIds,
      at: new Date().toISOString(),
    };
    return { channelId, version, value: outcome.result() };
  }, TX_OPTIONS);
  if (message) {
    ctx.services.pubsub.publish('scheduleChanged', channelId, message);
    // After the commit: the running sidecar gets the version just made (retried until it has one as new).
    await pushSchedule(ctx.services, channelId);
  }
  return committed;
}

async function fillerAssets(tx: Tx, assetIds: string[]): Promise<AssetRow[]> {
  const rows = await tx.asset.findMany({ where: { id: { in: assetIds } } });
  const byId = new Map(rows.map((a) => [a.id, a]));
  return assetIds.map((id) => byId.get(id)!);
}

const CONTENT_FIELDS = [
  'trigger',
  'at',
  'assetId',
  'playlistId',
  'inPointMs',
  'outPointMs',
  'transition',
  'transitionMs',
] as const;

const same = (a: EventRow, b: EventRow) =>
  CONTENT_FIELDS.every((f) => (f === 'at' ? a.at?.getTime() === b.at?.getTime() : a[f] === b[f]));

/** Writes the difference between two lists of events: removals, changes, additions, then positions. */
async function writeEvents(tx: Tx, channelId: string, before: EventRow[], after: EventRow[]): Promise<void> {
  const old = new Map(before.map((e) => [e.id, e]));
  const kept = new Set(after.map((e) => e.id));
  const removed = before.filter((e) => !kept.has(e.id)).map((e) => e.id);
  if (removed.length) await tx.scheduleEvent.deleteMany({ where: { channelId, id: { in: removed } } });
  const added: Prisma.ScheduleEventCreateManyInput[] = [];
  for (const [position, e] of after.entries()) {
    const data = {
      trigger: e.trigger,
      at: e.at,
      assetId: e.assetId,
      playlistId: e.playlistId,
      inPointMs: e.inPointMs,
      outPointMs: e.outPointMs,
      transition: e.transition,
      transitionMs: e.transitionMs,
      // A take stands while the event is MANUAL, as on the sidecar, which forgets it otherwise.
      takenAt: e.trigger === 'MANUAL' ? e.takenAt : null,
    };
    const was = old.get(e.id);
    // schedule_events_channel_position_key is deferred: positions may collide until commit.
    if (!was) added.push({ id: e.id, channelId, position, ...data });
    else if (!same(was, e)) await tx.scheduleEvent.update({ where: { id: e.id }, data });
  }
  // One statement for the new events (a day imported is hundreds).
  if (added.length) await tx.scheduleEvent.createMany({ data: added });
  // One statement for the run of positions an insert, a move or a removal shifts.
  const moved = after.flatMap((e, position) => {
    const was = old.get(e.id);
    return was && was.position !== position ? [{ id: e.id, position }] : [];
  });
  if (moved.length) {
    await tx.$executeRaw`
      UPDATE schedule_events SET position = v.position, updated_at = now()
      FROM unnest(${moved.map((m) => m.id)}::uuid[], ${moved.map((m) => m.position)}::int[]) AS v(id, position)
      WHERE schedule_events.id = v.id AND schedule_events.channel_id = ${channelId}::uuid`;
  }
}

async function writeFiller(tx: Tx, channelId: string, assetIds: string[]): Promise<void> {
  await tx.scheduleFiller.deleteMany({ where: { channelId } });
  if (assetIds.length)
    await tx.scheduleFiller.createMany({
      data: assetIds.map((assetId, position) => ({ channelId, position, assetId })),
    });
}

/** A new event's id, known before it is written so that the schedule can be validated first. */
export const newEventId = () => randomUUID();
