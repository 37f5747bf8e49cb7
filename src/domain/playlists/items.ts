import type { Principal } from '../../auth/principal.ts';
import { badInput, notFound } from '../../errors.ts';
import type { DomainContext } from '../shared/context.ts';
import type { MediaStatus, Transition } from '../../../prisma/generated/client/client.ts';
import type { Prisma } from '../../services/db.ts';
import { assertAccess, canSee, requirePrincipal } from '../access/access.ts';
import { findVisibleAsset } from '../media/assets.ts';
import { parseId } from '../shared/ids.ts';
import { requestStaging } from '../media/staging/media.ts';
import { bumpRevision, pushOnAirEdit } from '../channels/on-air-edits.ts';
import { assertBlockNotOnAir } from '../schedules/schedule-blocks.ts';
import { blockChanged } from '../schedules/schedule-content.ts';
import {
  TX_OPTIONS,
  effectiveDurationMs,
  lockPlaylist,
  lockPlaylistFor,
  visibleChannels,
  type PlaylistQuery,
} from './playlists.ts';

type ItemQuery = { include?: Prisma.ItemInclude; select?: Prisma.ItemSelect };

/** Longest transition on a clip of unknown length: a minute is already unusual on air. */
export const MAX_TRANSITION_UNKNOWN_MS = 60_000;

interface Timing {
  inPointMs: number | null;
  outPointMs: number | null;
  transitionMs: number;
}

/**
 * Checks the merged timing of an item against its asset. `given` lists the
 * input fields the caller set: a conflict names one of them, so the message
 * points at what the caller can change.
 */
export function checkTiming(t: Timing, assetDurationMs: number | null, given: ReadonlySet<keyof Timing>): void {
  const blame = (...fields: (keyof Timing)[]) => `input.${fields.find((f) => given.has(f)) ?? fields[0]}`;
  const { inPointMs, outPointMs, transitionMs } = t;
  if (inPointMs != null && inPointMs < 0) throw badInput('input.inPointMs', 'must be 0 or more');
  if (assetDurationMs != null && inPointMs != null && inPointMs >= assetDurationMs) {
    throw badInput('input.inPointMs', `must be less than the asset's duration (${assetDurationMs} ms)`);
  }
  if (outPointMs != null) {
    const from = inPointMs ?? 0;
    if (outPointMs <= from) {
      const field = blame('outPointMs', 'inPointMs');
      throw badInput(
        field,
        field === 'input.outPointMs'
          ? `must be greater than the in point (${from} ms)`
          : `must be less than the out point (${outPointMs} ms)`,
      );
    }
    if (assetDurationMs != null && outPointMs > assetDurationMs) {
      throw badInput('input.outPointMs', `must be at most the asset's duration (${assetDurationMs} ms)`);
    }
  }
  if (transitionMs < 0) throw badInput('input.transitionMs', 'must be 0 or more');
  const duration = effectiveDurationMs({ inPointMs, outPointMs, asset: { durationMs: assetDurationMs } });
  const max = duration ?? MAX_TRANSITION_UNKNOWN_MS;
  if (transitionMs > max) {
    const field = blame('transitionMs', 'outPointMs', 'inPointMs');
    if (field !== 'input.transitionMs')
      throw badInput(field, `leaves the item shorter than its transition (${transitionMs} ms)`);
    throw badInput(
      field,
      duration == null
        ? `must be at most ${MAX_TRANSITION_UNKNOWN_MS} while the asset's duration is unknown`
        : `must be at most the item's duration (${duration} ms)`,
    );
  }
}

function givenFields(input: Partial<Record<keyof Timing, unknown>>): Set<keyof Timing> {
  return new Set((['inPointMs', 'outPointMs', 'transitionMs'] as const).filter((f) => input[f] !== undefined));
}

export async function findItem(ctx: DomainContext, rawId: string, query: ItemQuery) {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('id', rawId);
  return ctx.db.item.findFirst({ ...query, where: { id, playlist: { channel: visibleChannels(p) } } });
}

/** The playlist of a visible item, or NOT_FOUND. */
async function playlistOfItem(ctx: DomainContext, p: Principal, id: string): Promise<string> {
  const item = await ctx.db.item.findFirst({
    where: { id, playlist: { channel: visibleChannels(p) } },
    select: { playlistId: true },
  });
  if (!item) throw notFound('item');
  return item.playlistId;
}

export interface AddItemArgs {
  playlistId: string;
  assetId: string;
  position?: number | null;
  inPointMs?: number | null;
  outPointMs?: number | null;
  transition?: Transition | null;
  transitionMs?: number | null;
}

/** Inserts at `position` (default: append), shifting the later items by one. */
export async function addItem(ctx: DomainContext, input: AddItemArgs, query: ItemQuery) {
  const p = requirePrincipal(ctx.principal);
  const playlistId = parseId('input.playlistId', input.playlistId);
  const assetId = parseId('input.assetId', input.assetId);
  const timing: Timing = {
    inPointMs: input.inPointMs ?? null,
    outPointMs: input.outPointMs ?? null,
    transitionMs: input.transitionMs ?? 0,
  };
  let staging: { id: string; mediaStatus: MediaStatus } | undefined;
  const item = await ctx.db.$transaction(async (tx) => {
    const { projectId } = await lockPlaylistFor(tx, p, playlistId, 'OPERATOR');
    await assertBlockNotOnAir(tx, playlistId);
    await bumpRevision(tx, playlistId);
    const asset = await findVisibleAsset(tx, p, 'input.assetId', assetId);
    staging = asset;
    // A project-less (admin-only) channel may air any asset; others only their project's.
    if (projectId !== null && asset.projectId !== projectId) {
      throw badInput('input.assetId', "the asset belongs to another project than the playlist's channel");
    }
    checkTiming(timing, asset.durationMs, givenFields(input));
    const count = await tx.item.count({ where: { playlistId } });
    const position = input.position ?? count;
    if (position < 0 || position > count) throw badInput('input.position', `must be from 0 to ${count}`);
    if (position < count) {
      // items_playlist_position_key is deferred: the run may collide until commit.
      await tx.item.updateMany({
        where: { playlistId, position: { gte: position } },
        data: { position: { increment: 1 } },
      });
    }
    return tx.item.create({
      ...query,
      data: { playlistId, assetId, position, ...timing, transition: input.transition ?? 'CUT' },
    });
  }, TX_OPTIONS);
  // After commit: the worker must find the item when it marks the asset.
  if (staging) await requestStaging(ctx.services, staging);
  await pushOnAirEdit(ctx.services, playlistId);
  await blockChanged(ctx.services, playlistId);
  return item;
}

/** Only the fields given change; the timing rules apply to the merged values. */
export async function updateItem(
  ctx: DomainContext,
  rawId: string,
  input: {
    inPointMs?: number | null;
    outPointMs?: number | null;
    transition?: Transition | null;
    transitionMs?: number | null;
  },
  query: ItemQuery,
) {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('id', rawId);
  const playlistId = await playlistOfItem(ctx, p, id);
  const updated = await ctx.db.$transaction(async (tx) => {
    // The playlist first, as every edit takes it (one lock order, no deadlock), then the item,
    // so two updates cannot each pass the checks on stale values.
    await lockPlaylist(tx, playlistId);
    const rows = await tx.$queryRaw<
      {
        project_id: string | null;
        in_point_ms: number | null;
        out_point_ms: number | null;
        transition_ms: number;
        duration_ms: number | null;
      }[]
    >`
      SELECT c.project_id, i.in_point_ms, i.out_point_ms, i.transition_ms, a.duration_ms
      FROM items i JOIN playlists p ON p.id = i.playlist_id JOIN channels c ON c.id = p.channel_id
        JOIN assets a ON a.id = i.asset_id
      WHERE i.id = ${id}::uuid AND i.playlist_id = ${playlistId}::uuid AND c.deleted_at IS NULL
      FOR UPDATE OF i`;
    const row = rows[0];
    if (!row || !canSee(p, row.project_id)) throw notFound('item');
    assertAccess(p, row.project_id, 'OPERATOR', 'item');
    const timing: Timing = {
      inPointMs: input.inPointMs !== undefined ? input.inPointMs : row.in_point_ms,
      outPointMs: input.outPointMs !== undefined ? input.outPointMs : row.out_point_ms,
      transitionMs: input.transitionMs ?? row.transition_ms,
    };
    checkTiming(timing, row.duration_ms, givenFields(input));
    await assertBlockNotOnAir(tx, playlistId);
    await bumpRevision(tx, playlistId);
    return tx.item.update({
      ...query,
      where: { id },
      data: { ...timing, ...(input.transition != null ? { transition: input.transition } : {}) },
    });
  }, TX_OPTIONS);
  await pushOnAirEdit(ctx.services, playlistId);
  await blockChanged(ctx.services, playlistId);
  return updated;
}

/** Removes the item and closes the gap: positions stay 0..n-1. */
export async function removeItem(ctx: DomainContext, rawId: string): Promise<string> {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('id', rawId);
  const playlistId = await playlistOfItem(ctx, p, id);
  await ctx.db.$transaction(async (tx) => {
    await lockPlaylistFor(tx, p, playlistId, 'OPERATOR');
    await assertBlockNotOnAir(tx, playlistId);
    await bumpRevision(tx, playlistId);
    // Read the position under the lock: a reorder may have moved the item.
    const removed = await tx.$queryRaw<{ position: number }[]>`
      DELETE FROM items WHERE id = ${id}::uuid AND playlist_id = ${playlistId}::uuid RETURNING position`;
    if (!removed.length) throw notFound('item');
    await tx.item.updateMany({
      where: { playlistId, position: { gt: removed[0].position } },
      data: { position: { decrement: 1 } },
    });
  }, TX_OPTIONS);
  await pushOnAirEdit(ctx.services, playlistId);
  await blockChanged(ctx.services, playlistId);
  return id;
}

/** itemIds must be exactly the playlist's items, each once; positions follow the list. */
export async function reorderItems(
  ctx: DomainContext,
  rawPlaylistId: string,
  rawItemIds: string[],
  query: PlaylistQuery,
) {
  const p = requirePrincipal(ctx.principal);
  const playlistId = parseId('playlistId', rawPlaylistId);
  const itemIds = rawItemIds.map((raw) => parseId('itemIds', raw));
  const playlist = await ctx.db.$transaction(async (tx) => {
    await lockPlaylistFor(tx, p, playlistId, 'OPERATOR');
    const current = new Set(
      (await tx.item.findMany({ where: { playlistId }, select: { id: true } })).map((item) => item.id),
    );
    const seen = new Set<string>();
    for (const itemId of itemIds) {
      if (seen.has(itemId)) throw badInput('itemIds', `lists item ${itemId} more than once`);
      if (!current.has(itemId)) throw badInput('itemIds', `${itemId} is not an item of this playlist`);
      seen.add(itemId);
    }
    if (seen.size !== current.size) {
      throw badInput('itemIds', `must list every item of the playlist (${current.size - seen.size} missing)`);
    }
    await assertBlockNotOnAir(tx, playlistId);
    await bumpRevision(tx, playlistId);
    if (itemIds.length > 0) {
      const positions = itemIds.map((_, i) => i);
      await tx.$executeRaw`
        UPDATE items SET position = v.position, updated_at = now()
        FROM unnest(${itemIds}::uuid[], ${positions}::int[]) AS v(id, position)
        WHERE items.id = v.id AND items.playlist_id = ${playlistId}::uuid AND items.position <> v.position`;
    }
    return tx.playlist.findUniqueOrThrow({ ...query, where: { id: playlistId } });
  }, TX_OPTIONS);
  await pushOnAirEdit(ctx.services, playlistId);
  await blockChanged(ctx.services, playlistId);
  return playlist;
}
