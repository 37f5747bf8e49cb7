import type { Principal } from '../../auth/principal.ts';
import { conflict, notFound } from '../../errors.ts';
import type { DomainContext } from '../shared/context.ts';
import type { Prisma } from '../../services/db.ts';
import { assertAccess, canSee, requirePrincipal, visibleProjectIds } from '../access/access.ts';
import { parseId } from '../shared/ids.ts';

export type PlaylistQuery = { include?: Prisma.PlaylistInclude; select?: Prisma.PlaylistSelect };
export type Tx = Prisma.TransactionClient;

/** Position changes queue behind the playlist lock; a few dozen may wait at once. */
export const TX_OPTIONS = { maxWait: 10_000, timeout: 10_000 } as const;

/** GraphQL Int is 32-bit; a playlist longer than ~24 days reports this ceiling. */
const MAX_INT = 2_147_483_647;

/** Live channels (not tombstones) the caller may see: the scope of playlists and items. */
export function visibleChannels(p: Principal): Prisma.ChannelWhereInput {
  const ids = visibleProjectIds(p);
  return { deletedAt: null, ...(ids ? { projectId: { in: ids } } : {}) };
}

/**
 * Locks a playlist row for the rest of the transaction and returns its
 * channel's project. Every change of positions takes this lock first, so
 * concurrent adds, removes and reorders on one playlist serialize.
 * Null when the playlist is gone or its channel deleted.
 */
export async function lockPlaylist(tx: Tx, playlistId: string): Promise<{ projectId: string | null } | null> {
  const rows = await tx.$queryRaw<{ project_id: string | null }[]>`
    SELECT c.project_id FROM playlists p JOIN channels c ON c.id = p.channel_id
    WHERE p.id = ${playlistId}::uuid AND c.deleted_at IS NULL
    FOR UPDATE OF p FOR SHARE OF c`;
  return rows.length ? { projectId: rows[0].project_id } : null;
}

/** lockPlaylist, then the caller's access: NOT_FOUND unless visible, FORBIDDEN below `need`. */
export async function lockPlaylistFor(tx: Tx, p: Principal, playlistId: string, need: 'OPERATOR') {
  const locked = await lockPlaylist(tx, playlistId);
  if (!locked || !canSee(p, locked.projectId)) throw notFound('playlist');
  assertAccess(p, locked.projectId, need, 'playlist');
  return locked;
}

export async function findPlaylist(ctx: DomainContext, rawId: string, query: PlaylistQuery) {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('id', rawId);
  return ctx.db.playlist.findFirst({ ...query, where: { id, channel: visibleChannels(p) } });
}

export async function createPlaylist(
  ctx: DomainContext,
  input: { channelId: string; name: string; loop?: boolean | null },
  query: PlaylistQuery,
) {
  const p = requirePrincipal(ctx.principal);
  const channelId = parseId('input.channelId', input.channelId);
  return ctx.db.$transaction(async (tx) => {
    // FOR SHARE: a concurrent deleteChannel waits, so no playlist lands on a tombstone.
    const rows = await tx.$queryRaw<{ project_id: string | null }[]>`
      SELECT project_id FROM channels WHERE id = ${channelId}::uuid AND deleted_at IS NULL FOR SHARE`;
    if (!rows.length || !canSee(p, rows[0].project_id)) throw notFound('channel');
    assertAccess(p, rows[0].project_id, 'OPERATOR', 'channel');
    return tx.playlist.create({ ...query, data: { channelId, name: input.name, loop: input.loop ?? false } });
  }, TX_OPTIONS);
}

/** Only the fields given change. */
export async function updatePlaylist(
  ctx: DomainContext,
  rawId: string,
  input: { name?: string | null; loop?: boolean | null },
  query: PlaylistQuery,
) {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('id', rawId);
  const data: Prisma.PlaylistUpdateInput = {};
  if (input.name != null) data.name = input.name;
  if (input.loop != null) data.loop = input.loop;
  return ctx.db.$transaction(async (tx) => {
    await lockPlaylistFor(tx, p, id, 'OPERATOR');
    return tx.playlist.update({ ...query, where: { id }, data: { ...data, revision: { increment: 1 } } });
  }, TX_OPTIONS);
}

/**
 * Its items go with it (cascade); as-run rows keep their data (item_id SET NULL).
 * The playlist on air of a channel that runs is refused (CONFLICT): the row
 * lock taken first makes a concurrent play wait (its reference to the row
 * needs a KEY SHARE lock), so either play sees it gone or this sees it on air.
 */
export async function deletePlaylist(ctx: DomainContext, rawId: string): Promise<string> {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('id', rawId);
  await ctx.db.$transaction(async (tx) => {
    await lockPlaylistFor(tx, p, id, 'OPERATOR');
    const onAir = await tx.channel.findFirst({
      where: { onAirPlaylistId: id, status: { in: ['STARTING', 'RUNNING', 'STOPPING'] } },
      select: { id: true, name: true, status: true },
    });
    if (onAir) {
      throw conflict(
        `the playlist is on air on channel ${onAir.name} (${onAir.status}): play another playlist or stop the channel first`,
        {
          channelId: onAir.id,
        },
      );
    }
    // A block of the channel's schedule airs it: the schedule is edited first (schedule_events' key refuses it too).
    const scheduled = await tx.scheduleEvent.findFirst({ where: { playlistId: id }, select: { id: true } });
    if (scheduled) {
      throw conflict(
        `the playlist is scheduled as a block (schedule event ${scheduled.id}): remove or change that event first`,
        { eventId: scheduled.id },
      );
    }
    await tx.playlist.delete({ where: { id } });
  }, TX_OPTIONS);
  return id;
}

export interface TimedItem {
  inPointMs: number | null;
  outPointMs: number | null;
  asset: { durationMs: number | null };
}

/** On-air length: outPoint - inPoint, else the asset's duration from inPoint; null if unknown. */
export function effectiveDurationMs(item: TimedItem): number | null {
  const from = item.inPointMs ?? 0;
  if (item.outPointMs != null) return item.outPointMs - from;
  if (item.asset.durationMs != null) return Math.max(item.asset.durationMs - from, 0);
  return null;
}

/** Sum of the items' effective durations; an unknown duration counts 0. */
export function playlistDurationMs(items: TimedItem[]): number {
  const total = items.reduce((sum, item) => sum + (effectiveDurationMs(item) ?? 0), 0);
  return Math.min(total, MAX_INT);
}

/** An empty playlist is not ready: there is nothing to put to air. */
export function playlistReady(items: { mediaStatus: string }[]): boolean {
  return items.length > 0 && items.every((item) => item.mediaStatus === 'READY');
}
