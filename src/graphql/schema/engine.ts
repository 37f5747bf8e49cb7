import { derivePreviewKey, previewUrlFor } from '../../domain/preview.ts';
import type { EngineState } from '../../domain/engine-status.ts';
import { readEngineSnapshot } from '../../domain/subscriptions.ts';
import { readEngine } from '../../domain/transport.ts';
import { builder } from '../builder.ts';

export const PlaybackStateEnum = builder.enumType('PlaybackState', { values: ['IDLE', 'PLAYING', 'PAUSED', 'STOPPED'] as const });

type OnAir = NonNullable<EngineState['current']>;

const OnAirItem = builder.objectRef<OnAir>('OnAirItem').implement({
  fields: (t) => ({
    item: t.prismaField({
      type: 'Item',
      nullable: true,
      description: 'Null when the item was deleted after it went to air.',
      resolve: (query, onAir, _args, ctx) => ctx.db.item.findUnique({ ...query, where: { id: onAir.itemId } }),
    }),
    clipName: t.exposeString('clipName'),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    positionMs: t.exposeInt('positionMs'),
    durationMs: t.exposeInt('durationMs', { nullable: true }),
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
        engine.playlistId ? ctx.db.playlist.findUnique({ ...query, where: { id: engine.playlistId } }) : null,
    }),
    current: t.field({ type: OnAirItem, nullable: true, resolve: (engine) => engine.current }),
    next: t.prismaField({
      type: 'Item',
      nullable: true,
      resolve: (query, engine, _args, ctx) =>
        engine.nextItemId ? ctx.db.item.findUnique({ ...query, where: { id: engine.nextItemId } }) : null,
    }),
    loop: t.exposeBoolean('loop', { nullable: true }),
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
      'Path of the live HLS preview playlist on this server; null unless RUNNING. It carries a signed token (PREVIEW_TOKEN_TTL_S) for players that cannot send the Authorization header.',
    select: { id: true, status: true },
    resolve: (channel, _args, ctx) =>
      channel.status === 'RUNNING'
        ? previewUrlFor(derivePreviewKey(ctx.services.config.secretKey), channel.id, new Date(), ctx.services.config.preview.tokenTtlSeconds)
        : null,
  }),
}));
