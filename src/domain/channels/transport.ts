import type { LoadPlaylist } from '../../protocol/sidecar-api.ts';
import { badInput, conflict, notFound, OnairError } from '../../errors.ts';
import type { DomainContext } from '../shared/context.ts';
import type { Prisma } from '../../services/db.ts';
import type { TransportCommand } from '../../services/sidecar-client.ts';
import { assertAccess, canSee, requirePrincipal } from '../access/access.ts';
import { sidecarSecretOf } from './channel-lifecycle.ts';
import { requireChannel } from './channels.ts';
import { parseId } from '../shared/ids.ts';
import { TX_OPTIONS, effectiveDurationMs } from '../playlists/playlists.ts';
import { asOf, engineState, type EngineState } from './engine-status.ts';
import { markMissingMedia } from '../media/staging/missing.ts';
import { recordSkips } from '../schedules/schedule-operator.ts';

export type { EngineState };

export type Running = { id: string; status: string; sidecarUrl: string | null; sidecarSecret: string | null };

/**
 * Sidecar secrets already unsealed, by channel and sealed value: an operator's
 * every action would decrypt the same value again. A new sidecar run brings a
 * new sealed value, so an entry is never stale, only unused.
 */
const unsealed = new Map<string, string | null>();
const UNSEALED_MAX = 10_000;

function sidecarSecret(ctx: DomainContext, channel: Running): string | null {
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

export function targetOf(ctx: DomainContext, channel: Running) {
  const secret = sidecarSecret(ctx, channel);
  if (channel.status !== 'RUNNING' || !channel.sidecarUrl || !secret) {
    throw conflict(`the channel is ${channel.status}: start it first`, { status: channel.status });
  }
  return { url: channel.sidecarUrl, secret };
}

/** Channel.engine: null unless RUNNING; unreachable (not an error) when the sidecar does not answer. */
export async function readEngine(ctx: DomainContext, channel: Running): Promise<EngineState | null> {
  if (channel.status !== 'RUNNING') return null;
  // One request per channel per ENGINE_CACHE_MS however many fields, aliases or viewers ask.
  const state = await ctx.services.engineReads.read(channel.id, channel.sidecarUrl, async () => {
    try {
      return engineState(channel.id, await ctx.services.sidecars.status(targetOf(ctx, channel)));
    } catch {
      return engineState(channel.id, null);
    }
  });
  // A reused read's playing position moves on with the clock.
  return asOf(state);
}

/**
 * play: the playlist must be the channel's, the channel RUNNING, and every
 * item's media READY (CONFLICT listing those that are not, the same state
 * Playlist.ready reads) with a known duration.
 *
 * Play takes the playlist as committed at that moment, with its revision; the
 * channel records it as the playlist on air. The playlist row is held (KEY
 * SHARE) from the read until the sidecar has loaded it and the channel says
 * so: an edit or a delete of it waits meanwhile, so an edit is pushed after
 * the load (never lost under it) and a delete sees it on air.
 */
export async function play(ctx: DomainContext, rawChannelId: string, rawPlaylistId: string): Promise<EngineState> {
  const channel = await requireChannel(ctx, 'channelId', rawChannelId, 'OPERATOR');
  const playlistId = parseId('playlistId', rawPlaylistId);
  const status = await ctx.db.$transaction(async (tx) => {
    const held = await tx.$queryRaw<
      { id: string }[]
    >`SELECT id FROM playlists WHERE id = ${playlistId}::uuid FOR KEY SHARE`;
    const playlist = held.length
      ? await tx.playlist.findFirst({
          where: { id: playlistId, channel: { deletedAt: null } },
          include: {
            channel: { select: { projectId: true } },
            items: { orderBy: { position: 'asc' }, include: { asset: true } },
          },
        })
      : null;
    if (!playlist || !canSee(ctx.principal!, playlist.channel.projectId)) throw notFound('playlist');
    if (playlist.channelId !== channel.id) throw badInput('playlistId', 'the playlist belongs to another channel');
    const target = targetOf(ctx, channel);
    let loaded: Awaited<ReturnType<typeof ctx.services.sidecars.load>>;
    try {
      loaded = await ctx.services.sidecars.load(target, loadPlaylistBody(playlist));
    } catch (err) {
      // The sidecar found files gone from the volume: their assets stop reading READY.
      const items = err instanceof OnairError ? (err.extensions.items as string[] | undefined) : undefined;
      if (items?.length) {
        const assetIds = playlist.items.filter((i) => items.includes(i.id)).map((i) => i.assetId);
        await markMissingMedia(ctx.services, assetIds).catch((e: Error) =>
          ctx.services.log.warn({ err: e.message }, 'missing media not marked'),
        );
      }
      throw err;
    }
    await tx.channel.updateMany({
      where: { id: channel.id, status: 'RUNNING' },
      data: { onAirPlaylistId: playlistId },
    });
    return loaded;
  }, TX_OPTIONS);
  const state = engineState(channel.id, status);
  ctx.services.engineReads.remember(state, channel.sidecarUrl);
  return state;
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
    throw conflict(
      `duration unknown for item(s) ${unknown.map((i) => i.id).join(', ')}: set the asset's duration or an out point`,
      {
        items: unknown.map((i) => i.id),
      },
    );
  }
  return {
    playlistId: playlist.id,
    loop: playlist.loop,
    version: playlist.revision,
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
export async function transport(
  ctx: DomainContext,
  rawChannelId: string,
  command: TransportCommand,
): Promise<EngineState> {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('channelId', rawChannelId);
  const routes = ctx.services.channelRoutes;
  const fromMemory = routes.has(id);
  const route = await routes.get(id);
  if (!route || !canSee(p, route.projectId)) throw notFound('channel');
  assertAccess(p, route.projectId, 'OPERATOR', 'channel');
  try {
    const status = await ctx.services.sidecars.transport(targetOf(ctx, route), command);
    const state = engineState(route.id, status);
    ctx.services.engineReads.remember(state, route.sidecarUrl);
    // A skip while the schedule airs: the sidecar re-planned from the cut; the API's plan takes it too.
    if (command === 'skip' && status.schedule?.skipped) await recordSkips(ctx, route.id, status);
    return state;
  } catch (err) {
    // What the engine does now is unknown (refused, or no answer): the next read asks it.
    ctx.services.engineReads.forget(id);
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
