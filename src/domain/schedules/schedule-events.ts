import type { Transition } from '../../../prisma/generated/client/client.ts';
import { badInput, notFound } from '../../errors.ts';
import type { Trigger } from '../../schedule/model.ts';
import { canSee } from '../access/access.ts';
import { findVisibleAsset } from '../media/assets.ts';
import { checkTiming } from '../playlists/items.ts';
import type { DomainContext } from '../shared/context.ts';
import { parseId } from '../shared/ids.ts';
import {
  channelOfEvent,
  editSchedule,
  newEventId,
  type Committed,
  type EditOutcome,
  type LockedSchedule,
} from './schedule-edit.ts';
import { clipOf, EVENT_CONTENT, MAX_CLIP_MS, type EventRow } from './schedule-model.ts';

/**
 * The edits of a schedule's events: add (at a position or after an event),
 * update (trigger, time, content), move and remove. Each runs through
 * editSchedule (one locked transaction, validated, versioned, published).
 */

export interface EventFields {
  trigger?: Trigger | null;
  /** Null clears it (FOLLOW, MANUAL). */
  at?: Date | null;
  /** A clip: the asset, with its points and transition. */
  assetId?: string | null;
  /** A block: a playlist of the same channel, its items as they are. */
  playlistId?: string | null;
  inPointMs?: number | null;
  outPointMs?: number | null;
  transition?: Transition | null;
  transitionMs?: number | null;
}

export interface AddEventInput extends EventFields {
  channelId: string;
  trigger: Trigger;
  /** 0-based air order; default: the end. */
  position?: number | null;
  /** Insert right after this event instead. */
  afterEventId?: string | null;
}

const TIMING = ['inPointMs', 'outPointMs', 'transition', 'transitionMs'] as const;
const given = (input: EventFields, f: keyof EventFields) => input[f] !== undefined && input[f] !== null;

/** The event as `input` changes it (all of it for a new event), content read and checked. */
export async function applyFields(locked: LockedSchedule, row: EventRow, input: EventFields): Promise<EventRow> {
  const { tx, principal: p } = locked;
  const next: EventRow = { ...row };
  if (given(input, 'assetId') && given(input, 'playlistId'))
    throw badInput('input.playlistId', 'give an asset (a clip) or a playlist (a block), not both');
  if (given(input, 'trigger')) next.trigger = input.trigger!;
  const timed = next.trigger === 'HARD' || next.trigger === 'SOFT';
  if (input.at !== undefined) next.at = input.at;
  else if (!timed) next.at = null; // a trigger made FOLLOW or MANUAL drops its time
  if (timed && next.at === null) throw badInput('input.at', `a ${next.trigger} event needs a time`);
  if (!timed && next.at !== null) throw badInput('input.at', `a ${next.trigger} event has no time`);
  if (input.at && input.at.getTime() <= locked.nowMs) throw badInput('input.at', 'must be in the future');

  if (given(input, 'assetId')) {
    let read = locked.assets.get(input.assetId!);
    if (!read) locked.assets.set(input.assetId!, (read = findVisibleAsset(tx, p, 'input.assetId', input.assetId!)));
    const asset = await read;
    // A project-less (admin-only) channel may air any asset; others only their project's.
    if (locked.projectId !== null && asset.projectId !== locked.projectId)
      throw badInput('input.assetId', "the asset belongs to another project than the schedule's channel");
    Object.assign(next, { assetId: asset.id, asset, playlistId: null, playlist: null });
  } else if (given(input, 'playlistId')) {
    const id = parseId('input.playlistId', input.playlistId!);
    // KEY SHARE, as the event's foreign key will: a concurrent deletePlaylist either waits and
    // finds the event, or wins and this finds no playlist.
    const held = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM playlists WHERE id = ${id}::uuid FOR KEY SHARE`;
    const playlist = !held.length
      ? null
      : await tx.playlist.findFirst({
          where: { id, channel: { deletedAt: null } },
          include: { ...EVENT_CONTENT.playlist.include, channel: { select: { projectId: true } } },
        });
    if (!playlist || !canSee(p, playlist.channel.projectId)) throw notFound('playlist');
    if (playlist.channelId !== locked.channelId)
      throw badInput('input.playlistId', "the playlist belongs to another channel than the schedule's");
    const { channel: _channel, ...block } = playlist;
    Object.assign(next, { assetId: null, asset: null, playlistId: id, playlist: block });
    Object.assign(next, { inPointMs: null, outPointMs: null, transition: 'CUT', transitionMs: 0 });
  }
  if (next.playlistId !== null) {
    const field = TIMING.find(
      (f) =>
        given(input, f) &&
        !(f === 'transition' && input.transition === 'CUT') &&
        !(f === 'transitionMs' && input.transitionMs === 0),
    );
    if (field)
      throw badInput(
        `input.${field}`,
        "a block plays its playlist's items as they are: points and transitions are a clip's",
      );
    return next;
  }
  if (input.inPointMs !== undefined) next.inPointMs = input.inPointMs;
  if (input.outPointMs !== undefined) next.outPointMs = input.outPointMs;
  if (given(input, 'transition')) next.transition = input.transition!;
  if (given(input, 'transitionMs')) next.transitionMs = input.transitionMs!;
  if (!next.asset) throw badInput('input.assetId', 'give an asset (a clip) or a playlist (a block)');
  const timing = { inPointMs: next.inPointMs, outPointMs: next.outPointMs, transitionMs: next.transitionMs };
  const timingGiven = (['inPointMs', 'outPointMs', 'transitionMs'] as const).filter((f) => given(input, f));
  checkTiming(timing, next.asset.durationMs, new Set(timingGiven));
  if (!clipOf(next.id, next.asset, next)) {
    const field = given(input, 'outPointMs') ? 'input.outPointMs' : 'input.assetId';
    throw badInput(
      field,
      next.outPointMs === null && next.asset.durationMs === null
        ? "the asset's duration is unknown: give an out point"
        : `leaves a clip longer than a schedule plans (${MAX_CLIP_MS} ms)`,
    );
  }
  return next;
}

/** A new event of the locked schedule, from `input` (checked as addScheduleEvent checks it). */
export async function newEvent(locked: LockedSchedule, input: EventFields & { trigger: Trigger }): Promise<EventRow> {
  const blank: EventRow = {
    id: newEventId(),
    channelId: locked.channelId,
    position: 0,
    trigger: input.trigger,
    at: null,
    assetId: null,
    playlistId: null,
    inPointMs: null,
    outPointMs: null,
    transition: 'CUT',
    transitionMs: 0,
    takenAt: null,
    skippedAt: null,
    createdAt: new Date(locked.nowMs),
    updatedAt: new Date(locked.nowMs),
    asset: null,
    playlist: null,
  };
  if (!given(input, 'assetId') && !given(input, 'playlistId'))
    throw badInput('input.assetId', 'give an asset (a clip) or a playlist (a block)');
  return applyFields(locked, blank, input);
}

/** Adds an event at `position` (default: the end) or right after `afterEventId`. */
export async function addScheduleEvent(ctx: DomainContext, input: AddEventInput): Promise<Committed<EventRow>> {
  const channelId = parseId('input.channelId', input.channelId);
  const afterId = input.afterEventId == null ? null : parseId('input.afterEventId', input.afterEventId);
  if (afterId !== null && input.position != null)
    throw badInput('input.afterEventId', 'give a position or an event to follow, not both');
  return editSchedule(ctx, 'input.channelId', channelId, async (locked) => {
    const count = locked.events.length;
    let position = input.position ?? count;
    if (afterId !== null) {
      const i = locked.events.findIndex((e) => e.id === afterId);
      if (i < 0) throw badInput('input.afterEventId', 'not an event of this schedule');
      position = i + 1;
    }
    if (position < 0 || position > count) throw badInput('input.position', `must be from 0 to ${count}`);
    const event = await newEvent(locked, input);
    locked.events.splice(position, 0, event);
    return {
      kind: 'EVENT_ADDED',
      eventIds: [event.id],
      blame: afterId !== null ? 'input.afterEventId' : 'input.position',
      edited: event.id,
      result: () => ({ ...event, position }),
    };
  });
}

/** An edit of one existing event (named by the input's `id`), at its index in the locked schedule. */
async function editEvent<T>(
  ctx: DomainContext,
  rawId: string,
  edit: (locked: LockedSchedule, id: string, index: number) => Promise<EditOutcome<T>>,
): Promise<Committed<T>> {
  const id = parseId('id', rawId);
  const channelId = await channelOfEvent(ctx, id);
  return editSchedule(ctx, 'id', channelId, async (locked) => {
    const index = locked.events.findIndex((e) => e.id === id);
    if (index < 0) throw notFound('schedule event');
    return edit(locked, id, index);
  });
}

/** Only the fields given change; giving an asset makes it a clip, a playlist a block. */
export async function updateScheduleEvent(
  ctx: DomainContext,
  rawId: string,
  input: EventFields,
): Promise<Committed<EventRow>> {
  return editEvent(ctx, rawId, async (locked, id, i) => {
    const event = await applyFields(locked, locked.events[i], input);
    locked.events[i] = event;
    const blame = given(input, 'at') ? 'input.at' : given(input, 'trigger') ? 'input.trigger' : 'id';
    return { kind: 'EVENT_UPDATED', eventIds: [id], touched: [id], blame, edited: id, result: () => event };
  });
}

/** Moves the event to `position` (0-based air order); the events between shift by one. */
export async function moveScheduleEvent(
  ctx: DomainContext,
  rawId: string,
  position: number,
): Promise<Committed<EventRow>> {
  return editEvent(ctx, rawId, async (locked, id, i) => {
    const count = locked.events.length;
    if (position < 0 || position >= count) throw badInput('position', `must be from 0 to ${count - 1}`);
    const [event] = locked.events.splice(i, 1);
    locked.events.splice(position, 0, event);
    return {
      kind: 'EVENT_MOVED',
      eventIds: [id],
      touched: [id],
      // Not `edited`: what a move breaks is blamed on the position, never on the event's own fields.
      blame: 'position',
      result: () => ({ ...event, position }),
    };
  });
}

/** Removes the event; the later ones move up by one. */
export async function removeScheduleEvent(ctx: DomainContext, rawId: string): Promise<Committed<string>> {
  return editEvent(ctx, rawId, async (locked, id, i) => {
    locked.events.splice(i, 1);
    return { kind: 'EVENT_REMOVED', eventIds: [id], touched: [id], blame: 'id', result: () => id };
  });
}
