import type { AsRunEntry, Channel, Item } from '../../../prisma/generated/client/client.ts';
import { badInput, notFound } from '../../errors.ts';
import type { DomainContext } from '../shared/context.ts';
import type { Principal } from '../../auth/principal.ts';
import { canSee, requirePrincipal, visibleProjectIds } from '../access/access.ts';
import { parseId } from '../shared/ids.ts';
import { decodeCursor, encodeCursor, type Cursor } from '../shared/pagination.ts';

/** Largest page a client may ask for. */
export const AS_RUN_MAX_PAGE = 500;
/** Page size when `first` is omitted (the contract's default). */
export const AS_RUN_DEFAULT_PAGE = 100;

/** Opaque to clients: the position (startedAt, id) of the last row seen. */
export const encodeAsRunCursor = (row: { startedAt: Date; id: string }) => encodeCursor(row.startedAt, row.id);

/**
 * What a page's reader reads of each entry's relations: nothing (absent), the
 * id only (built from the entry's foreign key, with no statement: the key
 * guarantees the row exists), or the row.
 */
export type AsRunQuery = { channel?: 'id' | 'row'; item?: 'id' | 'row' };

/** An entry with the relations the selection asked for. */
export type AsRunRow = AsRunEntry & { channel?: Partial<Channel>; item?: Partial<Item> | null };

/**
 * Which rows a page reads from. `channel` is the row the access check loaded,
 * reused when it suffices; `visibleTo`: the channel is not checked yet, and
 * the page statement checks it for this caller.
 */
export type AsRunScope =
  | { kind: 'channel'; channelId: string; channel?: Channel; visibleTo?: Principal }
  | { kind: 'projects'; projectIds: string[] }
  | { kind: 'all' };

export interface AsRunPageRequest {
  /** Inclusive. */
  from?: Date | null;
  /** Exclusive. */
  to?: Date | null;
  after?: Cursor;
}

/** Checks the arguments that need more than a type: the window and the cursor. */
export function parseAsRunArgs(args: {
  from?: Date | null;
  to?: Date | null;
  after?: string | null;
}): AsRunPageRequest {
  if (args.from && args.to && args.from.getTime() >= args.to.getTime()) {
    throw badInput('to', 'must be later than from (from is inclusive, to exclusive)');
  }
  return {
    from: args.from,
    to: args.to,
    after: args.after === null || args.after === undefined ? undefined : decodeCursor('after', args.after),
  };
}

/**
 * Where Query.asRun may read. A channel named by id must be visible to the
 * caller; a deleted channel's log stays readable by admins and members of its
 * project, since the log is the legal record of what aired. Without a channel:
 * every channel of the caller's projects, deleted ones included.
 */
export async function asRunScope(ctx: DomainContext, rawChannelId: string | null | undefined): Promise<AsRunScope> {
  const scope = asRunPageScope(ctx, rawChannelId);
  if (scope.kind !== 'channel') return scope;
  const channel = await ctx.db.channel.findUnique({ where: { id: scope.channelId } });
  if (!channel || !canSee(requirePrincipal(ctx.principal), channel.projectId)) throw notFound('channel');
  return { kind: 'channel', channelId: scope.channelId, channel };
}

/**
 * asRunScope() for one page: a channel's visibility is not read here but by
 * the page statement itself (one statement instead of two; NOT_FOUND all the
 * same when the caller may not see the channel).
 */
export function asRunPageScope(ctx: DomainContext, rawChannelId: string | null | undefined): AsRunScope {
  const p = requirePrincipal(ctx.principal);
  if (rawChannelId === null || rawChannelId === undefined) {
    const projectIds = visibleProjectIds(p);
    return projectIds ? { kind: 'projects', projectIds } : { kind: 'all' };
  }
  return { kind: 'channel', channelId: parseId('channelId', rawChannelId), visibleTo: p };
}

/**
 * The columns of an entry, in the order toEntry() reads them. Timestamps come
 * as epoch milliseconds: a Date from a number is far cheaper than parsing
 * PostgreSQL's text, and these columns hold milliseconds (timestamptz(3)).
 */
const COLUMNS = `id, channel_id, playlist_id, item_id, asset_id, clip_name,
  round(extract(epoch FROM started_at) * 1000)::float8 AS started_ms, round(extract(epoch FROM ended_at) * 1000)::float8 AS ended_ms,
  duration_ms, status::text, sidecar_epoch, sidecar_seq, round(extract(epoch FROM created_at) * 1000)::float8 AS created_ms, reason,
  schedule_event_id, schedule_version, round(extract(epoch FROM planned_start_at) * 1000)::float8 AS planned_start_ms,
  round(extract(epoch FROM planned_end_at) * 1000)::float8 AS planned_end_ms, fills::text`;

/**
 * An entry from a row of COLUMNS starting at `at`, as a literal with every
 * property it will hold (relations included), so that attaching them later
 * is a plain store.
 */
const dateOrNull = (ms: unknown) => (ms === null ? null : new Date(ms as number));

function toEntry(row: unknown[], at = 0): AsRunRow {
  const endedAt = row[at + 7] as number | null;
  return {
    id: row[at] as string,
    channelId: row[at + 1] as string,
    playlistId: row[at + 2] as string | null,
    itemId: row[at + 3] as string | null,
    assetId: row[at + 4] as string | null,
    clipName: row[at + 5] as string,
    startedAt: new Date(row[at + 6] as number),
    endedAt: endedAt === null ? null : new Date(endedAt),
    durationMs: row[at + 8] as number | null,
    status: row[at + 9] as AsRunEntry['status'],
    sidecarEpoch: row[at + 10] as string | null,
    sidecarSeq: row[at + 11] as number | null,
    createdAt: new Date(row[at + 12] as number),
    reason: row[at + 13] as string | null,
    scheduleEventId: row[at + 14] as string | null,
    scheduleVersion: row[at + 15] as number | null,
    plannedStartAt: dateOrNull(row[at + 16]),
    plannedEndAt: dateOrNull(row[at + 17]),
    fills: row[at + 18] as AsRunEntry['fills'],
    channel: undefined,
    item: undefined,
  };
}

/** A WHERE clause under construction: conditions with positional parameters. */
class Conditions {
  readonly clauses: string[] = [];
  readonly params: unknown[] = [];

  /** `clause` names its parameters `?`, replaced in order by $1, $2, ... */
  add(clause: string, ...values: unknown[]): this {
    let i = 0;
    this.clauses.push(clause.replace(/\?/g, () => `$${this.params.length + ++i}`));
    this.params.push(...values);
    return this;
  }

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  where(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
}

/** The window and the keyset `(started_at, id) < cursor`, as index conditions. */
function addPageConditions(conditions: Conditions, page: AsRunPageRequest): Conditions {
  if (page.from) conditions.add('started_at >= ?::timestamptz', page.from);
  if (page.to) conditions.add('started_at < ?::timestamptz', page.to);
  if (page.after) conditions.add('(started_at, id) < (?::timestamptz, ?::uuid)', page.after.at, page.after.id);
  return conditions;
}

/**
 * One page, newest first, in one statement: the keyset is an index condition
 * of (channel_id, started_at DESC, id DESC) (or of (started_at DESC, id DESC)
 * across channels), so a page deep in the log costs what the first does.
 * Never an offset: rows inserted meanwhile neither shift nor repeat the pages.
 * Plain SQL because Prisma's findMany adds an OFFSET and cannot express the row
 * comparison, and its per-row cost exceeds the query's own (see bench/).
 */
async function selectPage(
  ctx: DomainContext,
  scope: AsRunScope,
  page: AsRunPageRequest,
  limit: number,
): Promise<AsRunRow[]> {
  if (scope.kind === 'channel' && scope.visibleTo)
    return selectCheckedChannelPage(ctx, scope.channelId, scope.visibleTo, page, limit);
  const conditions = new Conditions();
  if (scope.kind === 'channel') conditions.add('channel_id = ?::uuid', scope.channelId);
  if (scope.kind === 'projects') {
    conditions.add('channel_id IN (SELECT id FROM channels WHERE project_id = ANY(?::uuid[]))', scope.projectIds);
  }
  addPageConditions(conditions, page);
  const text = `SELECT ${COLUMNS} FROM as_run ${conditions.where()} ORDER BY started_at DESC, id DESC LIMIT ${conditions.param(limit)}`;
  return (await ctx.services.sql.queryArrays(text, conditions.params)).map((row) => toEntry(row));
}

/**
 * A channel's page with the channel's project, in one statement: no row when
 * the channel does not exist, one row without an entry when its page is
 * empty. NOT_FOUND unless `p` may see the channel (deleted channels included:
 * the log stays readable).
 */
async function selectCheckedChannelPage(
  ctx: DomainContext,
  channelId: string,
  p: Principal,
  page: AsRunPageRequest,
  limit: number,
): Promise<AsRunRow[]> {
  const conditions = new Conditions();
  const id = conditions.param(channelId);
  addPageConditions(conditions.add('channel_id = c.id'), page);
  const text = `SELECT c.project_id, a.* FROM channels c
    LEFT JOIN LATERAL (SELECT ${COLUMNS} FROM as_run ${conditions.where()}
                        ORDER BY started_at DESC, id DESC LIMIT ${conditions.param(limit)}) a ON true
    WHERE c.id = ${id}::uuid`;
  // Its generic plan: planning this statement at each call cost PostgreSQL more than running it (bench/README.md).
  const rows = await ctx.services.sql.queryGenericArrays(text, conditions.params);
  if (rows.length === 0 || !canSee(p, rows[0][0] as string | null)) throw notFound('channel');
  return rows[0][1] === null ? [] : rows.map((row) => toEntry(row, 1));
}

/** The same page of several channels in one statement: one index scan per channel, each with its LIMIT. */
export async function selectChannelPages(
  ctx: DomainContext,
  channelIds: string[],
  page: AsRunPageRequest,
  limit: number,
) {
  const conditions = new Conditions();
  const ids = conditions.param(channelIds);
  addPageConditions(conditions.add('channel_id = c.id'), page);
  const text = `SELECT a.* FROM unnest(${ids}::uuid[]) AS c(id)
    CROSS JOIN LATERAL (SELECT ${COLUMNS} FROM as_run ${conditions.where()}
                         ORDER BY started_at DESC, id DESC LIMIT ${conditions.param(limit)}) a`;
  return (await ctx.services.sql.queryArrays(text, conditions.params)).map((row) => toEntry(row));
}

/** The rows with these ids, by id: one statement for the page. */
async function byId<T extends { id: string }>(
  ids: string[],
  find: (ids: string[]) => Promise<T[]>,
): Promise<Map<string, T>> {
  if (ids.length === 0) return new Map();
  return new Map((await find(ids)).map((row) => [row.id, row]));
}

const distinct = (values: (string | null)[]) => [...new Set(values.filter((v): v is string => v !== null))];

/**
 * Adds the channel and item the reader asks for: one statement per relation
 * for all the rows (not per row), none for a relation of which only the id is
 * read, and none for the channel when the access check already loaded it.
 */
export async function attachRelations(
  ctx: DomainContext,
  rows: AsRunRow[],
  query: AsRunQuery,
  known?: Channel,
): Promise<AsRunRow[]> {
  const [channels, items] = await Promise.all([
    query.channel !== 'row'
      ? null
      : known
        ? new Map([[known.id, known]])
        : byId(distinct(rows.map((r) => r.channelId)), (ids) =>
            ctx.db.channel.findMany({ where: { id: { in: ids } } }),
          ),
    query.item !== 'row'
      ? null
      : byId(distinct(rows.map((r) => r.itemId)), (ids) => ctx.db.item.findMany({ where: { id: { in: ids } } })),
  ]);
  if (query.channel) {
    for (const r of rows) r.channel = channels ? channels.get(r.channelId) : { id: r.channelId };
  }
  if (query.item) {
    for (const r of rows) r.item = r.itemId === null ? null : items ? (items.get(r.itemId) ?? null) : { id: r.itemId };
  }
  return rows;
}

/** A page of entries with the relations the selection asks for. */
export async function findAsRunPage(
  ctx: DomainContext,
  scope: AsRunScope,
  page: AsRunPageRequest,
  limit: number,
  query: AsRunQuery,
): Promise<AsRunRow[]> {
  if (scope.kind === 'projects' && scope.projectIds.length === 0) return [];
  const rows = await selectPage(ctx, scope, page, limit);
  return attachRelations(ctx, rows, query, scope.kind === 'channel' ? scope.channel : undefined);
}
