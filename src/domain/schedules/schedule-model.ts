import type { Prisma } from '../../services/db.ts';
import { ScheduleSchema, type Schedule, type ScheduleClip, type ScheduleEvent } from '../../schedule/model.ts';
import { effectiveDurationMs } from '../playlists/playlists.ts';

/**
 * A channel's schedule rows as the planner's `Schedule` (src/schedule/model.ts):
 * clips from assets (media path, effective duration, in/out points), blocks
 * from their playlist's items in order, as `play` builds a playlist's items.
 */

/** The longest clip a schedule plans (PlaylistItemSchema's bound). */
export const MAX_CLIP_MS = 86_400_000;

/** What an event row needs to become an event of the plan. */
export const EVENT_CONTENT = {
  asset: true,
  playlist: { include: { items: { orderBy: { position: 'asc' }, include: { asset: true } } } },
} as const satisfies Prisma.ScheduleEventInclude;

export type EventRow = Prisma.ScheduleEventGetPayload<{ include: typeof EVENT_CONTENT }>;
export type AssetRow = Prisma.AssetGetPayload<object>;

export interface ScheduleSettings {
  version: number;
  timeZone: string;
  dayStart: string;
}

/** An event left out of the plan, and why (its block's playlist has no item that can be timed). */
export interface UnplayableEvent {
  eventId: string;
  /** CONTENT: nothing in it can be timed; ANCHOR: an untimed event with no timed one before it. */
  cause: 'CONTENT' | 'ANCHOR';
  reason: string;
}

export interface BuiltSchedule {
  schedule: Schedule;
  /** Assets whose media is not READY on the volume: the plan replaces their clips with filler. */
  missingAssets: Set<string>;
  unplayable: UnplayableEvent[];
  /** MANUAL events an operator took, at the instant they went to air (the planner's `taken`). */
  taken: Map<string, number>;
  /** Events an operator skipped on air, at the instant the sidecar cut them (the planner's `skipped`). */
  skipped: Map<string, number>;
}

/**
 * Where an unstaged clip would be: a path on the volume that holds no file, so
 * a sidecar that reaches it finds the media missing and plays filler for its
 * planned length, as the plan (missingAssets) shows. Staging makes it the real path.
 */
export const unstagedMediaPath = (assetId: string) => `unstaged/${assetId}`;

export const isStaged = (asset: AssetRow) => asset.mediaStatus === 'READY' && asset.mediaPath !== null;

/** A clip of `asset` with the points given; null when its length is unknown, zero or over a day. */
export function clipOf(
  itemId: string,
  asset: AssetRow,
  timing: {
    inPointMs: number | null;
    outPointMs: number | null;
    transition: ScheduleClip['transition'];
    transitionMs: number;
  },
): ScheduleClip | null {
  const durationMs = effectiveDurationMs({ ...timing, asset });
  if (durationMs === null || durationMs <= 0 || durationMs > MAX_CLIP_MS) return null;
  return {
    itemId,
    assetId: asset.id,
    clipName: asset.filename,
    mediaPath: isStaged(asset) ? asset.mediaPath! : unstagedMediaPath(asset.id),
    ...(timing.inPointMs !== null && { inPointMs: timing.inPointMs }),
    ...(timing.outPointMs !== null && { outPointMs: timing.outPointMs }),
    durationMs,
    transition: timing.transition,
    transitionMs: timing.transitionMs,
  };
}

/** The clips an event row airs; empty when none can be timed. */
export function eventClipsOf(row: EventRow): ScheduleClip[] {
  if (row.asset) {
    const clip = clipOf(row.id, row.asset, row);
    return clip ? [clip] : [];
  }
  return (row.playlist?.items ?? []).flatMap((item) => {
    const clip = clipOf(item.id, item.asset, item);
    return clip ? [clip] : [];
  });
}

/** The plan's form of an event row, or null when it airs nothing. */
export function scheduleEventOf(row: EventRow): ScheduleEvent | null {
  const clips = eventClipsOf(row);
  if (clips.length === 0) return null;
  return {
    eventId: row.id,
    trigger: row.trigger,
    ...(row.at !== null && { at: row.at.toISOString() }),
    content: row.playlistId ? { kind: 'BLOCK', playlistId: row.playlistId, clips } : { kind: 'CLIP', clip: clips[0] },
  };
}

/** The schedule's parts before parsing: what edits validate (ScheduleSchema.safeParse) before they commit. */
export interface DraftSchedule {
  input: unknown;
  missingAssets: Set<string>;
  unplayable: UnplayableEvent[];
  /** MANUAL events an operator took, at the instant they went to air (the planner's `taken`). */
  taken: Map<string, number>;
  /** Events an operator skipped on air, at the instant the sidecar cut them (the planner's `skipped`). */
  skipped: Map<string, number>;
}

/**
 * The schedule as the planner and the sidecar take it. An event that airs
 * nothing (a block whose playlist was emptied since) is left out and reported;
 * so are untimed events left at the head, which have nothing to follow.
 */
export function draftSchedule(
  settings: ScheduleSettings,
  videoFormat: string,
  rows: readonly EventRow[],
  filler: readonly AssetRow[],
): DraftSchedule {
  const missingAssets = new Set<string>();
  const unplayable: UnplayableEvent[] = [];
  const events: ScheduleEvent[] = [];
  const taken = new Map<string, number>();
  const skipped = new Map<string, number>();
  for (const row of rows) {
    if (row.trigger === 'MANUAL' && row.takenAt) taken.set(row.id, row.takenAt.getTime());
    if (row.skippedAt) skipped.set(row.id, row.skippedAt.getTime());
    const event = scheduleEventOf(row);
    if (!event) {
      unplayable.push({
        eventId: row.id,
        cause: 'CONTENT',
        reason: 'its playlist has no item whose duration is known',
      });
      continue;
    }
    if (events.length === 0 && event.at === undefined) {
      unplayable.push({
        eventId: row.id,
        cause: 'ANCHOR',
        reason: 'the first event must be HARD or SOFT: there is no timed event before it',
      });
      continue;
    }
    events.push(event);
    for (const asset of row.asset ? [row.asset] : (row.playlist?.items ?? []).map((i) => i.asset))
      if (!isStaged(asset)) missingAssets.add(asset.id);
  }
  const fillerClips = filler.flatMap((asset, position) => {
    const clip = clipOf(`filler-${position}`, asset, {
      inPointMs: null,
      outPointMs: null,
      transition: 'CUT',
      transitionMs: 0,
    });
    if (clip && !isStaged(asset)) missingAssets.add(asset.id);
    return clip ? [clip] : [];
  });
  const input = { version: settings.version, videoFormat, timeZone: settings.timeZone, events, filler: fillerClips };
  return { input, missingAssets, unplayable, taken, skipped };
}

/**
 * draftSchedule, parsed. Throws when it does not parse: every edit validates
 * what it commits, so that is a bug, not an input.
 */
export function buildSchedule(
  settings: ScheduleSettings,
  videoFormat: string,
  rows: readonly EventRow[],
  filler: readonly AssetRow[],
): BuiltSchedule {
  const draft = draftSchedule(settings, videoFormat, rows, filler);
  return {
    schedule: ScheduleSchema.parse(draft.input),
    missingAssets: draft.missingAssets,
    unplayable: draft.unplayable,
    taken: draft.taken,
    skipped: draft.skipped,
  };
}
