import { startChannel, stopChannel } from '../../domain/channels.ts';
import { play, transport } from '../../domain/transport.ts';
import { builder } from '../builder.ts';
import { EngineStatus } from './engine.ts';

// Putting channels on air, and running their playback.
builder.mutationFields((t) => ({
  play: t.field({
    type: EngineStatus,
    description: 'Load the playlist into the engine and start it. CONFLICT unless RUNNING and every item READY.',
    args: { channelId: t.arg.id({ required: true }), playlistId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => play(ctx, args.channelId, args.playlistId),
  }),
  pause: t.field({
    type: EngineStatus,
    args: { channelId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => transport(ctx, args.channelId, 'pause'),
  }),
  resume: t.field({
    type: EngineStatus,
    args: { channelId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => transport(ctx, args.channelId, 'resume'),
  }),
  skip: t.field({
    type: EngineStatus,
    args: { channelId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => transport(ctx, args.channelId, 'skip'),
  }),
  stopPlayback: t.field({
    type: EngineStatus,
    args: { channelId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => transport(ctx, args.channelId, 'stop'),
  }),
  startChannel: t.prismaField({
    type: 'Channel',
    description: "Spawn the channel's playout sidecar. CONFLICT when already STARTING/RUNNING or its DeckLink device is busy.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => startChannel(ctx, args.id, query),
  }),
  stopChannel: t.prismaField({
    type: 'Channel',
    description: 'Stops and removes its sidecar. A sidecar that cannot be confirmed gone leaves ERROR with the reason.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => stopChannel(ctx, args.id, query),
  }),
}));
