import { ErrorCode, OnairError } from '../../errors.ts';
import { advanceInPlaylist } from '../../protocol/sidecar-api.ts';
import type { Services } from '../../services/index.ts';
import type { SidecarTarget } from '../../services/sidecar-client.ts';
import { EngineSnapshots } from './engine-status.ts';
import { loadPlaylistBody } from './transport.ts';

/**
 * Where a lost sidecar's playout was, so that its replacement joins the
 * schedule in progress: the item on air and how far into it, as read at `at`.
 */
export interface OnAirPoint {
  playlistId: string;
  itemId: string;
  /** Position in the item at `at`, paused time excluded. */
  positionMs: number;
  at: Date;
  /** Paused at `positionMs`: the position did not move after `at`. */
  paused: boolean;
  /** The engine snapshot the worker keeps in Redis, or the open as-run row when there is none. */
  source: 'snapshot' | 'as-run';
}

export type ResumeResult =
  | { resumed: true; playlistId: string; itemId: string; index: number; offsetMs: number; paused: boolean }
  | { resumed: false; why: string };

type ResumeDeps = Pick<Services, 'db' | 'redis' | 'sidecars'> & { config: Pick<Services['config'], 'queuePrefix'> };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How long a new sidecar may take to answer its first load (a container binds its port after it starts). */
const LOAD_DEADLINE_MS = 10_000;

/**
 * What was on air on the channel's lost sidecar. The engine snapshot is the
 * truth while it belongs to that sidecar's run (saved after it started); its
 * position was read when the snapshot was saved, or, once it is marked
 * unreachable, at the last heartbeat at the latest. Without one, the open
 * as-run row says which item went on air when (position counted from its
 * start: a pause or an earlier resume within that item is not known there).
 * Null: nothing was playing (IDLE, STOPPED, or no record).
 */
export async function lastOnAir(
  deps: ResumeDeps,
  channel: { id: string; startedAt: Date | null; lastHeartbeatAt: Date | null },
): Promise<OnAirPoint | null> {
  const snapshot = await new EngineSnapshots(deps.redis, deps.config.queuePrefix).load(channel.id);
  const ofThisRun =
    snapshot && snapshot.state !== null && (!channel.startedAt || snapshot.updatedAt >= channel.startedAt);
  if (snapshot && ofThisRun) {
    // The schedule had the channel (a block's playlist included): it joins in progress by itself, nothing to load.
    if (snapshot.schedule && !snapshot.schedule.suspended) return null;
    if ((snapshot.state !== 'PLAYING' && snapshot.state !== 'PAUSED') || !snapshot.playlistId || !snapshot.current)
      return null;
    const readAt =
      snapshot.reachable || !channel.lastHeartbeatAt || channel.lastHeartbeatAt > snapshot.updatedAt
        ? snapshot.updatedAt
        : channel.lastHeartbeatAt;
    return {
      playlistId: snapshot.playlistId,
      itemId: snapshot.current.itemId,
      positionMs: snapshot.current.positionMs,
      at: readAt,
      paused: snapshot.state === 'PAUSED',
      source: 'snapshot',
    };
  }
  const open = await deps.db.asRunEntry.findFirst({
    where: {
      channelId: channel.id,
      endedAt: null,
      playlistId: { not: null },
      itemId: { not: null },
      // What the schedule aired comes back with the schedule, not as a playlist.
      plannedStartAt: null,
    },
    orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
    select: { playlistId: true, itemId: true, startedAt: true },
  });
  if (!open) return null;
  return {
    playlistId: open.playlistId!,
    itemId: open.itemId!,
    positionMs: 0,
    at: open.startedAt,
    paused: false,
    source: 'as-run',
  };
}

/**
 * Where playout stands `positionMs` into item `index` of a list of item
 * durations (see advanceInPlaylist). Null: a playlist that does not loop
 * would have ended.
 */
export const resumePosition = advanceInPlaylist;

/**
 * Loads the playlist that was on air on the channel's new sidecar, at the
 * item and offset the wall clock says it would have reached had nothing
 * failed (join in progress: the schedule keeps time). A paused playout comes
 * back paused at its position: loaded there, then paused at once. Never
 * throws: a playlist that cannot go to air any more is reported as why not.
 */
export async function resumePlayback(
  deps: ResumeDeps,
  channelId: string,
  target: SidecarTarget,
  point: OnAirPoint | null,
): Promise<ResumeResult> {
  if (!point) return { resumed: false, why: 'nothing was playing' };
  // What a schedule airs outside a block names no playlist ('schedule'): the schedule comes back by itself.
  if (!UUID.test(point.playlistId)) return { resumed: false, why: 'the schedule had the channel' };
  const playlist = await deps.db.playlist.findFirst({
    where: { id: point.playlistId, channelId },
    include: { items: { orderBy: { position: 'asc' }, include: { asset: true } } },
  });
  if (!playlist) return { resumed: false, why: 'the playlist that was on air is gone' };
  let body: ReturnType<typeof loadPlaylistBody>;
  try {
    body = loadPlaylistBody(playlist);
  } catch (err) {
    return { resumed: false, why: err instanceof Error ? err.message : String(err) };
  }
  const index = body.items.findIndex((i) => i.itemId === point.itemId);
  if (index < 0) return { resumed: false, why: 'the item that was on air is no longer in its playlist' };
  const durations = body.items.map((i) => i.durationMs);
  const deadline = Date.now() + LOAD_DEADLINE_MS;
  for (;;) {
    // Computed at each attempt: the schedule moves on while the sidecar comes up.
    const now = Date.now();
    const elapsedMs = point.paused ? 0 : Math.max(0, now - point.at.getTime());
    let startAt = resumePosition(durations, body.loop, index, point.positionMs + elapsedMs);
    if (!startAt) return { resumed: false, why: 'the playlist would have ended by now' };
    // Anchored at `now`: the sidecar moves on by the time the load takes to reach its playout (a paused one stays).
    const anchor = point.paused ? {} : { anchorAt: new Date(now).toISOString() };
    try {
      const status = await deps.sidecars.load(target, { ...body, startAt, ...anchor });
      const current = status.current;
      if (current && current.index >= 0) startAt = { index: current.index, offsetMs: current.positionMs };
    } catch (err) {
      const unavailable = err instanceof OnairError && err.extensions.code === ErrorCode.SIDECAR_UNAVAILABLE;
      if (unavailable && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      return { resumed: false, why: err instanceof Error ? err.message : String(err) };
    }
    let paused = false;
    if (point.paused)
      paused = await deps.sidecars.transport(target, 'pause').then(
        () => true,
        () => false,
      );
    return { resumed: true, playlistId: playlist.id, itemId: body.items[startAt.index].itemId, ...startAt, paused };
  }
}
