import type { PlaylistItem, UpdatePlaylist } from '../../protocol/sidecar-api.ts';
import { OnairError } from '../../errors.ts';
import type { Prisma } from '../../services/db.ts';
import type { Services } from '../../services/index.ts';
import { announceAlarms, clearAlarm, raiseAlarm } from './alarms.ts';
import { sidecarSecretOf } from './channel-lifecycle.ts';
import type { DomainContext } from '../shared/context.ts';
import { parseId } from '../shared/ids.ts';
import { effectiveDurationMs, updatePlaylist, type PlaylistQuery, type Tx } from '../playlists/playlists.ts';

type PlayablePlaylistItem = Prisma.ItemGetPayload<{ include: { asset: true } }>;

/**
 * Edits of the playlist on air (README "Editing on air"). `play` records the
 * playlist a channel loaded (channels.on_air_playlist_id); every edit of a
 * playlist bumps its revision in the edit's own transaction; after the edit
 * commits, the playlist as it is now goes to the sidecar of the channel that
 * has it on air (PUT /playlist), which applies it from the next item.
 */

/**
 * Called inside every edit's transaction, after the playlist's lock: the
 * revision the edit commits with, so that a push read later carries it.
 */
export async function bumpRevision(tx: Tx, playlistId: string): Promise<void> {
  await tx.$executeRaw`UPDATE playlists SET revision = revision + 1 WHERE id = ${playlistId}::uuid`;
}

/**
 * Items an edit can put to air: media READY on the volume and a known
 * duration, as `play` requires. The others are left out until they are
 * (staging that finishes pushes the list again).
 */
export function playableItems(items: PlayablePlaylistItem[]): PlaylistItem[] {
  return items.flatMap((i) => {
    const durationMs = effectiveDurationMs(i);
    if (i.asset.mediaStatus !== 'READY' || !i.asset.mediaPath || durationMs === null || durationMs <= 0) return [];
    return [
      {
        itemId: i.id,
        assetId: i.assetId,
        clipName: i.asset.filename,
        mediaPath: i.asset.mediaPath,
        ...(i.inPointMs !== null && { inPointMs: i.inPointMs }),
        ...(i.outPointMs !== null && { outPointMs: i.outPointMs }),
        durationMs,
        transition: i.transition,
        transitionMs: i.transitionMs,
      },
    ];
  });
}

/** What a push did, for the log and the tests. */
export type PushOutcome = 'none' | 'sent' | 'superseded' | 'not-on-air' | 'failed';

interface Target {
  channelId: string;
  projectId: string | null;
  url: string;
  secret: string;
  edit: UpdatePlaylist;
}

/**
 * Reads the playlist as committed now and the channel that has it on air, in
 * one snapshot (REPEATABLE READ), so the list and its revision agree.
 */
async function readTarget(services: Services, playlistId: string): Promise<Target | null> {
  return services.db.$transaction(
    async (tx) => {
      const channel = await tx.channel.findFirst({
        where: { onAirPlaylistId: playlistId, status: 'RUNNING', deletedAt: null },
        select: { id: true, projectId: true, sidecarUrl: true, sidecarSecret: true },
      });
      if (!channel?.sidecarUrl) return null;
      const secret = sidecarSecretOf(services.config.secretKey, channel);
      if (!secret) return null;
      const playlist = await tx.playlist.findUnique({
        where: { id: playlistId },
        include: { items: { orderBy: { position: 'asc' }, include: { asset: true } } },
      });
      if (!playlist) return null;
      const edit: UpdatePlaylist = {
        playlistId,
        version: playlist.revision,
        loop: playlist.loop,
        items: playableItems(playlist.items),
      };
      return { channelId: channel.id, projectId: channel.projectId, url: channel.sidecarUrl, secret, edit };
    },
    { isolationLevel: 'RepeatableRead' },
  );
}

interface Pushed {
  outcome: PushOutcome;
  target: Target | null;
  error?: string;
}

async function pushOnce(services: Services, playlistId: string): Promise<Pushed> {
  const target = await readTarget(services, playlistId);
  if (!target) return { outcome: 'none', target };
  const log = services.log.child({ channelId: target.channelId, playlistId, version: target.edit.version });
  try {
    const answer = await services.sidecars.update({ url: target.url, secret: target.secret }, target.edit);
    if (answer === 'stale') return { outcome: 'superseded', target };
    log.info({ items: target.edit.items.length }, 'edit of the playlist on air sent to the sidecar');
    return { outcome: 'sent', target };
  } catch (err) {
    // The sidecar no longer plays it (stopped, another playlist): nothing to apply.
    if (err instanceof OnairError && err.extensions.code === 'CONFLICT') {
      log.debug({ err: err.message }, 'playlist no longer on air on its sidecar');
      return { outcome: 'not-on-air', target };
    }
    const error = err instanceof Error ? err.message : String(err);
    log.warn({ err: error }, 'edit of the playlist on air not delivered to the sidecar');
    return { outcome: 'failed', target, error };
  }
}

/**
 * @defaultValue retry delays after a failed push, each retry reading the
 * playlist afresh (a newer edit's push may have made it moot); after the
 * last, it is tried again at the last delay for as long as it fails.
 */
export const PUSH_RETRY_MS = [1000, 2000, 4000] as const;

/** Channels with an EDIT_NOT_APPLIED up, by playlist, in this process (its retries clear it). */
const undelivered = new WeakMap<Services, Map<string, { channelId: string; projectId: string | null }>>();

/**
 * An edit that did not reach the sidecar is an alarm (EDIT_NOT_APPLIED): the
 * channel airs a list the operator no longer sees. Cleared once a later push
 * of the playlist is delivered, or it is no longer on air there (stopped, a
 * failover's new sidecar loaded it as committed, another playlist played).
 */
async function followAlarm(services: Services, playlistId: string, pushed: Pushed): Promise<void> {
  let pending = undelivered.get(services);
  if (!pending) undelivered.set(services, (pending = new Map()));
  const up = pending.get(playlistId);
  try {
    if (pushed.outcome === 'failed' && pushed.target) {
      const { channelId, projectId, edit } = pushed.target;
      if (up && up.channelId !== channelId) await clearEditAlarm(services, playlistId, up);
      pending.set(playlistId, { channelId, projectId });
      const message = `the edit of playlist ${playlistId} (revision ${edit.version}) has not reached the sidecar, which airs the list it had: ${pushed.error}`;
      const change = await raiseAlarm(services.db, channelId, 'EDIT_NOT_APPLIED', message);
      if (change) announceAlarms(services, projectId, [change]);
    } else if (pushed.outcome !== 'failed' && up) {
      await clearEditAlarm(services, playlistId, up);
    }
  } catch (err) {
    services.log.warn(
      { playlistId, err: err instanceof Error ? err.message : String(err) },
      'EDIT_NOT_APPLIED not updated',
    );
  }
}

async function clearEditAlarm(
  services: Services,
  playlistId: string,
  up: { channelId: string; projectId: string | null },
): Promise<void> {
  const change = await clearAlarm(services.db, up.channelId, 'EDIT_NOT_APPLIED');
  undelivered.get(services)?.delete(playlistId);
  if (change) announceAlarms(services, up.projectId, [change]);
}

/** Playlists whose retries run in this process: one loop each, however many edits failed meanwhile. */
const retrying = new WeakMap<Services, Set<string>>();

/**
 * After an edit commits: sends the playlist to the sidecar that has it on air,
 * if any. Never throws: the edit is committed whatever the sidecar says. A
 * sidecar that does not answer raises EDIT_NOT_APPLIED and is tried again in
 * the background (PUSH_RETRY_MS) until the push is delivered or moot; a
 * sidecar replaced meanwhile (failover) loads the playlist as committed.
 */
export async function pushOnAirEdit(
  services: Services,
  playlistId: string,
  retryMs: readonly number[] = PUSH_RETRY_MS,
): Promise<PushOutcome> {
  let pushed: Pushed;
  try {
    pushed = await pushOnce(services, playlistId);
  } catch (err) {
    services.log.warn(
      { playlistId, err: err instanceof Error ? err.message : String(err) },
      'reading the playlist on air failed',
    );
    pushed = { outcome: 'failed', target: null };
  }
  await followAlarm(services, playlistId, pushed);
  if (pushed.outcome === 'failed' && retryMs.length > 0) scheduleRetry(services, playlistId, retryMs);
  return pushed.outcome;
}

function scheduleRetry(services: Services, playlistId: string, retryMs: readonly number[]): void {
  let loops = retrying.get(services);
  if (!loops) retrying.set(services, (loops = new Set()));
  if (loops.has(playlistId)) return;
  loops.add(playlistId);
  const attempt = (delays: readonly number[]) => {
    const timer = setTimeout(async () => {
      const outcome = await pushOnAirEdit(services, playlistId, []);
      if (outcome === 'failed' && !closed(services)) attempt(delays.length > 1 ? delays.slice(1) : delays);
      else loops.delete(playlistId);
    }, delays[0]);
    timer.unref();
  };
  attempt(retryMs);
}

/** A process whose services were closed (shutting down) stops retrying: its Redis connection has ended. */
function closed(services: Services): boolean {
  return services.redis.status === 'end';
}

/**
 * After an asset's media became READY (staging): the playlists on air with an
 * item of it get a new revision and are pushed, so the items left out until
 * then air from the next item on.
 */
export async function pushAssetOnAir(services: Services, assetId: string): Promise<void> {
  const bumped = await services.db.$queryRaw<{ id: string }[]>`
    UPDATE playlists SET revision = revision + 1
    WHERE id IN (SELECT i.playlist_id FROM items i WHERE i.asset_id = ${assetId}::uuid)
      AND id IN (SELECT c.on_air_playlist_id FROM channels c WHERE c.status = 'RUNNING')
    RETURNING id`;
  await Promise.all(bumped.map((p) => pushOnAirEdit(services, p.id)));
}

/** updatePlaylist, then a new loop setting goes on air from the next item (a new name changes nothing there). */
export async function updatePlaylistOnAir(
  ctx: DomainContext,
  rawId: string,
  input: Parameters<typeof updatePlaylist>[2],
  query: PlaylistQuery,
) {
  const playlist = await updatePlaylist(ctx, rawId, input, query);
  if (input.loop != null) await pushOnAirEdit(ctx.services, parseId('id', rawId));
  return playlist;
}
