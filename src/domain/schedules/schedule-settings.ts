import { badInput } from '../../errors.ts';
import { timeZoneSchema } from '../../schedule/model.ts';
import { broadcastDay } from '../../schedule/time-zone.ts';
import { findVisibleAsset } from '../media/assets.ts';
import type { DomainContext } from '../shared/context.ts';
import { parseId } from '../shared/ids.ts';
import { editSchedule, type Committed } from './schedule-edit.ts';
import { clipOf, MAX_CLIP_MS } from './schedule-model.ts';

/** A filler pool longer than this is a mistake, not a pool (ScheduleSchema's bound). */
export const MAX_FILLER = 10_000;

/**
 * Shortest filler clip: a day is planned segment by segment, and a pool of
 * frame-long clips would make a day of millions of them.
 */
export const MIN_FILLER_MS = 1000;

/** Changes a schedule's time zone and broadcast day start: days are read anew; planned instants stay (they are UTC). */
export async function updateScheduleSettings(
  ctx: DomainContext,
  rawChannelId: string,
  input: { timeZone?: string | null; dayStart?: string | null },
): Promise<Committed<null>> {
  const channelId = parseId('channelId', rawChannelId);
  return editSchedule(ctx, 'channelId', channelId, async (locked) => {
    const settings = {
      timeZone: input.timeZone ?? locked.settings.timeZone,
      dayStart: input.dayStart ?? locked.settings.dayStart,
    };
    const zone = timeZoneSchema.safeParse(settings.timeZone);
    if (!zone.success) throw badInput('input.timeZone', zone.error.issues[0].message);
    try {
      broadcastDay('2026-01-01', settings.timeZone, settings.dayStart);
    } catch (err) {
      throw badInput('input.dayStart', (err as Error).message);
    }
    return { kind: 'SETTINGS_CHANGED', eventIds: [], blame: 'input.timeZone', settings, result: () => null };
  });
}

/** Sets the filler pool: these assets, played in this order (an asset may be listed more than once). */
export async function setScheduleFiller(
  ctx: DomainContext,
  rawChannelId: string,
  rawAssetIds: string[],
): Promise<Committed<null>> {
  const channelId = parseId('channelId', rawChannelId);
  if (rawAssetIds.length > MAX_FILLER) throw badInput('assetIds', `must list at most ${MAX_FILLER} assets`);
  const assetIds = rawAssetIds.map((raw) => parseId('assetIds', raw));
  return editSchedule(ctx, 'channelId', channelId, async (locked) => {
    for (const id of new Set(assetIds)) {
      const asset = await findVisibleAsset(locked.tx, locked.principal, 'assetIds', id);
      if (locked.projectId !== null && asset.projectId !== locked.projectId)
        throw badInput('assetIds', `asset ${id} belongs to another project than the schedule's channel`);
      const clip = clipOf(id, asset, { inPointMs: null, outPointMs: null, transition: 'CUT', transitionMs: 0 });
      if (clip && clip.durationMs < MIN_FILLER_MS)
        throw badInput('assetIds', `asset ${id}: shorter than a filler clip may be (${MIN_FILLER_MS} ms)`);
      if (!clip)
        throw badInput(
          'assetIds',
          asset.durationMs === null
            ? `asset ${id}: its duration is unknown`
            : `asset ${id}: longer than a schedule plans (${MAX_CLIP_MS} ms)`,
        );
    }
    return { kind: 'FILLER_CHANGED', eventIds: [], blame: 'assetIds', filler: assetIds, result: () => null };
  });
}
