import { ErrorCode, OnairError } from '../errors.ts';
import type { Services } from '../services/index.ts';
import type { SidecarTarget } from '../services/sidecar-client.ts';
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
  const ofThisRun = snapshot && snapshot.state !== null && (!channel.startedAt || snapshot.updatedAt >= channel.startedAt);
  if (snapshot && ofThisRun) {
    if ((snapshot.state !== 'PLAYING' && snapshot.state !== 'PAUSED') || !snapshot.playlistId || !snapshot.current) return null;
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
    where: { channelId: channel.id, endedAt: null, playlistId: { not: null }, itemId: { not: null } },
    orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
    select: { playlistId: true, itemId: true, startedAt: true },
  });
  if (!open) return null;
  return { playlistId: open.playlistId!, itemId: open.itemId!, positionMs: 0, at: open.startedAt, paused: false, source: 'as-run' };
}

/**
 * Where playout stands `positionMs` into item `index` of a list of item
 * durations: past the end of an item it continues into the next ones (round
 * again when the playlist loops). Null: a playlist that does not loop would
 * have ended.
 */
export function resumePosition(
  durationsMs: number[],
  loop: boolean,
  index: number,
  positionMs: number,
): { index: number; offsetMs: number } | null {
  const cycleMs = durationsMs.reduce((sum, d) => sum + d, 0);
  let i = index;
  let offset = Math.max(0, Math.round(positionMs));
  while (offset >= durationsMs[i]) {
    offset -= durationsMs[i];
    i += 1;
    if (i === durationsMs.length) {
      if (!loop) return null;
      i = 0;
      offset %= cycleMs; // whole rounds of the loop
    }
  }
  return { index: i, offsetMs: offset };
}

/**
 * Loads the playlist that was on air on the channel's new sidecar, at the
 * item and offset the wall clock says it would have reached had nothing
 * failed (join in progress: the schedule keeps time). A paused playout comes
 * back paused at its position: loaded there, then paused at once. Never
 * throws: a playlist that cannot go to air any more is reported as why not.
 */
export async function resumePlayback(deps: ResumeDeps, channelId: string, target: SidecarTarget, point: OnAirPoint | null): Promise<ResumeResult> {
  if (!point) return { resumed: false, why: 'nothing was playing' };
  const playlist = await deps.db.playlist.findFirst({
    where: { id: point.playlistId, channelId },
    include: { items: { orderBy: { position: 'asc' }, include: { asset: true } } },
  });
  if (!playlist) return { resumed: false, why: 'the playlist that was on air is gone' };
  let body;
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
    const elapsedMs = point.paused ? 0 : Math.max(0, Date.now() - point.at.getTime());
    const startAt = resumePosition(durations, body.loop, index, point.positionMs + elapsedMs);
    if (!startAt) return { resumed: false, why: 'the playlist would have ended by now' };
    try {
      await deps.sidecars.load(target, { ...body, startAt });
    } catch (err) {
      const unavailable = err instanceof OnairError && err.extensions.code === ErrorCode.SIDECAR_UNAVAILABLE;
      if (unavailable && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      return { resumed: false, why: err instanceof Error ? err.message : String(err) };
    }
    let paused = false;
    if (point.paused) paused = await deps.sidecars.transport(target, 'pause').then(() => true, () => false);
    return { resumed: true, playlistId: playlist.id, itemId: body.items[startAt.index].itemId, ...startAt, paused };
  }
}
