import { z } from 'zod';

/**
 * The HTTP API between the control plane and a channel's sidecar: request and
 * answer bodies as zod schemas, so both sides validate the same shapes. Imports
 * nothing but zod: the sidecar image and the API share this file and nothing else.
 */

export const TRANSITIONS = ['CUT', 'MIX', 'PUSH', 'WIPE', 'SLIDE'] as const;
export const TransitionSchema = z.enum(TRANSITIONS);

export const PLAYOUT_STATES = ['IDLE', 'PLAYING', 'PAUSED', 'STOPPED'] as const;
export const PlayoutStateSchema = z.enum(PLAYOUT_STATES);
export type PlayoutState = z.infer<typeof PlayoutStateSchema>;

/** Media paths are relative to the playout volume; anything that could leave it is refused. */
export const mediaPathSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1024 characters')
  .refine((p) => !p.startsWith('/') && !p.startsWith('\\'), 'must be relative to the media volume')
  .refine((p) => !p.split(/[\\/]/).includes('..'), 'must not contain ".."')
  .refine((p) => !p.includes('\0'), 'must not contain NUL');

const ms = z.number().int('must be a whole number of milliseconds').nonnegative('must be >= 0');

export const PlaylistItemSchema = z
  .object({
    itemId: z.string().min(1).max(200),
    assetId: z.string().min(1).max(200),
    clipName: z.string().min(1).max(500),
    mediaPath: mediaPathSchema,
    inPointMs: ms.max(86_400_000).optional(),
    outPointMs: ms.max(86_400_000).optional(),
    /** Effective duration (out − in, or the asset's length); the ffmpeg engine needs it. */
    durationMs: z.number().int('must be a whole number of milliseconds').positive('must be > 0').max(86_400_000),
    transition: TransitionSchema,
    transitionMs: ms.max(60_000),
  })
  .superRefine((item, ctx) => {
    if (item.outPointMs !== undefined && item.outPointMs <= (item.inPointMs ?? 0)) {
      ctx.addIssue({ code: 'custom', path: ['outPointMs'], message: 'must be after inPointMs' });
    }
  });
export type PlaylistItem = z.infer<typeof PlaylistItemSchema>;

export const LoadPlaylistSchema = z
  .object({
    playlistId: z.string().min(1).max(200),
    loop: z.boolean(),
    items: z.array(PlaylistItemSchema).min(1, 'must hold at least one item').max(10_000),
    startAt: z.object({ index: z.number().int().nonnegative(), offsetMs: ms }).optional(),
    /**
     * The instant (RFC 3339) at which `startAt` was true: a resume after a
     * failover or restart. The sidecar, when it starts playout, moves on by the
     * time since then (into the following items, round again when the list
     * loops), as the list would have played had it kept going: the control
     * plane reads the position before the new sidecar is up, which may take
     * seconds. Absent: `startAt` as given, at once.
     */
    anchorAt: z.iso.datetime({ offset: true }).optional(),
    /** The playlist's revision when read (see UpdatePlaylistSchema.version); optional. */
    version: z.number().int().nonnegative().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.startAt && body.startAt.index >= body.items.length) {
      ctx.addIssue({ code: 'custom', path: ['startAt', 'index'], message: 'must be less than the number of items' });
    }
    const seen = new Set<string>();
    body.items.forEach((item, i) => {
      if (seen.has(item.itemId))
        ctx.addIssue({ code: 'custom', path: ['items', i, 'itemId'], message: 'must be unique' });
      seen.add(item.itemId);
    });
  });
export type LoadPlaylist = z.infer<typeof LoadPlaylistSchema>;

/**
 * Where playout stands `positionMs` into item `index` of a list of item
 * durations: past the end of an item it continues into the next ones (round
 * again when the playlist loops). Null: a playlist that does not loop would
 * have ended.
 */
export function advanceInPlaylist(
  durationsMs: number[],
  loop: boolean,
  index: number,
  positionMs: number,
): { index: number; offsetMs: number } | null {
  const cycleMs = durationsMs.reduce((sum, d) => sum + d, 0);
  let i = index;
  let offset = Math.max(0, Math.round(positionMs));
  while (offset >= durationsMs[i]) {
    offset -= durationsMs[i];
    i += 1;
    if (i === durationsMs.length) {
      if (!loop) return null;
      i = 0;
      offset %= cycleMs; // whole rounds of the loop
    }
  }
  return { index: i, offsetMs: offset };
}

/**
 * Faults an operator must see at once. The sidecar raises the first four
 * and SCHEDULE_HOLD itself; the control plane raises SIDECAR_UNREACHABLE, NODE_OFFLINE and
 * EDIT_NOT_APPLIED, which a sidecar cannot report about itself. An alarm is
 * raised once and cleared once: a second raise of the same kind while it is up
 * only updates its message.
 */
export const ALARM_KINDS = [
  /** The output (SRT/RTMP receiver, network) is gone; frames are still made on time and it is being reconnected. */
  'OUTPUT_LOST',
  /** The engine fell behind real time and dropped frames to catch up. */
  'ENGINE_BEHIND',
  /** Playout stopped for a reason other than the operator (an output that cannot be restarted at all). */
  'PLAYOUT_STOPPED',
  /** A clip was missing or unreadable at air time; it was logged FAILED and the next one played. */
  'MEDIA_MISSING',
  /** The control plane cannot reach the channel's sidecar. */
  'SIDECAR_UNREACHABLE',
  /** The node the channel runs on does not answer. */
  'NODE_OFFLINE',
  /** An edit of the playlist on air has not reached the sidecar, which airs the list it had; retried until it does. */
  'EDIT_NOT_APPLIED',
  /** The schedule has nothing to play (no usable filler): the output holds black until a clip or filler can air. */
  'SCHEDULE_HOLD',
] as const;
export const AlarmKindSchema = z.enum(ALARM_KINDS);
export type AlarmKind = z.infer<typeof AlarmKindSchema>;

export const AlarmSchema = z.object({ kind: AlarmKindSchema, message: z.string(), since: z.string() });
export type Alarm = z.infer<typeof AlarmSchema>;

export const EVENT_KINDS = [
  'STATE_CHANGED',
  'ITEM_ON_AIR',
  'ITEM_ENDED',
  'ERROR',
  'ALARM_RAISED',
  'ALARM_CLEARED',
] as const;
export const ENDED_HOW = ['PLAYED', 'SKIPPED', 'TRUNCATED', 'FAILED'] as const;
export const EndedHowSchema = z.enum(ENDED_HOW);
export type EndedHow = z.infer<typeof EndedHowSchema>;

const eventBase = { seq: z.number().int().positive(), at: z.string() };

/** Why a schedule plays filler (or holds): a gap, a clip whose media is missing, waiting for a MANUAL take. */
export const SCHEDULE_FILLS = ['GAP', 'MISSING', 'MANUAL'] as const;
export const ScheduleFillSchema = z.enum(SCHEDULE_FILLS);

/**
 * What a clip aired for when the schedule played it (absent for manual play),
 * so that the control plane records as-run against plan.
 */
export const ScheduleAiringSchema = z.object({
  /** The schedule version that planned it. */
  version: z.number().int().nonnegative(),
  /** The schedule event; null for filler in a gap (filler instead of a missing clip names its event). */
  eventId: z.string().nullable(),
  /** The planned start and end of this clip's segment (frame boundaries, RFC 3339). */
  plannedStartAt: z.string(),
  plannedEndAt: z.string(),
  /** Why filler plays here; null for a scheduled clip. */
  fills: ScheduleFillSchema.nullable(),
});
export type ScheduleAiring = z.infer<typeof ScheduleAiringSchema>;

const itemRef = {
  itemId: z.string(),
  assetId: z.string(),
  playlistId: z.string(),
  clipName: z.string(),
  schedule: ScheduleAiringSchema.optional(),
};

export const SidecarEventSchema = z.discriminatedUnion('kind', [
  z.object({ ...eventBase, kind: z.literal('STATE_CHANGED'), state: PlayoutStateSchema }),
  z.object({ ...eventBase, kind: z.literal('ITEM_ON_AIR'), ...itemRef, startedAt: z.string() }),
  z.object({
    ...eventBase,
    kind: z.literal('ITEM_ENDED'),
    ...itemRef,
    /** Null when the item failed before it reached air. */
    startedAt: z.string().nullable(),
    endedAt: z.string(),
    /** Time on air, paused time excluded. */
    durationMs: z.number().int().nonnegative(),
    how: EndedHowSchema,
    /** Why a FAILED or TRUNCATED item ended (media missing, output lost, ...); null otherwise. */
    reason: z.string().nullish(),
  }),
  z.object({ ...eventBase, kind: z.literal('ERROR'), message: z.string() }),
  z.object({ ...eventBase, kind: z.literal('ALARM_RAISED'), alarm: AlarmKindSchema, message: z.string() }),
  z.object({ ...eventBase, kind: z.literal('ALARM_CLEARED'), alarm: AlarmKindSchema }),
]);
export type SidecarEvent = z.infer<typeof SidecarEventSchema>;

/** An event before the log numbers and stamps it. */
export type SidecarEventInput = SidecarEvent extends infer E
  ? E extends SidecarEvent
    ? Omit<E, 'seq' | 'at'>
    : never
  : never;

/**
 * PUT /playlist: the playlist on air was edited. The item on air finishes
 * untouched; what comes after it is taken from `items`: the item after the one
 * on air when it is still in the list, else the item at the index the one on
 * air had (an edit that removed it). 409 when `playlistId` is not the one on air.
 */
export const UpdatePlaylistSchema = z
  .object({
    playlistId: z.string().min(1).max(200),
    /** May be empty: the item on air finishes, then playout stops. */
    items: z.array(PlaylistItemSchema).max(10_000),
    /**
     * The playlist's revision this list was read at (it grows with every
     * committed edit). Optional; when given, an edit older than the last one
     * loaded or applied is refused (409 STALE), so an edit pushed late never
     * overwrites a newer one.
     */
    version: z.number().int().nonnegative().optional(),
    /** Whether the list loops from now on; unchanged when left out. */
    loop: z.boolean().optional(),
  })
  .superRefine((body, ctx) => {
    const seen = new Set<string>();
    body.items.forEach((item, i) => {
      if (seen.has(item.itemId))
        ctx.addIssue({ code: 'custom', path: ['items', i, 'itemId'], message: 'must be unique' });
      seen.add(item.itemId);
    });
  });
export type UpdatePlaylist = z.infer<typeof UpdatePlaylistSchema>;

export const EventsQuerySchema = z.object({
  after: z.coerce.number().int().nonnegative().default(0),
  waitMs: z.coerce.number().int().nonnegative().default(0),
});

/** @defaultValue cap on GET /events waitMs, below common proxy idle timeouts */
export const MAX_EVENTS_WAIT_MS = 25_000;

/** A segment of the schedule as /status shows it. */
const scheduleSegmentSchema = z.object({
  eventId: z.string().nullable(),
  kind: z.enum(['CLIP', 'FILLER', 'HOLD']),
  /** Null for HOLD. */
  itemId: z.string().nullable(),
  clipName: z.string().nullable(),
  plannedStartAt: z.string(),
  plannedEndAt: z.string(),
  fills: ScheduleFillSchema.nullable(),
});

export const ScheduleStatusSchema = z.object({
  /** The version the sidecar runs (PUT /schedule acknowledged it). */
  version: z.number().int().nonnegative(),
  /** A manual playlist was loaded over it: it comes back at /schedule/resume or the next HARD event. */
  suspended: z.boolean(),
  /** What the schedule has on air now; null while suspended. */
  onAir: scheduleSegmentSchema.nullable(),
  /** The next event planned to start, with its planned start. */
  nextEvent: z.object({ eventId: z.string(), plannedStartAt: z.string() }).nullable(),
  /** Events an operator skipped on air, and the instant each was cut (ISO): the control plane plans them too. */
  skipped: z.record(z.string(), z.string()).optional(),
});
export type ScheduleStatus = z.infer<typeof ScheduleStatusSchema>;

const statusItem = z.object({ itemId: z.string(), assetId: z.string(), clipName: z.string(), index: z.number().int() });

export const StatusSchema = z.object({
  channelId: z.string(),
  engine: z.string(),
  state: PlayoutStateSchema,
  playlistId: z.string().nullable(),
  loop: z.boolean(),
  current: statusItem
    .extend({ startedAt: z.string().nullable(), positionMs: z.number().int(), durationMs: z.number().int() })
    .nullable(),
  next: statusItem.nullable(),
  epoch: z.string(),
  lastSeq: z.number().int().nonnegative(),
  errors: z.array(z.object({ at: z.string(), message: z.string() })),
  /** The alarms the sidecar has up now (kinds it raises itself). */
  alarms: z.array(AlarmSchema).optional(),
  /** Totals since the sidecar started, for the control plane's per-channel metrics. */
  counters: z
    .object({ outputReconnects: z.number().int().nonnegative(), framesDropped: z.number().int().nonnegative() })
    .optional(),
  /** The schedule the sidecar holds (absent: none, the channel is manual). */
  schedule: ScheduleStatusSchema.optional(),
});
export type Status = z.infer<typeof StatusSchema>;

/** PUT /schedule answers the version it now runs (the body is src/schedule/model.ts ScheduleSchema). */
export const ScheduleAckSchema = z.object({ version: z.number().int().nonnegative() });
export type ScheduleAck = z.infer<typeof ScheduleAckSchema>;

/** POST /schedule/take: an operator takes a MANUAL event now. */
export const TakeScheduleEventSchema = z.object({ eventId: z.string().min(1).max(200) });
export type TakeScheduleEvent = z.infer<typeof TakeScheduleEventSchema>;

export const EventsPageSchema = z.object({
  /**
   * New at each sidecar start (numbering restarts at 1); time-ordered (UUIDv7
   * layout), so a later start's epoch sorts after an earlier one's.
   */
  epoch: z.string(),
  events: z.array(SidecarEventSchema),
  lastSeq: z.number().int().nonnegative(),
  /**
   * The sidecar's status when the answer was made (after the events listed),
   * so the reader publishes live state without another request. Optional:
   * older sidecars leave it out.
   */
  status: StatusSchema.optional(),
});
export type EventsPage = z.infer<typeof EventsPageSchema>;

export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    field: z.string().optional(),
    items: z.array(z.string()).optional(),
    /** A 409 about a schedule event (a skip refused): the event it names. */
    eventId: z.string().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
