import type { AsRunStatus, ScheduleFill } from '../../../prisma/generated/client/enums.ts';
import type { EventsPage, SidecarEvent } from '../../protocol/sidecar-api.ts';
import type { Db, Prisma } from '../../services/db.ts';
import type { AsRunMessage } from '../../services/pubsub.ts';
import { clearAlarms, SIDECAR_ALARM_KINDS, type AlarmChange } from '../channels/alarms.ts';
import { applyFaultEvents, writeErrorMessage } from '../channels/sidecar-faults.ts';
import { recordSkippedEvents } from './as-run-skipped.ts';

/**
 * Writing the as-run log from a sidecar's event log. The sidecar numbers its
 * events (seq) within an epoch (one per sidecar start); the channel row keeps
 * the position read so far (sidecar_epoch, sidecar_seq), and each page of
 * events is applied in one transaction that locks the channel row, writes the
 * rows and moves the position forward. A page read twice (a second reader
 * after a lease expired, a restarted worker) finds the position past it and
 * writes nothing; the unique key (channel_id, sidecar_epoch, sidecar_seq)
 * guards the inserts as well.
 *
 * An item on air has a row with ended_at NULL and the provisional status
 * PLAYED (the status column has no "on air" value); its ITEM_ENDED sets
 * ended_at, duration_ms and the real status.
 */

/** The reason of entries an operator's stop cut short. */
export const STOPPED_BY_OPERATOR = 'stopped by the operator';

/** An as-run row as the event bus carries it (dates as ISO strings). */
export type AsRunRecord = AsRunMessage['entry'];

type Client = Db | Prisma.TransactionClient;

interface RowOut {
  id: string;
  channel_id: string;
  playlist_id: string | null;
  item_id: string | null;
  asset_id: string | null;
  clip_name: string;
  started_at: Date;
  ended_at: Date | null;
  duration_ms: number | null;
  status: AsRunStatus;
  reason: string | null;
  schedule_event_id: string | null;
  schedule_version: number | null;
  planned_start_at: Date | null;
  planned_end_at: Date | null;
  fills: ScheduleFill | null;
}

const RETURNING =
  'id, channel_id, playlist_id, item_id, asset_id, clip_name, started_at, ended_at, duration_ms, status::text AS status, reason, ' +
  'schedule_event_id, schedule_version, planned_start_at, planned_end_at, fills::text AS fills';

const isoOrNull = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

const record = (r: RowOut): AsRunRecord => ({
  id: r.id,
  channelId: r.channel_id,
  playlistId: r.playlist_id,
  itemId: r.item_id,
  assetId: r.asset_id,
  clipName: r.clip_name,
  startedAt: new Date(r.started_at).toISOString(),
  endedAt: r.ended_at === null ? null : new Date(r.ended_at).toISOString(),
  durationMs: r.duration_ms,
  status: r.status,
  reason: r.reason,
  scheduleEventId: r.schedule_event_id,
  scheduleVersion: r.schedule_version,
  plannedStartAt: isoOrNull(r.planned_start_at),
  plannedEndAt: isoOrNull(r.planned_end_at),
  fills: r.fills,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids come from the sidecar: one that is not a UUID is recorded as unknown rather than failing the page. */
const uuidOrNull = (id: string) => (UUID.test(id) ? id.toLowerCase() : null);

/**
 * Closes the channel's open as-run rows (items on air) at `endedAt`: the
 * channel stopped, its sidecar restarted or failed over, and no ITEM_ENDED
 * will come for them. A row that went on air after `endedAt` ends when it
 * started. Returns the rows closed, for the event bus.
 */
export async function closeOpenAsRun(
  db: Client,
  channelId: string,
  endedAt: Date,
  status: AsRunStatus = 'TRUNCATED',
  reason: string | null = null,
): Promise<AsRunRecord[]> {
  const rows = await db.$queryRawUnsafe<RowOut[]>(
    `UPDATE as_run SET ended_at = GREATEST(started_at, $2::timestamptz),
            duration_ms = GREATEST(0, ROUND(EXTRACT(EPOCH FROM ($2::timestamptz - started_at)) * 1000))::int,
            status = $3::"AsRunStatus", reason = $4
      WHERE channel_id = $1::uuid AND ended_at IS NULL
      RETURNING ${RETURNING}`,
    channelId,
    endedAt,
    status,
    reason,
  );
  return rows.map(record);
}

type ItemEvent = Extract<SidecarEvent, { kind: 'ITEM_ON_AIR' | 'ITEM_ENDED' }>;

/** Inserts a row for an item event, keyed by its seq; the item only if it still exists (it may have been deleted). */
async function insertRow(
  tx: Prisma.TransactionClient,
  channelId: string,
  epoch: string,
  event: ItemEvent,
  row: {
    startedAt: string;
    endedAt: string | null;
    durationMs: number | null;
    status: AsRunStatus;
    reason?: string | null;
  },
  unlessStartedRowExists = false,
): Promise<RowOut[]> {
  return tx.$queryRawUnsafe<RowOut[]>(
    `INSERT INTO as_run (channel_id, playlist_id, item_id, asset_id, clip_name, started_at, ended_at, duration_ms, status, sidecar_epoch, sidecar_seq, reason,
                         schedule_event_id, schedule_version, planned_start_at, planned_end_at, fills)
     SELECT $1::uuid, $2::uuid, (SELECT id FROM items WHERE id = $3::uuid), $4::uuid, $5, $6::timestamptz, $7::timestamptz, $8::int,
            $9::"AsRunStatus", $10, $11::int, $13, $14::uuid, $15::int, $16::timestamptz, $17::timestamptz, $18::"ScheduleFill"
      WHERE NOT $12::boolean
         OR NOT EXISTS (SELECT 1 FROM as_run WHERE channel_id = $1::uuid AND sidecar_epoch = $10 AND started_at = $6::timestamptz
                           AND clip_name = $5 AND asset_id IS NOT DISTINCT FROM $4::uuid)
     ON CONFLICT (channel_id, sidecar_epoch, sidecar_seq) DO NOTHING
     RETURNING ${RETURNING}`,
    channelId,
    uuidOrNull(event.playlistId),
    uuidOrNull(event.itemId),
    uuidOrNull(event.assetId),
    event.clipName,
    row.startedAt,
    row.endedAt,
    row.durationMs,
    row.status,
    epoch,
    event.seq,
    unlessStartedRowExists,
    row.reason ?? null,
    ...plannedOf(event),
  );
}

/**
 * What a schedule's clip aired for (absent for manual play): its event, the
 * version that planned it, its segment's planned start and end, why filler
 * played. Malformed values (the sidecar's word) are recorded as unknown.
 */
function plannedOf(event: ItemEvent): [string | null, number | null, string | null, string | null, string | null] {
  const s = event.schedule;
  if (!s) return [null, null, null, null, null];
  const start = Date.parse(s.plannedStartAt);
  const end = Date.parse(s.plannedEndAt);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) return [null, s.version, null, null, s.fills];
  return [
    s.eventId === null ? null : uuidOrNull(s.eventId),
    s.version,
    new Date(start).toISOString(),
    new Date(end).toISOString(),
    s.fills,
  ];
}

/** The rows one event inserts or completes. */
async function applyEvent(
  tx: Prisma.TransactionClient,
  channelId: string,
  epoch: string,
  event: SidecarEvent,
  stopping: boolean,
): Promise<RowOut[]> {
  switch (event.kind) {
    case 'ITEM_ON_AIR':
      return insertRow(tx, channelId, epoch, event, {
        startedAt: event.startedAt,
        endedAt: null,
        durationMs: null,
        status: 'PLAYED',
      });
    case 'ITEM_ENDED': {
      // What a sidecar being stopped by the operator truncates was stopped by the operator, whatever
      // the sidecar says of its own shutdown.
      const reason = stopping && event.how === 'TRUNCATED' ? STOPPED_BY_OPERATOR : (event.reason ?? null);
      const ended = { endedAt: event.endedAt, durationMs: event.durationMs, status: event.how, reason };
      // Never reached air (failed to load, or skipped or stopped before its first frame): a row of its own.
      if (event.startedAt === null)
        return insertRow(tx, channelId, epoch, event, { ...ended, startedAt: event.endedAt, durationMs: 0 });
      // Within an epoch one item is on air at a time: its start and clip identify its row, even when
      // the item was deleted meanwhile (a failed one beside it may share the start, not the clip).
      const completed = await tx.$queryRawUnsafe<RowOut[]>(
        `UPDATE as_run SET ended_at = $4::timestamptz, duration_ms = $5::int, status = $6::"AsRunStatus", reason = $9,
                schedule_event_id = COALESCE(schedule_event_id, $10::uuid), schedule_version = COALESCE(schedule_version, $11::int),
                planned_start_at = COALESCE(planned_start_at, $12::timestamptz),
                planned_end_at = COALESCE(planned_end_at, $13::timestamptz), fills = COALESCE(fills, $14::"ScheduleFill")
          WHERE channel_id = $1::uuid AND sidecar_epoch = $2 AND started_at = $3::timestamptz AND ended_at IS NULL
            AND clip_name = $7 AND asset_id IS NOT DISTINCT FROM $8::uuid
          RETURNING ${RETURNING}`,
        channelId,
        epoch,
        event.startedAt,
        event.endedAt,
        event.durationMs,
        event.how,
        event.clipName,
        uuidOrNull(event.assetId),
        reason,
        ...plannedOf(event),
      );
      if (completed.length > 0) return completed;
      // Its ITEM_ON_AIR was never read: the complete row, keyed by this event; nothing if the
      // row exists already (closed by a stop or a failover before this event was read).
      return insertRow(tx, channelId, epoch, event, { ...ended, startedAt: event.startedAt }, true);
    }
    default:
      return [];
  }
}

export interface ApplyPageInput {
  channelId: string;
  /** The sidecar the page was read from: nothing is written once the channel has another (or none). */
  sidecarRef: string;
  /** The `after` the page was asked with. */
  after: number;
  page: EventsPage;
  /** When the answer arrived: the channel's heartbeat. */
  receivedAt: Date;
}

export interface PageApplied {
  /**
   * applied: written (or nothing new in it, the heartbeat kept);
   * stale: a page of an earlier epoch than the one recorded, ignored;
   * refetch: the page does not continue the recorded position (read again from `seq` of `epoch`, 0 for a new epoch);
   * moved: the channel no longer runs this sidecar.
   */
  outcome: 'applied' | 'stale' | 'refetch' | 'moved';
  /** The channel's recorded position after the transaction. */
  epoch: string | null;
  seq: number;
  projectId: string | null;
  /** Rows inserted, completed or closed, in the order written. */
  rows: AsRunRecord[];
  /** Events the sidecar no longer held when the page was read (its log's capacity). */
  missed: number;
  /** Alarms raised and cleared by the page, to announce. */
  alarms: AlarmChange[];
  /** The channel's errorMessage when the page changed it (null: cleared); undefined when unchanged. */
  errorMessage?: string | null;
  /** Assets of items that failed at air time. */
  failedAssetIds: string[];
}

interface ChannelRow {
  project_id: string | null;
  sidecar_ref: string | null;
  sidecar_epoch: string | null;
  sidecar_seq: number;
  last_heartbeat_at: Date | null;
  status: string;
  video_format: string;
}

/**
 * Applies one page of a sidecar's events in one transaction. The channel row
 * is locked first, so two readers of the same channel apply one after the
 * other, and each decides from the position the other left: only events past
 * it are written, and the position only moves forward (a later seq in the
 * same epoch, or a later epoch; epochs sort by the sidecar's start). A new
 * epoch means the sidecar restarted and the rest of the previous one is lost:
 * the rows it left on air are closed TRUNCATED at the last heartbeat.
 */
export async function applyEventsPage(db: Db, input: ApplyPageInput): Promise<PageApplied> {
  const { channelId, sidecarRef, after, page, receivedAt } = input;
  return db.$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<ChannelRow[]>`
      SELECT project_id, sidecar_ref, sidecar_epoch, sidecar_seq, last_heartbeat_at, status::text AS status, video_format
        FROM channels WHERE id = ${channelId}::uuid FOR UPDATE`;
    const result = (outcome: PageApplied['outcome'], rows: AsRunRecord[] = [], missed = 0): PageApplied => ({
      outcome,
      epoch: row?.sidecar_epoch ?? null,
      seq: row?.sidecar_seq ?? 0,
      projectId: row?.project_id ?? null,
      rows,
      missed,
      alarms: [],
      failedAssetIds: [],
    });
    if (!row || row.sidecar_ref !== sidecarRef) return result('moved');

    const written: AsRunRecord[] = [];
    const alarms: AlarmChange[] = [];
    let events: SidecarEvent[];
    let from: number;
    if (row.sidecar_epoch === page.epoch) {
      // Events between the recorded seq and `after` would be skipped.
      if (after > row.sidecar_seq) return result('refetch');
      events = page.events.filter((e) => e.seq > row.sidecar_seq);
      from = row.sidecar_seq;
    } else {
      if (row.sidecar_epoch !== null && page.epoch < row.sidecar_epoch) return result('stale');
      // A new epoch must be read from its start.
      if (after > 0) return result('refetch', [], 0);
      const closed = await closeOpenAsRun(
        tx,
        channelId,
        row.last_heartbeat_at ?? receivedAt,
        'TRUNCATED',
        'sidecar restarted',
      );
      written.push(...closed);
      // A new sidecar has none of its predecessor's faults; what still holds it raises again.
      alarms.push(...(await clearAlarms(tx, channelId, SIDECAR_ALARM_KINDS, receivedAt)));
      events = page.events;
      from = 0;
    }
    const missed = events.length > 0 ? Math.max(0, events[0].seq - from - 1) : 0;
    for (const event of events)
      written.push(...(await applyEvent(tx, channelId, page.epoch, event, row.status === 'STOPPING')).map(record));
    // Events the schedule passed without airing them, named when the event that passed them airs.
    const skipped = await recordSkippedEvents(
      tx,
      { id: channelId, projectId: row.project_id, videoFormat: row.video_format },
      page.epoch,
      events,
    );
    if (skipped.length > 0)
      written.push(
        ...(
          await tx.$queryRawUnsafe<RowOut[]>(
            `SELECT ${RETURNING} FROM as_run WHERE id = ANY($1::uuid[]) ORDER BY started_at, id`,
            skipped,
          )
        ).map(record),
      );
    const faults = await applyFaultEvents(tx, channelId, events);
    alarms.push(...faults.alarms);
    const errorChanged = await writeErrorMessage(tx, channelId, sidecarRef, faults.errorMessage);

    const seq = Math.max(page.lastSeq, events.at(-1)?.seq ?? 0, row.sidecar_epoch === page.epoch ? row.sidecar_seq : 0);
    // The decision above was made under the row lock; the conditions repeat it for any other writer.
    await tx.$executeRaw`
      UPDATE channels
         SET sidecar_epoch = ${page.epoch}, sidecar_seq = ${seq}::int,
             last_heartbeat_at = GREATEST(COALESCE(last_heartbeat_at, ${receivedAt}::timestamptz), ${receivedAt}::timestamptz)
       WHERE id = ${channelId}::uuid AND sidecar_ref = ${sidecarRef}
         AND (sidecar_epoch IS DISTINCT FROM ${page.epoch} OR sidecar_seq <= ${seq}::int)`;
    return {
      ...result('applied', written, missed),
      epoch: page.epoch,
      seq,
      alarms,
      errorMessage: errorChanged ? faults.errorMessage : undefined,
      failedAssetIds: faults.failedAssetIds,
    };
  });
}
