import { z } from 'zod';
import { MAX_ASSET_DURATION_MS } from '../../domain/media/assets.ts';
import {
  addScheduleEvent,
  moveScheduleEvent,
  removeScheduleEvent,
  updateScheduleEvent,
} from '../../domain/schedules/schedule-events.ts';
import { findSchedule, scheduleDay, scheduleNow } from '../../domain/schedules/schedule-read.ts';
import { scheduleView, type ScheduleView } from '../../domain/schedules/schedule-snapshot.ts';
import { MAX_FILLER, setScheduleFiller, updateScheduleSettings } from '../../domain/schedules/schedule-settings.ts';
import { nonNegativeMs, rejectNull } from '../../domain/shared/validation.ts';
import { timeZoneSchema } from '../../schedule/model.ts';
import { builder } from '../builder.ts';
import { TransitionEnum } from './items.ts';
import { ScheduleTriggerEnum } from './schedule-events.ts';
import { ScheduleDay, ScheduleNowAndNext } from './schedule-plan.ts';

// A channel's wall-clock schedule (docs/schedule.md): its events and settings,
// a broadcast day as planned, what is on air now, and the edits.

export const Schedule = builder.objectRef<ScheduleView>('Schedule').implement({
  description: "A channel's wall-clock schedule. A channel never given one has version 0, no events, UTC and 06:00.",
  fields: (t) => ({
    channelId: t.exposeID('channelId'),
    version: t.exposeInt('version', { description: 'Grows by one with every committed change.' }),
    timeZone: t.exposeString('timeZone', { description: 'IANA time zone of its broadcast days.' }),
    dayStart: t.exposeString('dayStart', { description: 'Local time a broadcast day starts, HH:MM[:SS].' }),
    filler: t.prismaField({
      type: ['Asset'],
      description: 'Played in turn, looping, wherever nothing is scheduled.',
      resolve: async (query, s, _args, ctx) =>
        (
          await ctx.db.scheduleFiller.findMany({
            where: { channelId: s.channelId },
            orderBy: { position: 'asc' },
            include: { asset: query },
          })
        ).map((f) => f.asset),
    }),
    events: t.prismaField({
      type: ['ScheduleEvent'],
      description: 'Every event, in air order.',
      resolve: (query, s, _args, ctx) =>
        ctx.db.scheduleEvent.findMany({ ...query, where: { channelId: s.channelId }, orderBy: { position: 'asc' } }),
    }),
    day: t.field({
      type: ScheduleDay,
      args: { date: t.arg.string({ required: true, description: 'The local date the day starts on, YYYY-MM-DD.' }) },
      resolve: (s, args, ctx) => scheduleDay(ctx.db, s, args.date),
    }),
    nowAndNext: t.field({ type: ScheduleNowAndNext, resolve: (s, _args, ctx) => scheduleNow(ctx.db, s) }),
  }),
});

builder.prismaObjectFields('Channel', (t) => ({
  schedule: t.field({
    type: Schedule,
    select: { id: true, projectId: true, videoFormat: true },
    // Whoever resolved the channel has checked that the caller may see it.
    resolve: (channel, _args, ctx) => scheduleView(ctx.db, channel),
  }),
}));

/** What an edit committed. */
interface EditView {
  channelId: string;
  version: number;
  eventId: string | null;
}

const ScheduleEdit = builder.objectRef<EditView>('ScheduleEdit').implement({
  fields: (t) => ({
    version: t.exposeInt('version', { description: 'The version the edit committed.' }),
    eventId: t.exposeID('eventId', { nullable: true, description: 'The event added, changed, moved or removed.' }),
    event: t.prismaField({
      type: 'ScheduleEvent',
      nullable: true,
      description: 'That event as stored now; null when removed.',
      resolve: (query, e, _args, ctx) =>
        e.eventId ? ctx.db.scheduleEvent.findUnique({ ...query, where: { id: e.eventId } }) : null,
    }),
    schedule: t.field({
      type: Schedule,
      description: 'The schedule as it is now.',
      resolve: (e, _args, ctx) => findSchedule(ctx, e.channelId),
    }),
  }),
});

const inPointSchema = nonNegativeMs.nullish();
const outPointSchema = z
  .number()
  .int()
  .min(1, 'must be at least 1')
  .max(MAX_ASSET_DURATION_MS, 'is too large')
  .nullish();

const eventFields = (t: Parameters<Parameters<typeof builder.inputType>[1]['fields']>[0]) => ({
  at: t.field({ type: 'DateTime', description: 'HARD and SOFT: when it starts (in the future).' }),
  assetId: t.id({ description: 'A clip of this asset (of the channel project).' }),
  playlistId: t.id({ description: "A block: this playlist of the schedule's channel." }),
  inPointMs: t.int({ validate: inPointSchema }),
  outPointMs: t.int({ validate: outPointSchema }),
  transition: t.field({ type: TransitionEnum }),
  transitionMs: t.int({ validate: nonNegativeMs.nullish() }),
});

const AddScheduleEventInput = builder.inputType('AddScheduleEventInput', {
  description: 'A clip (assetId, with points and transition) or a block (playlistId).',
  fields: (t) => ({
    channelId: t.id({ required: true }),
    trigger: t.field({ type: ScheduleTriggerEnum, required: true }),
    position: t.int({
      description: '0-based place in air order; default: the end.',
      validate: z.number().int().min(0, 'must be 0 or more').nullish(),
    }),
    afterEventId: t.id({ description: 'Insert right after this event (instead of a position).' }),
    ...eventFields(t),
  }),
});

const UpdateScheduleEventInput = builder.inputType('UpdateScheduleEventInput', {
  description:
    'Only the fields given change; null clears a time or a point. An asset makes it a clip, a playlist a block; FOLLOW and MANUAL drop the time.',
  validate: rejectNull('trigger', 'assetId', 'playlistId', 'transition', 'transitionMs'),
  fields: (t) => ({
    trigger: t.field({ type: ScheduleTriggerEnum }),
    ...eventFields(t),
  }),
});

const UpdateScheduleInput = builder.inputType('UpdateScheduleInput', {
  validate: rejectNull('timeZone', 'dayStart'),
  fields: (t) => ({
    timeZone: t.string({ validate: timeZoneSchema.nullish() }),
    dayStart: t.string({
      validate: z
        .string()
        .regex(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, 'must be a time of day, HH:MM or HH:MM:SS')
        .nullish(),
    }),
  }),
});

builder.mutationFields((t) => ({
  addScheduleEvent: t.field({
    type: ScheduleEdit,
    description: 'Adds an event (OPERATOR and up). Nothing can be put before the event on air.',
    args: { input: t.arg({ type: AddScheduleEventInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const done = await addScheduleEvent(ctx, input);
      return { channelId: done.value.channelId, version: done.version, eventId: done.value.id };
    },
  }),
  updateScheduleEvent: t.field({
    type: ScheduleEdit,
    description: 'Changes an event; the event on air and those before it are CONFLICT.',
    args: {
      id: t.arg.id({ required: true }),
      input: t.arg({ type: UpdateScheduleEventInput, required: true }),
    },
    resolve: async (_root, args, ctx) => {
      const done = await updateScheduleEvent(ctx, args.id, args.input);
      return { channelId: done.value.channelId, version: done.version, eventId: done.value.id };
    },
  }),
  moveScheduleEvent: t.field({
    type: ScheduleEdit,
    description: 'Moves an event in air order; the events between shift by one.',
    args: {
      id: t.arg.id({ required: true }),
      position: t.arg.int({ required: true, validate: z.number().int().min(0, 'must be 0 or more') }),
    },
    resolve: async (_root, args, ctx) => {
      const done = await moveScheduleEvent(ctx, args.id, args.position);
      return { channelId: done.value.channelId, version: done.version, eventId: done.value.id };
    },
  }),
  removeScheduleEvent: t.field({
    type: ScheduleEdit,
    description: 'Removes an event; the later ones move up by one.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const done = await removeScheduleEvent(ctx, args.id);
      return { channelId: done.channelId, version: done.version, eventId: null };
    },
  }),
  updateSchedule: t.field({
    type: ScheduleEdit,
    description: "Sets the schedule's time zone and broadcast day start.",
    args: {
      channelId: t.arg.id({ required: true }),
      input: t.arg({ type: UpdateScheduleInput, required: true }),
    },
    resolve: async (_root, args, ctx) => {
      const done = await updateScheduleSettings(ctx, args.channelId, args.input);
      return { channelId: done.channelId, version: done.version, eventId: null };
    },
  }),
  setScheduleFiller: t.field({
    type: ScheduleEdit,
    description: 'Sets the filler pool: these assets, in this order.',
    args: {
      channelId: t.arg.id({ required: true }),
      assetIds: t.arg.idList({
        required: true,
        validate: z.array(z.string()).max(MAX_FILLER, `must list at most ${MAX_FILLER} assets`),
      }),
    },
    resolve: async (_root, args, ctx) => {
      const done = await setScheduleFiller(ctx, args.channelId, args.assetIds);
      return { channelId: done.channelId, version: done.version, eventId: null };
    },
  }),
}));
