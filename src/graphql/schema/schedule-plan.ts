import { frameStartMs, type FrameRate } from '../../schedule/frames.ts';
import type { scheduleDay, scheduleNow } from '../../domain/schedules/schedule-read.ts';
import { EVENT_STATUSES, FILLS, type PlannedEvent, type Segment } from '../../schedule/plan.ts';
import { builder } from '../builder.ts';
import { ScheduleTriggerEnum } from './schedule-events.ts';

// A schedule as planned: a broadcast day (its events and segments) and what is
// on air now, at the channel's frame rate (src/schedule/plan.ts).

const ScheduleEventStatusEnum = builder.enumType('ScheduleEventStatus', { values: EVENT_STATUSES });
export const ScheduleSegmentKindEnum = builder.enumType('ScheduleSegmentKind', {
  values: ['CLIP', 'FILLER', 'HOLD'] as const,
});
export const ScheduleFillEnum = builder.enumType('ScheduleFill', { values: FILLS });

/** GraphQL Int is 32-bit: a wait longer than ~24 days reports this ceiling. */
const MAX_INT = 2_147_483_647;
const iso = (ms: number) => new Date(ms);

/** A planned event with the rate that turns its frames into instants. */
interface PlannedView {
  p: PlannedEvent;
  rate: FrameRate;
}

const PlannedScheduleEvent = builder.objectRef<PlannedView>('PlannedScheduleEvent').implement({
  description: "An event as planned at the channel's frame rate; frames are the channel's (25 a second for 1080i50).",
  fields: (t) => ({
    eventId: t.id({ resolve: ({ p }) => p.eventId }),
    event: t.prismaField({
      type: 'ScheduleEvent',
      nullable: true,
      description: 'The event as stored; null when it was removed since.',
      resolve: (query, { p }, _args, ctx) => ctx.db.scheduleEvent.findUnique({ ...query, where: { id: p.eventId } }),
    }),
    trigger: t.field({ type: ScheduleTriggerEnum, resolve: ({ p }) => p.trigger }),
    status: t.field({ type: ScheduleEventStatusEnum, resolve: ({ p }) => p.status }),
    time: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'The frame its time names (HARD, SOFT); null otherwise.',
      resolve: ({ p, rate }) => (p.timedFrame === null ? null : iso(frameStartMs(p.timedFrame, rate))),
    }),
    plannedStart: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Null unless PLANNED.',
      resolve: ({ p, rate }) => (p.startFrame === null ? null : iso(frameStartMs(p.startFrame, rate))),
    }),
    plannedEnd: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: ({ p, rate }) => (p.endFrame === null ? null : iso(frameStartMs(p.endFrame, rate))),
    }),
    durationFrames: t.int({
      description:
        "Frames from its start to the end of its last clip: its clips' lengths less the transitions between them.",
      resolve: ({ p }) => p.durationFrames,
    }),
    transitionFrames: t.int({
      description:
        'Frames its first clip mixes in over the end of the event before it (MIX, PUSH, WIPE, SLIDE): it starts that much before that event runs out, which plays on under it and ends here PLAYED. 0: a cut.',
      resolve: ({ p }) => p.transitionFrames,
    }),
    lateFrames: t.int({
      description: 'SOFT: frames it starts after its time (the event before ran on).',
      resolve: ({ p }) => p.lateFrames,
    }),
    overrunFrames: t.int({
      description: 'Frames it runs past the next timed event (cut there, or pushing it).',
      resolve: ({ p }) => p.overrunFrames,
    }),
    underrunFrames: t.int({
      description: 'Frames between its end and the next timed event, filled with filler.',
      resolve: ({ p }) => p.underrunFrames,
    }),
    truncatedFrames: t.int({
      description: 'Frames of it a later HARD event cuts off.',
      resolve: ({ p }) => p.truncatedFrames,
    }),
    truncated: t.boolean({ resolve: ({ p }) => p.truncatedFrames > 0 }),
    missingClips: t.int({
      description: 'Its clips whose media is not staged: filler plays for their planned length.',
      resolve: ({ p }) => p.missingClips,
    }),
  }),
});

const ScheduleSegment = builder.objectRef<Segment>('ScheduleSegment').implement({
  description: 'What airs from start to end: a clip of an event, filler, or black (HOLD) when there is no filler.',
  fields: (t) => ({
    kind: t.field({ type: ScheduleSegmentKindEnum, resolve: (s) => s.kind }),
    start: t.field({ type: 'DateTime', resolve: (s) => iso(s.startMs) }),
    end: t.field({ type: 'DateTime', resolve: (s) => iso(s.endMs) }),
    eventId: t.id({
      nullable: true,
      description: 'The event it airs for (also filler instead of a missing clip); null for gap filler.',
      resolve: (s) => s.eventId,
    }),
    clipIndex: t.int({ nullable: true, description: 'Place of the clip in its event.', resolve: (s) => s.clipIndex }),
    assetId: t.id({ nullable: true, resolve: (s) => s.clip?.assetId ?? null }),
    clipName: t.string({ nullable: true, resolve: (s) => s.clip?.clipName ?? null }),
    truncated: t.boolean({
      description: 'Ends before its clip does: cut by a HARD event, or filler trimmed to the next event.',
      resolve: (s) => s.truncated,
    }),
    pushed: t.boolean({ description: 'Its SOFT event starts late.', resolve: (s) => s.pushed }),
    transitionFrames: t.int({
      description: 'Frames its clip plays in over the segment before it, under its transition; 0 for a cut.',
      resolve: (s) => s.transitionFrames,
    }),
    tailFrames: t.int({
      description: "Frames its clip plays on past its end, under the next segment's transition.",
      resolve: (s) => s.tailFrames,
    }),
    fills: t.field({
      type: ScheduleFillEnum,
      nullable: true,
      description: 'Why filler (or black) plays here; null for a clip.',
      resolve: (s) => s.fills,
    }),
    alarm: t.boolean({ description: 'Black: no filler to play.', resolve: (s) => s.alarm }),
  }),
});

const UnplayableScheduleEvent = builder
  .objectRef<{ eventId: string; reason: string }>('UnplayableScheduleEvent')
  .implement({
    description: 'An event left out of the plan, and why.',
    fields: (t) => ({ eventId: t.exposeID('eventId'), reason: t.exposeString('reason') }),
  });

type DayView = Awaited<ReturnType<typeof scheduleDay>>;

export const ScheduleDay = builder.objectRef<DayView>('ScheduleDay').implement({
  description: "A broadcast day: from the day start, local time in the schedule's time zone, to the next.",
  fields: (t) => ({
    date: t.exposeString('date'),
    from: t.field({ type: 'DateTime', resolve: (d) => iso(d.window.fromMs) }),
    to: t.field({ type: 'DateTime', resolve: (d) => iso(d.window.toMs) }),
    hours: t.float({ description: '24; 23 or 25 on a day the clocks change.', resolve: (d) => d.hours }),
    events: t.field({
      type: [PlannedScheduleEvent],
      description: 'Events on air in the day, and those held or skipped in it, in air order.',
      resolve: (d) => d.events.map((p) => ({ p, rate: d.plan.rate })),
    }),
    segments: t.field({
      type: [ScheduleSegment],
      description:
        'Clips and filler tiling the day, in time order; the first and last whole where they cross its edges.',
      resolve: (d) => d.plan.segments,
    }),
    unplayable: t.field({ type: [UnplayableScheduleEvent], resolve: (d) => d.unplayable }),
  }),
});

type NowView = Awaited<ReturnType<typeof scheduleNow>>;

export const ScheduleNowAndNext = builder.objectRef<NowView>('ScheduleNowAndNext').implement({
  description: 'What the schedule airs now and what comes next, as a console shows it.',
  fields: (t) => ({
    at: t.field({ type: 'DateTime', resolve: (n) => iso(n.atMs) }),
    event: t.field({
      type: PlannedScheduleEvent,
      nullable: true,
      description: 'Null in filler between events.',
      resolve: (n) => (n.event ? { p: n.event, rate: n.rate } : null),
    }),
    segment: t.field({ type: ScheduleSegment, nullable: true, resolve: (n) => n.now?.segment ?? null }),
    positionMs: t.int({
      nullable: true,
      description: 'How far into the segment on air.',
      resolve: (n) => (n.now ? n.atMs - n.now.segment.startMs : null),
    }),
    nextSegment: t.field({ type: ScheduleSegment, nullable: true, resolve: (n) => n.nextSegment }),
    nextEvent: t.field({
      type: PlannedScheduleEvent,
      nullable: true,
      resolve: (n) => (n.nextEvent ? { p: n.nextEvent, rate: n.rate } : null),
    }),
    nextHardEvent: t.field({
      type: PlannedScheduleEvent,
      nullable: true,
      resolve: (n) => (n.nextHard ? { p: n.nextHard, rate: n.rate } : null),
    }),
    timeToNextHardMs: t.int({
      nullable: true,
      description: 'Until the next HARD event starts (capped at 2^31 - 1).',
      resolve: (n) => (n.msToNextHard === null ? null : Math.min(n.msToNextHard, MAX_INT)),
    }),
  }),
});
