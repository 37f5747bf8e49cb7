import type { AsRunEntry } from '../../prisma/generated/client/client.ts';
import { notFound } from '../errors.ts';
import type { Context } from './context.ts';
import {
  projectKey,
  type AsRunMessage,
  type ChannelEventMessage,
  type EngineStatusEvent,
  type ScheduleChangeMessage,
} from '../services/pubsub.ts';
import { canSee, requirePrincipal } from '../domain/access/access.ts';
import { asRunScope } from '../domain/as-run/as-run.ts';
import { visibleChannelsWhere } from '../domain/channels/channels.ts';
import { EngineSnapshots, asOf, engineState, fromWire, type EngineState } from '../domain/channels/engine-status.ts';
import { parseId } from '../domain/shared/ids.ts';
import { visibleChannels } from '../domain/playlists/playlists.ts';
import { deliver, perEvent } from './subscription-delivery.ts';

// The four subscriptions of the contract: what each checks when it starts,
// where its events come from, and what a subscriber receives of each event.

async function requireVisibleChannel(ctx: Context, field: string, rawId: string) {
  const p = requirePrincipal(ctx.principal);
  const id = parseId(field, rawId);
  const channel = await ctx.db.channel.findFirst({
    where: { id, ...visibleChannelsWhere(p) },
    select: { id: true, projectId: true },
  });
  if (!channel) throw notFound('channel');
  return channel;
}

const stateOf = perEvent((event: EngineStatusEvent) => fromWire(event.status));

/**
 * Subscription.engineStatus: the current state from the snapshot the worker
 * keeps (reachable=false when there is none), then every change. Never a
 * request to the sidecar: sidecars are asked at a rate independent of the
 * number of subscribers.
 */
export async function engineStatusStream(ctx: Context, rawChannelId: string): Promise<AsyncIterable<EngineState>> {
  const channel = await requireVisibleChannel(ctx, 'channelId', rawChannelId);
  const snapshots = new EngineSnapshots(ctx.services.redis, ctx.services.config.queuePrefix);
  let known: number | null = null;
  return deliver(ctx, 'engineStatus', [channel.id], {
    group: 'engineStatus',
    first: async () => {
      const snapshot = await snapshots.load(channel.id);
      known = snapshot?.updatedAt.getTime() ?? null;
      return snapshot ?? engineState(channel.id, null);
    },
    accept: (event, p) => (canSee(p, event.projectId) ? [stateOf(event)] : []),
    // A change the snapshot already showed is not sent twice.
    keep: (state) => known === null || state.updatedAt.getTime() > known,
  });
}

/**
 * Channel.engine as a subscription resolves it: the workers' snapshot, as of
 * now; unreachable when there is none yet. Null unless RUNNING, as the query.
 */
export async function readEngineSnapshot(
  ctx: Context,
  channel: { id: string; status: string },
): Promise<EngineState | null> {
  if (channel.status !== 'RUNNING') return null;
  const snapshot = await new EngineSnapshots(ctx.services.redis, ctx.services.config.queuePrefix).load(channel.id);
  return snapshot ? asOf(snapshot) : engineState(channel.id, null);
}

/** Subscription.channelEvents: one channel's lifecycle, or that of every channel the subscriber may see. */
export async function channelEventStream(
  ctx: Context,
  rawChannelId: string | null | undefined,
): Promise<AsyncIterable<ChannelEventMessage>> {
  const channelId = rawChannelId == null ? null : (await requireVisibleChannel(ctx, 'channelId', rawChannelId)).id;
  return deliver(ctx, 'channelEvents', [null], {
    group: `channelEvents:${channelId ?? '*'}`,
    accept: (event, p) => {
      if (channelId !== null && event.channelId !== channelId) return [];
      // Members of the project a channel left hear that it left.
      const seen =
        canSee(p, event.projectId) || (event.formerProjectId !== undefined && canSee(p, event.formerProjectId));
      return seen ? [event] : [];
    },
  });
}

/** The entry as the as-run table holds it, from the event that carries it. */
export function asRunEntryOf(message: AsRunMessage): AsRunEntry {
  const { entry } = message;
  return {
    ...entry,
    startedAt: new Date(entry.startedAt),
    endedAt: entry.endedAt === null ? null : new Date(entry.endedAt),
    reason: entry.reason ?? null,
    scheduleEventId: entry.scheduleEventId ?? null,
    scheduleVersion: entry.scheduleVersion ?? null,
    plannedStartAt: entry.plannedStartAt ? new Date(entry.plannedStartAt) : null,
    plannedEndAt: entry.plannedEndAt ? new Date(entry.plannedEndAt) : null,
    fills: entry.fills ?? null,
    // Bookkeeping columns the GraphQL type does not show.
    sidecarEpoch: null,
    sidecarSeq: null,
    createdAt: new Date(entry.startedAt),
  };
}

const entryOf = perEvent(asRunEntryOf);

/** Subscription.asRun: entries as recorded and as ended; of one channel or of every channel the subscriber may see. */
export async function asRunStream(
  ctx: Context,
  rawChannelId: string | null | undefined,
): Promise<AsyncIterable<AsRunEntry>> {
  // The log of a deleted channel stays readable (the legal record), as in Query.asRun.
  const scope = await asRunScope(ctx, rawChannelId);
  const channelId = scope.kind === 'channel' ? scope.channelId : null;
  return deliver(ctx, 'asRun', [null], {
    group: `asRun:${channelId ?? '*'}`,
    accept: (event, p) => {
      if (channelId !== null && event.entry.channelId !== channelId) return [];
      return canSee(p, event.projectId) ? [entryOf(event)] : [];
    },
  });
}

/**
 * Subscription.itemMedia: on each media change of an asset, the ids of the
 * playlist's items that use it, read with the subscriber's rights of the moment.
 */
export async function itemMediaStream(ctx: Context, rawPlaylistId: string): Promise<AsyncIterable<string>> {
  const p = requirePrincipal(ctx.principal);
  const playlistId = parseId('playlistId', rawPlaylistId);
  const playlist = await ctx.db.playlist.findFirst({
    where: { id: playlistId, channel: visibleChannels(p) },
    select: { channel: { select: { projectId: true } } },
  });
  if (!playlist) throw notFound('playlist');
  const projectId = playlist.channel.projectId;
  // A project's channels air its own assets; an admin-only channel may air any
  // project's (those that exist now) or admin-only ones.
  const keys =
    projectId !== null
      ? [projectKey(projectId)]
      : [
          projectKey(null),
          ...(await ctx.db.project.findMany({ select: { id: true } })).map((row) => projectKey(row.id)),
        ];
  return deliver(ctx, 'assetMedia', keys, {
    group: `itemMedia:${playlistId}`,
    accept: async (event, principal) => {
      const items = await ctx.db.item.findMany({
        where: { playlistId, assetId: event.assetId, playlist: { channel: visibleChannels(principal) } },
        select: { id: true },
        orderBy: { position: 'asc' },
      });
      return items.map((item) => item.id);
    },
  });
}

/** Subscription.scheduleChanged: each committed change of one channel's schedule, with the version it made. */
export async function scheduleChangeStream(
  ctx: Context,
  rawChannelId: string,
): Promise<AsyncIterable<ScheduleChangeMessage>> {
  const channel = await requireVisibleChannel(ctx, 'channelId', rawChannelId);
  return deliver(ctx, 'scheduleChanged', [channel.id], {
    group: 'scheduleChanged',
    accept: (event, p) => (canSee(p, event.projectId) ? [event] : []),
  });
}
