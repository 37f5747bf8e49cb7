import { startChannel, stopChannel } from '../../domain/channels/channels.ts';
import { play, transport } from '../../domain/channels/transport.ts';
import { resumeSchedule, takeScheduleEvent } from '../../domain/schedules/schedule-transport.ts';
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
    description:
      "Spawn the channel's playout sidecar. CONFLICT when already STARTING/RUNNING or its DeckLink device is busy.",
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

// A running schedule: take a MANUAL event, give the channel back to the schedule after manual play.
builder.mutationFields((t) => ({
  takeScheduleEvent: t.field({
    type: EngineStatus,
    description:
      "Take a MANUAL event of the running schedule now: it cuts what plays at the next frame the engine can make. NOT_FOUND (field eventId) when not in the channel's schedule; CONFLICT (extensions.eventId) when not MANUAL or not holding.",
    args: { channelId: t.arg.id({ required: true }), eventId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => takeScheduleEvent(ctx, args.channelId, args.eventId),
  }),
  resumeSchedule: t.field({
    type: EngineStatus,
    description:
      'Give the channel back to its schedule after manual play (`play` suspends it), joining where the wall clock is. CONFLICT when the schedule is not suspended.',
    args: { channelId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => resumeSchedule(ctx, args.channelId),
  }),
}));
