import type { AsRunStatus } from '../../../../prisma/generated/client/enums.ts';
import type { Sql } from '../../../services/db.ts';
import type { AsRunScope } from '../as-run.ts';

/** Rows per batch: large enough that statements are few, small enough that memory stays flat. */
export const EXPORT_BATCH_ROWS = 1000;
/** Across many channels each channel reads its share of a batch, but never fewer rows than this. */
const MIN_CHANNEL_BATCH_ROWS = 50;

/** One as-run entry as the exports write it: the entry and its channel's name. */
export interface ExportRow {
  id: string;
  channelId: string;
  channelName: string;
  playlistId: string | null;
  itemId: string | null;
  assetId: string | null;
  clipName: string;
  startedAt: Date;
  endedAt: Date | null;
  durationMs: number | null;
  status: AsRunStatus;
  /** Why a FAILED or TRUNCATED entry ended; optional for rows made before the column. */
  reason?: string | null;
  /** As-run against plan (optional for rows made before the columns; null for manual play). */
  scheduleEventId?: string | null;
  plannedStartAt?: Date | null;
  plannedEndAt?: Date | null;
  fills?: 'GAP' | 'MISSING' | 'MANUAL' | null;
}

/** A channel of an export. */
export interface ExportChannel {
  id: string;
  name: string;
  videoFormat: string;
}

export interface ExportWindow {
  /** Inclusive, on started_at. */
  from?: Date | null;
  /** Exclusive, on started_at. */
  to?: Date | null;
}

/**
 * The channels of a scope, deleted ones included (their history is still the
 * legal record), by name then id so that an export's order is stable.
 */
export async function listScopeChannels(sql: Sql, scope: AsRunScope): Promise<ExportChannel[]> {
  if (scope.kind === 'channel' && scope.channel) {
    const { id, name, videoFormat } = scope.channel;
    return [{ id, name, videoFormat }];
  }
  if (scope.kind === 'projects' && scope.projectIds.length === 0) return [];
  const [where, params] =
    scope.kind === 'channel'
      ? ['WHERE id = $1::uuid', [scope.channelId]]
      : scope.kind === 'projects'
        ? ['WHERE project_id = ANY($1::uuid[])', [scope.projectIds]]
        : ['', []];
  return sql.query<ExportChannel>(
    `SELECT id, name, video_format AS "videoFormat" FROM channels ${where} ORDER BY name, id`,
    params,
  );
}

/**
 * One channel's entries in the window, oldest first (started_at, then id), in
 * batches. Each batch is one statement on the channel's index (scanned
 * backwards), its keyset `(started_at, id) > last row` an index condition, so
 * a batch deep into the history costs what the first does and rows inserted
 * meanwhile neither shift nor repeat the batches. Nothing is held between
 * batches (no connection, no cursor): a consumer that stops iterating has
 * released everything.
 */
export async function* readChannelOldestFirst(
  sql: Sql,
  channel: Pick<ExportChannel, 'id' | 'name'>,
  window: ExportWindow,
  batchSize = EXPORT_BATCH_ROWS,
): AsyncGenerator<ExportRow[]> {
  let after: { at: Date; id: string } | null = null;
  for (;;) {
    const params: unknown[] = [channel.id];
    const param = (value: unknown) => `$${params.push(value)}`;
    const where = ['channel_id = $1::uuid'];
    if (window.from) where.push(`started_at >= ${param(window.from)}::timestamptz`);
    if (window.to) where.push(`started_at < ${param(window.to)}::timestamptz`);
    if (after) where.push(`(started_at, id) > (${param(after.at)}::timestamptz, ${param(after.id)}::uuid)`);
    const rows = await sql.query<ExportRow>(
      `SELECT id, channel_id AS "channelId", playlist_id AS "playlistId", item_id AS "itemId", asset_id AS "assetId",
              clip_name AS "clipName", started_at AS "startedAt", ended_at AS "endedAt", duration_ms AS "durationMs",
              status::text AS status, reason, schedule_event_id AS "scheduleEventId",
              planned_start_at AS "plannedStartAt", planned_end_at AS "plannedEndAt", fills::text AS fills
         FROM as_run WHERE ${where.join(' AND ')}
        ORDER BY started_at, id LIMIT ${param(batchSize)}`,
      params,
    );
    for (const row of rows) row.channelName = channel.name;
    if (rows.length > 0) yield rows;
    if (rows.length < batchSize) return;
    const last = rows[rows.length - 1];
    after = { at: last.startedAt, id: last.id };
  }
}

/** (started_at, id) order; ids are lowercase UUIDs, whose string order is PostgreSQL's uuid order. */
const before = (a: ExportRow, b: ExportRow) =>
  a.startedAt.getTime() < b.startedAt.getTime() || (a.startedAt.getTime() === b.startedAt.getTime() && a.id < b.id);

/** A channel's rows not yet merged, and how to read more. */
interface Lane {
  rows: ExportRow[];
  next: number;
  reader: AsyncGenerator<ExportRow[]>;
}

/**
 * Several channels' entries merged into one oldest-first sequence, in batches.
 * Each channel is read on its own index and the lanes are merged here (a
 * binary heap on each lane's next row): the work is proportional to the rows
 * exported, whereas one statement across channels would either sort every
 * remaining row of every channel for each batch or walk the whole table's
 * time index past other projects' rows.
 */
export async function* readChannelsOldestFirst(
  sql: Sql,
  channels: Pick<ExportChannel, 'id' | 'name'>[],
  window: ExportWindow,
  batchSize = EXPORT_BATCH_ROWS,
): AsyncGenerator<ExportRow[]> {
  if (channels.length === 1) {
    yield* readChannelOldestFirst(sql, channels[0], window, batchSize);
    return;
  }
  const laneBatch = Math.max(MIN_CHANNEL_BATCH_ROWS, Math.ceil(batchSize / Math.max(1, channels.length)));
  const heap: Lane[] = [];
  const readers: AsyncGenerator<ExportRow[]>[] = [];
  try {
    for (const channel of channels) {
      const reader = readChannelOldestFirst(sql, channel, window, laneBatch);
      readers.push(reader);
      const first = await reader.next();
      if (!first.done) push(heap, { rows: first.value, next: 0, reader });
    }
    let out: ExportRow[] = [];
    while (heap.length > 0) {
      const lane = heap[0];
      out.push(lane.rows[lane.next++]);
      if (lane.next === lane.rows.length) {
        const more = await lane.reader.next();
        if (more.done) pop(heap);
        else {
          lane.rows = more.value;
          lane.next = 0;
          siftDown(heap, 0);
        }
      } else siftDown(heap, 0);
      if (out.length === batchSize) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  } finally {
    await Promise.all(readers.map((reader) => reader.return(undefined)));
  }
}

const headOf = (lane: Lane) => lane.rows[lane.next];

function push(heap: Lane[], lane: Lane): void {
  heap.push(lane);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(headOf(heap[i]), headOf(heap[parent]))) break;
    [heap[i], heap[parent]] = [heap[parent], heap[i]];
    i = parent;
  }
}

function pop(heap: Lane[]): void {
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    siftDown(heap, 0);
  }
}

function siftDown(heap: Lane[], i: number): void {
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let smallest = i;
    if (left < heap.length && before(headOf(heap[left]), headOf(heap[smallest]))) smallest = left;
    if (right < heap.length && before(headOf(heap[right]), headOf(heap[smallest]))) smallest = right;
    if (smallest === i) return;
    [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
    i = smallest;
  }
}
