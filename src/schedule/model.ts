import { z } from 'zod';
import { PlaylistItemSchema } from '../protocol/sidecar-api.ts';
import { videoFormatSchema } from '../protocol/video-formats.ts';

/**
 * A channel's schedule: events on a UTC timeline, each a clip or a block of
 * clips (a playlist), started by its trigger, and a filler pool for the gaps.
 * The control plane and the sidecar parse it with these schemas, and both plan
 * it with plan.ts, so they agree on every frame. See docs/schedule.md.
 */

export const TRIGGERS = [
  /** Starts when the event before it ends. */
  'FOLLOW',
  /** Starts at `at`, to the frame, cutting whatever plays then (which ends TRUNCATED). */
  'HARD',
  /** Starts at `at` or when the event before it ends, whichever is later. */
  'SOFT',
  /** Holds (filler, or the last frame) until an operator takes it. */
  'MANUAL',
] as const;
export const TriggerSchema = z.enum(TRIGGERS);
export type Trigger = z.infer<typeof TriggerSchema>;

/** A clip as a playlist item is today: asset, media path, in/out points, duration, transition. */
export const ScheduleClipSchema = PlaylistItemSchema;
export type ScheduleClip = z.infer<typeof ScheduleClipSchema>;

export const EventContentSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('CLIP'), clip: ScheduleClipSchema }),
  z.object({
    kind: z.literal('BLOCK'),
    playlistId: z.string().min(1).max(200),
    clips: z.array(ScheduleClipSchema).min(1, 'a block holds at least one clip').max(10_000),
  }),
]);
export type EventContent = z.infer<typeof EventContentSchema>;

/** RFC 3339 with Z or an offset; planned in UTC whatever the offset. */
const instantSchema = z.iso.datetime({ offset: true });

export const ScheduleEventSchema = z
  .object({
    eventId: z.string().min(1).max(200),
    trigger: TriggerSchema,
    /** The time of a HARD or SOFT event; absent for FOLLOW and MANUAL. */
    at: instantSchema.optional(),
    content: EventContentSchema,
  })
  .superRefine((event, ctx) => {
    const timed = event.trigger === 'HARD' || event.trigger === 'SOFT';
    if (timed && event.at === undefined)
      ctx.addIssue({ code: 'custom', path: ['at'], message: `a ${event.trigger} event needs a time` });
    if (!timed && event.at !== undefined)
      ctx.addIssue({ code: 'custom', path: ['at'], message: `a ${event.trigger} event has no time` });
  });
export type ScheduleEvent = z.infer<typeof ScheduleEventSchema>;

/** An IANA time zone this runtime knows (Europe/London, America/New_York, UTC). */
export const timeZoneSchema = z
  .string()
  .min(1)
  .max(100)
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone, e.g. Europe/London');

export const ScheduleSchema = z
  .object({
    /** Grows with every committed change; the sidecar acknowledges the version it runs. */
    version: z.number().int().nonnegative(),
    /** The channel's video format: its frame rate is the planning unit. */
    videoFormat: videoFormatSchema,
    /** The channel's time zone: broadcast days are local days. */
    timeZone: timeZoneSchema,
    /** In air order; the first is HARD or SOFT (the timeline needs an anchor). */
    events: z.array(ScheduleEventSchema).max(50_000),
    /** Played in turn, looping, wherever nothing is scheduled. Empty: black (hold) and an alarm. */
    filler: z.array(ScheduleClipSchema).max(10_000),
    /**
     * MANUAL events an operator took, and when (event id → ms since the epoch),
     * as the control plane recorded them: a sidecar that did not make the take
     * (a fresh one after a failover) plans the event from it instead of holding
     * for it again. Not content: a take does not change the version.
     */
    taken: z.record(z.string().min(1).max(200), z.number().int()).optional(),
    /**
     * Events an operator skipped while they aired, and the instant they were cut
     * (event id → ms since the epoch): what followed them moved up. Not content,
     * as `taken`.
     */
    skipped: z.record(z.string().min(1).max(200), z.number().int()).optional(),
  })
  .superRefine((schedule, ctx) => {
    const first = schedule.events[0];
    if (first && first.trigger !== 'HARD' && first.trigger !== 'SOFT') {
      ctx.addIssue({ code: 'custom', path: ['events', 0, 'trigger'], message: 'the first event must be HARD or SOFT' });
    }
    const seen = new Set<string>();
    let lastAt = -Infinity;
    schedule.events.forEach((event, i) => {
      if (seen.has(event.eventId))
        ctx.addIssue({ code: 'custom', path: ['events', i, 'eventId'], message: 'must be unique' });
      seen.add(event.eventId);
      if (event.at === undefined) return;
      // Timed events in air order: a time before an earlier event's would make the order mean two things.
      const at = Date.parse(event.at);
      if (at <= lastAt)
        ctx.addIssue({
          code: 'custom',
          path: ['events', i, 'at'],
          message: 'must be after the time of every timed event before it',
        });
      lastAt = Math.max(lastAt, at);
    });
  });
export type Schedule = z.infer<typeof ScheduleSchema>;

/** The clips an event plays, in order. */
export const eventClips = (content: EventContent): readonly ScheduleClip[] =>
  content.kind === 'CLIP' ? [content.clip] : content.clips;
