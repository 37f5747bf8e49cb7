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
  })
  .superRefine((body, ctx) => {
    if (body.startAt && body.startAt.index >= body.items.length) {
      ctx.addIssue({ code: 'custom', path: ['startAt', 'index'], message: 'must be less than the number of items' });
    }
    const seen = new Set<string>();
    body.items.forEach((item, i) => {
      if (seen.has(item.itemId)) ctx.addIssue({ code: 'custom', path: ['items', i, 'itemId'], message: 'must be unique' });
      seen.add(item.itemId);
    });
  });
export type LoadPlaylist = z.infer<typeof LoadPlaylistSchema>;

export const EVENT_KINDS = ['STATE_CHANGED', 'ITEM_ON_AIR', 'ITEM_ENDED', 'ERROR'] as const;
export const ENDED_HOW = ['PLAYED', 'SKIPPED', 'TRUNCATED', 'FAILED'] as const;
export const EndedHowSchema = z.enum(ENDED_HOW);
export type EndedHow = z.infer<typeof EndedHowSchema>;

const eventBase = { seq: z.number().int().positive(), at: z.string() };
const itemRef = { itemId: z.string(), assetId: z.string(), playlistId: z.string(), clipName: z.string() };

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
  }),
  z.object({ ...eventBase, kind: z.literal('ERROR'), message: z.string() }),
]);
export type SidecarEvent = z.infer<typeof SidecarEventSchema>;

/** An event before the log numbers and stamps it. */
export type SidecarEventInput = SidecarEvent extends infer E ? (E extends SidecarEvent ? Omit<E, 'seq' | 'at'> : never) : never;

export const EventsQuerySchema = z.object({
  after: z.coerce.number().int().nonnegative().default(0),
  waitMs: z.coerce.number().int().nonnegative().default(0),
});

/** @defaultValue cap on GET /events waitMs, below common proxy idle timeouts */
export const MAX_EVENTS_WAIT_MS = 25_000;

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
});
export type Status = z.infer<typeof StatusSchema>;

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
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional(), items: z.array(z.string()).optional() }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
