import { startChannel, stopChannel } from '../../domain/channels.ts';
import { builder } from '../builder.ts';

// Putting channels on air. Playback transport (play, pause, ...) joins here
// with the sidecar client.
builder.mutationFields((t) => ({
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
