import { derivePreviewKey, previewUrlFor } from '../../domain/channels/preview.ts';
import type { EngineState } from '../../domain/channels/engine-status.ts';
import { readEngineSnapshot } from '../subscription-streams.ts';
import { readEngine } from '../../domain/channels/transport.ts';
import { builder } from '../builder.ts';
import { ScheduleFillEnum, ScheduleSegmentKindEnum } from './schedule-plan.ts';

export const PlaybackStateEnum = builder.enumType('PlaybackState', {
  values: ['IDLE', 'PLAYING', 'PAUSED', 'STOPPED'] as const,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What a schedule airs names items the database may not have ids for (filler: `filler-0`). */
const isUuid = (id: string) => UUID.test(id);

type OnAir = NonNullable<EngineState['current']>;

const OnAirItem = builder.objectRef<OnAir>('OnAirItem').implement({
  fields: (t) => ({
    item: t.prismaField({
      type: 'Item',
      nullable: true,
      description:
        'Null when the item was deleted after it went to air, and for what a schedule airs outside a block (a clip event, filler).',
      resolve: (query, onAir, _args, ctx) =>
        isUuid(onAir.itemId) ? ctx.db.item.findUnique({ ...query, where: { id: onAir.itemId } }) : null,
    }),
    clipName: t.exposeString('clipName'),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    positionMs: t.exposeInt('positionMs'),
    durationMs: t.exposeInt('durationMs', { nullable: true }),
  }),
});

type ScheduleRunning = NonNullable<EngineState['schedule']>;
type ScheduleSegmentOnAir = NonNullable<ScheduleRunning['onAir']>;

const ScheduleOnAir = builder.objectRef<ScheduleSegmentOnAir>('ScheduleOnAir').implement({
  description: 'The segment of the schedule on air, as the sidecar plans it.',
  fields: (t) => ({
    eventId: t.id({
      nullable: true,
      description: 'The schedule event; null for filler in a gap.',
      resolve: (s) => s.eventId,
    }),
    kind: t.field({ type: ScheduleSegmentKindEnum, resolve: (s) => s.kind }),
    clipName: t.exposeString('clipName', { nullable: true, description: 'Null while the schedule holds (HOLD).' }),
    plannedStartAt: t.field({ type: 'DateTime', resolve: (s) => new Date(s.plannedStartAt) }),
    plannedEndAt: t.field({ type: 'DateTime', resolve: (s) => new Date(s.plannedEndAt) }),
    fills: t.field({
      type: ScheduleFillEnum,
      nullable: true,
      description: 'Why filler plays (or the schedule holds); null for a scheduled clip.',
      resolve: (s) => s.fills,
    }),
  }),
});

const ScheduleNextEvent = builder.objectRef<NonNullable<ScheduleRunning['nextEvent']>>('ScheduleNextEvent').implement({
  fields: (t) => ({
    eventId: t.id({ resolve: (n) => n.eventId }),
    plannedStartAt: t.field({ type: 'DateTime', resolve: (n) => new Date(n.plannedStartAt) }),
  }),
});

const ScheduleEngineStatus = builder.objectRef<ScheduleRunning>('ScheduleEngineStatus').implement({
  description: 'The schedule the sidecar runs by its own clock.',
  fields: (t) => ({
    version: t.exposeInt('version', {
      description: 'The version the sidecar acknowledged; the committed one is Schedule.version.',
    }),
    suspended: t.exposeBoolean('suspended', {
      description:
        'A manual `play` suspended it: it comes back at resumeSchedule, its next HARD event, or the end of the playlist.',
    }),
    onAir: t.field({
      type: ScheduleOnAir,
      nullable: true,
      description: 'Null while suspended.',
      resolve: (s) => s.onAir,
    }),
    nextEvent: t.field({ type: ScheduleNextEvent, nullable: true, resolve: (s) => s.nextEvent }),
  }),
});

export const EngineStatus = builder.objectRef<EngineState>('EngineStatus').implement({
  fields: (t) => ({
    channelId: t.exposeID('channelId'),
    reachable: t.exposeBoolean('reachable', {
      description: 'False when the sidecar did not answer; the other fields are then the last known values or null.',
    }),
    state: t.expose('state', { type: PlaybackStateEnum, nullable: true }),
    playlist: t.prismaField({
      type: 'Playlist',
      nullable: true,
      resolve: (query, engine, _args, ctx) =>
        // What a schedule airs outside a block names no playlist (the sidecar says 'schedule').
        engine.playlistId && isUuid(engine.playlistId)
          ? ctx.db.playlist.findUnique({ ...query, where: { id: engine.playlistId } })
          : null,
    }),
    current: t.field({ type: OnAirItem, nullable: true, resolve: (engine) => engine.current }),
    next: t.prismaField({
      type: 'Item',
      nullable: true,
      resolve: (query, engine, _args, ctx) =>
        engine.nextItemId && isUuid(engine.nextItemId)
          ? ctx.db.item.findUnique({ ...query, where: { id: engine.nextItemId } })
          : null,
    }),
    loop: t.exposeBoolean('loop', { nullable: true }),
    schedule: t.field({
      type: ScheduleEngineStatus,
      nullable: true,
      description:
        'The schedule the sidecar runs (null: none, the channel is manual). While it airs, `current` and `next` are its clips and `playlist` the block on air, if any.',
      resolve: (engine) => engine.schedule ?? null,
    }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.prismaObjectFields('Channel', (t) => ({
  engine: t.field({
    type: EngineStatus,
    nullable: true,
    description: 'Live state of the playout engine; null unless the channel is RUNNING.',
    select: { id: true, status: true, sidecarUrl: true, sidecarSecret: true },
    // Within a subscription, one event would ask the sidecar once per subscriber group: the
    // snapshot the workers keep answers there, so sidecars see a rate set by channels alone.
    resolve: (channel, _args, ctx, info) =>
      info.operation.operation === 'subscription' ? readEngineSnapshot(ctx, channel) : readEngine(ctx, channel),
  }),
  previewUrl: t.string({
    nullable: true,
    description:
      "Path of the live HLS preview playlist on this server; null unless RUNNING. It carries a signed token (PREVIEW_TOKEN_TTL_S) for players that cannot send the Authorization header, which stops working when the caller's API token is revoked or its access to the channel removed.",
    select: { id: true, status: true },
    resolve: (channel, _args, ctx) =>
      channel.status === 'RUNNING' && ctx.principal
        ? previewUrlFor(
            derivePreviewKey(ctx.services.config.secretKey),
            channel.id,
            ctx.principal.tokenId,
            new Date(),
            ctx.services.config.preview.tokenTtlSeconds,
          )
        : null,
  }),
}));
