import { visibleChannelsWhere } from '../../domain/channels/channels.ts';
import { visibleChannels } from '../../domain/playlists/playlists.ts';
import {
  asRunStream,
  channelEventStream,
  engineStatusStream,
  itemMediaStream,
  scheduleChangeStream,
} from '../subscription-streams.ts';
import { notFound } from '../../errors.ts';
import {
  CHANNEL_EVENT_KINDS,
  SCHEDULE_CHANGE_KINDS,
  type ChannelEventMessage,
  type ScheduleChangeMessage,
} from '../../services/pubsub.ts';
import { builder } from '../builder.ts';
import { ChannelAlarmKindEnum } from './alarms.ts';
import { EngineStatus } from './engine.ts';
import { Schedule } from './schedules.ts';
import { findSchedule } from '../../domain/schedules/schedule-read.ts';

// Served over WebSocket (graphql-transport-ws) on /graphql; see src/server/websocket.ts.
builder.subscriptionType({ authScopes: { loggedIn: true } });

const ChannelEventKindEnum = builder.enumType('ChannelEventKind', { values: CHANNEL_EVENT_KINDS });

const ChannelEvent = builder.objectRef<ChannelEventMessage>('ChannelEvent').implement({
  fields: (t) => ({
    kind: t.expose('kind', { type: ChannelEventKindEnum }),
    channelId: t.exposeID('channelId'),
    channel: t.prismaField({
      type: 'Channel',
      nullable: true,
      description:
        'The channel as it is when the event is delivered: null for DELETED, for a channel deleted since, and for members of the project a channel moved out of.',
      resolve: (query, event, _args, ctx) =>
        event.kind === 'DELETED' || !ctx.principal
          ? null
          : ctx.db.channel.findFirst({
              ...query,
              where: { id: event.channelId, ...visibleChannelsWhere(ctx.principal) },
            }),
    }),
    at: t.field({ type: 'DateTime', resolve: (event) => new Date(event.at) }),
    message: t.exposeString('message', { nullable: true }),
    alarm: t.field({
      type: ChannelAlarmKindEnum,
      nullable: true,
      description: 'The alarm an ALARM_RAISED or ALARM_CLEARED event is about; null for other kinds.',
      resolve: (event) => event.alarm ?? null,
    }),
  }),
});

const ScheduleChangeKindEnum = builder.enumType('ScheduleChangeKind', { values: SCHEDULE_CHANGE_KINDS });

const ScheduleChange = builder.objectRef<ScheduleChangeMessage>('ScheduleChange').implement({
  description: 'A committed change of a schedule.',
  fields: (t) => ({
    channelId: t.exposeID('channelId'),
    version: t.exposeInt('version', { description: 'The version the change made.' }),
    kind: t.expose('kind', { type: ScheduleChangeKindEnum }),
    eventIds: t.exposeIDList('eventIds', { description: 'The events added, changed, moved or removed.' }),
    at: t.field({ type: 'DateTime', resolve: (change) => new Date(change.at) }),
    schedule: t.field({
      type: Schedule,
      description: 'The schedule as it is when the message is delivered (a later change may have followed).',
      resolve: (change, _args, ctx) => findSchedule(ctx, change.channelId),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  scheduleChanged: t.field({
    type: ScheduleChange,
    description: "Each committed change of the channel's schedule.",
    args: { channelId: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx) => scheduleChangeStream(ctx, args.channelId),
    resolve: (change) => change,
  }),
  engineStatus: t.field({
    type: EngineStatus,
    description:
      "Pushed on every change of the engine's state, on-air item or reachability; the first message is the current state.",
    args: { channelId: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx) => engineStatusStream(ctx, args.channelId),
    resolve: (state) => state,
  }),
  channelEvents: t.field({
    type: ChannelEvent,
    description: 'Lifecycle events of one channel, or of every channel the caller may see.',
    args: { channelId: t.arg.id() },
    subscribe: (_root, args, ctx) => channelEventStream(ctx, args.channelId),
    resolve: (event) => event,
  }),
  asRun: t.prismaField({
    type: 'AsRunEntry',
    description: 'Each as-run entry when it is recorded and again when it ends.',
    args: { channelId: t.arg.id() },
    subscribe: (_root, args, ctx) => asRunStream(ctx, args.channelId),
    // The event carries the whole entry; its channel and item load when asked for.
    resolve: (_query, entry) => entry,
  }),
  itemMedia: t.prismaField({
    type: 'Item',
    description: 'Items of the playlist whose media status changed.',
    args: { playlistId: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx) => itemMediaStream(ctx, args.playlistId),
    resolve: async (query, itemId, _args, ctx) => {
      const item = ctx.principal
        ? await ctx.db.item.findFirst({
            ...query,
            where: { id: itemId, playlist: { channel: visibleChannels(ctx.principal) } },
          })
        : null;
      // Removed between the event and its delivery.
      if (!item) throw notFound('item');
      return item;
    },
  }),
}));
