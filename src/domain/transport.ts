import type { LoadPlaylist } from '../protocol/sidecar-api.ts';
import { badInput, conflict, notFound } from '../errors.ts';
import type { Context } from '../graphql/context.ts';
import type { Prisma } from '../services/db.ts';
import type { TransportCommand } from '../services/sidecar-client.ts';
import { assertAccess, canSee, requirePrincipal } from './access.ts';
import { sidecarSecretOf } from './channel-lifecycle.ts';
import { requireChannel } from './channels.ts';
import { parseId } from './ids.ts';
import { effectiveDurationMs } from './playlists.ts';
import { engineState, type EngineState } from './engine-status.ts';

export type { EngineState };

type Running = { id: string; status: string; sidecarUrl: string | null; sidecarSecret: string | null };

/**
 * Sidecar secrets already unsealed, by channel and sealed value: an operator's
 * every action would decrypt the same value again. A new sidecar run brings a
 * new sealed value, so an entry is never stale, only unused.
 */
const unsealed = new Map<string, string | null>();
const UNSEALED_MAX = 10_000;

function sidecarSecret(ctx: Context, channel: Running): string | null {
  if (!channel.sidecarSecret) return null;
  const key = `${channel.id}.${channel.sidecarSecret}`;
  let secret = unsealed.get(key);
  if (secret === undefined) {
    secret = sidecarSecretOf(ctx.services.config.secretKey, channel);
    if (unsealed.size >= UNSEALED_MAX) unsealed.clear();
    unsealed.set(key, secret);
  }
  return secret;
}

function targetOf(ctx: Context, channel: Running) {
  const secret = sidecarSecret(ctx, channel);
  if (channel.status !== 'RUNNING' || !channel.sidecarUrl || !secret) {
    throw conflict(`the channel is ${channel.status}: start it first`, { status: channel.status });
  }
  return { url: channel.sidecarUrl, secret };
}

/** Channel.engine: null unless RUNNING; unreachable (not an error) when the sidecar does not answer. */
export async function readEngine(ctx: Context, channel: Running): Promise<EngineState | null> {
  if (channel.status !== 'RUNNING') return null;
  try {
    return engineState(channel.id, await ctx.services.sidecars.status(targetOf(ctx, channel)));
  } catch {
    return engineState(channel.id, null);
  }
}

/**
 * play: the playlist must be the channel's, the channel RUNNING, and every
 * item's media READY (CONFLICT listing those that are not, the same state
 * Playlist.ready reads) with a known duration.
 */
export async function play(ctx: Context, rawChannelId: string, rawPlaylistId: string): Promise<EngineState> {
  const channel = await requireChannel(ctx, 'channelId', rawChannelId, 'OPERATOR');
  const playlistId = parseId('playlistId', rawPlaylistId);
  const playlist = await ctx.db.playlist.findFirst({
    where: { id: playlistId, channel: { deletedAt: null } },
    include: { channel: { select: { projectId: true } }, items: { orderBy: { position: 'asc' }, include: { asset: true } } },
  });
  if (!playlist || !canSee(ctx.principal!, playlist.channel.projectId)) throw notFound('playlist');
  if (playlist.channelId !== channel.id) throw badInput('playlistId', 'the playlist belongs to another channel');
  const target = targetOf(ctx, channel);
  return engineState(channel.id, await ctx.services.sidecars.load(target, loadPlaylistBody(playlist)));
}

/** A playlist with what its LoadPlaylist body needs: items in order, each with its asset. */
export type PlayablePlaylist = Prisma.PlaylistGetPayload<{ include: { items: { include: { asset: true } } } }>;

/**
 * The sidecar's LoadPlaylist body for a playlist, from its first item (play;
 * failover adds where to resume). CONFLICT when it cannot go to air: no
 * items, media not staged (listing those items), or a duration unknown.
 */
export function loadPlaylistBody(playlist: PlayablePlaylist): LoadPlaylist {
  if (playlist.items.length === 0) throw conflict('the playlist has no items');
  const notReady = playlist.items.filter((i) => i.asset.mediaStatus !== 'READY' || !i.asset.mediaPath);
  if (notReady.length > 0) {
    throw conflict(`media not staged for ${notReady.length} item(s): ${notReady.map((i) => i.id).join(', ')}`, {
      items: notReady.map((i) => i.id),
    });
  }
  const unknown = playlist.items.filter((i) => effectiveDurationMs(i) === null);
  if (unknown.length > 0) {
    throw conflict(`duration unknown for item(s) ${unknown.map((i) => i.id).join(', ')}: set the asset's duration or an out point`, {
      items: unknown.map((i) => i.id),
    });
  }
  return {
    playlistId: playlist.id,
    loop: playlist.loop,
    items: playlist.items.map((i) => ({
      itemId: i.id,
      assetId: i.assetId,
      clipName: i.asset.filename,
      mediaPath: i.asset.mediaPath as string,
      ...(i.inPointMs !== null && { inPointMs: i.inPointMs }),
      ...(i.outPointMs !== null && { outPointMs: i.outPointMs }),
      durationMs: effectiveDurationMs(i) as number,
      transition: i.transition,
      transitionMs: i.transitionMs,
    })),
  };
}

/**
 * pause, resume, skip, stopPlayback: OPERATOR, RUNNING; the engine's refusals
 * are CONFLICT. On the operator's hot path, so the channel's route comes from
 * memory when it can (services/channel-routes.ts): no statement per command.
 */
export async function transport(ctx: Context, rawChannelId: string, command: TransportCommand): Promise<EngineState> {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('channelId', rawChannelId);
  const routes = ctx.services.channelRoutes;
  const fromMemory = routes.has(id);
  const route = await routes.get(id);
  if (!route || !canSee(p, route.projectId)) throw notFound('channel');
  assertAccess(p, route.projectId, 'OPERATOR', 'channel');
  try {
    return engineState(route.id, await ctx.services.sidecars.transport(targetOf(ctx, route), command));
  } catch (err) {
    if (!fromMemory) throw err;
    // The route may have changed a moment ago (the notification still on its way):
    // answer as a fresh read would, CONFLICT for a channel no longer RUNNING.
    routes.forget(id);
    const fresh = await routes.get(id);
    if (!fresh || !canSee(p, fresh.projectId)) throw notFound('channel');
    assertAccess(p, fresh.projectId, 'OPERATOR', 'channel');
    targetOf(ctx, fresh);
    throw err;
  }
}
