import type { AsRunEntry, Channel, Item, Prisma } from '../../prisma/generated/client/client.ts';
import { badInput, notFound } from '../errors.ts';
import type { Context } from '../graphql/context.ts';
import { canSee, requirePrincipal, visibleProjectIds } from './access.ts';
import { parseId } from './ids.ts';
import { decodeCursor, encodeCursor, type Cursor } from './pagination.ts';

/** Largest page a client may ask for. */
export const AS_RUN_MAX_PAGE = 500;
/** Page size when `first` is omitted (the contract's default). */
export const AS_RUN_DEFAULT_PAGE = 100;

/** Opaque to clients: the position (startedAt, id) of the last row seen. */
export const encodeAsRunCursor = (row: { startedAt: Date; id: string }) => encodeCursor(row.startedAt, row.id);

/** What the GraphQL selection needs of each entry's relations (plugin-prisma's planned include). */
export type AsRunQuery = { include?: Prisma.AsRunEntryInclude; select?: Prisma.AsRunEntrySelect };

/** An entry with the relations the selection asked for. */
export type AsRunRow = AsRunEntry & { channel?: Partial<Channel>; item?: Partial<Item> | null };

/** Which rows a page reads from. `channel` is the row the access check loaded, reused when it suffices. */
export type AsRunScope =
  | { kind: 'channel'; channelId: string; channel?: Channel }
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
export function parseAsRunArgs(args: { from?: Date | null; to?: Date | null; after?: string | null }): AsRunPageRequest {
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
export async function asRunScope(ctx: Context, rawChannelId: string | null | undefined): Promise<AsRunScope> {
  const p = requirePrincipal(ctx.principal);
  if (rawChannelId === null || rawChannelId === undefined) {
    const projectIds = visibleProjectIds(p);
    return projectIds ? { kind: 'projects', projectIds } : { kind: 'all' };
  }
  const channelId = parseId('channelId', rawChannelId);
  const channel = await ctx.db.channel.findUnique({ where: { id: channelId } });
  if (!channel || !canSee(p, channel.projectId)) throw notFound('channel');
  return { kind: 'channel', channelId, channel };
}

const COLUMNS = `id, channel_id AS "channelId", playlist_id AS "playlistId", item_id AS "itemId",
  asset_id AS "assetId", clip_name AS "clipName", started_at AS "startedAt", ended_at AS "endedAt",
  duration_ms AS "durationMs", status::text AS status, sidecar_epoch AS "sidecarEpoch", sidecar_seq AS "sidecarSeq",
  created_at AS "createdAt"`;

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
function selectPage(ctx: Context, scope: AsRunScope, page: AsRunPageRequest, limit: number): Promise<AsRunEntry[]> {
  const conditions = new Conditions();
  if (scope.kind === 'channel') conditions.add('channel_id = ?::uuid', scope.channelId);
  if (scope.kind === 'projects') {
    conditions.add('channel_id IN (SELECT id FROM channels WHERE project_id = ANY(?::uuid[]))', scope.projectIds);
  }
  addPageConditions(conditions, page);
  const text = `SELECT ${COLUMNS} FROM as_run ${conditions.where()} ORDER BY started_at DESC, id DESC LIMIT ${conditions.param(limit)}`;
  return ctx.services.sql.query<AsRunEntry>(text, conditions.params);
}

/** The same page of several channels in one statement: one index scan per channel, each with its LIMIT. */
export function selectChannelPages(ctx: Context, channelIds: string[], page: AsRunPageRequest, limit: number) {
  const conditions = new Conditions();
  const ids = conditions.param(channelIds);
  addPageConditions(conditions.add('channel_id = c.id'), page);
  const text = `SELECT a.* FROM unnest(${ids}::uuid[]) AS c(id)
    CROSS JOIN LATERAL (SELECT ${COLUMNS} FROM as_run ${conditions.where()}
                         ORDER BY started_at DESC, id DESC LIMIT ${conditions.param(limit)}) a`;
  return ctx.services.sql.query<AsRunEntry>(text, conditions.params);
}

type RelationArg = boolean | { select?: Record<string, unknown> | null; where?: object } | undefined;

/** Loads the rows with these ids once for the page, as the planned relation arguments ask. */
async function loadRelated<T extends { id?: string }>(
  arg: RelationArg,
  ids: string[],
  find: (args: any) => Promise<T[]>,
): Promise<Map<string, T>> {
  if (!arg || ids.length === 0) return new Map();
  const args = arg === true ? {} : { ...arg };
  // The id is what the rows are matched on, whatever the selection.
  if (args.select) args.select = { ...args.select, id: true };
  const rows = await find({ ...args, where: { ...args.where, id: { in: ids } } });
  return new Map(rows.map((r) => [r.id as string, r]));
}

const distinct = (values: (string | null)[]) => [...new Set(values.filter((v): v is string => v !== null))];

/**
 * Adds the channel and item the GraphQL selection asks for: one statement per
 * relation for all the rows (not per row), and none for the channel when the
 * access check already loaded it as a whole.
 */
export async function attachRelations(ctx: Context, rows: AsRunRow[], query: AsRunQuery, known?: Channel): Promise<AsRunRow[]> {
  const include = query.include ?? {};
  const [channels, items] = await Promise.all([
    include.channel === true && known
      ? new Map([[known.id, known as Partial<Channel>]])
      : loadRelated<Partial<Channel>>(include.channel, distinct(rows.map((r) => r.channelId)), (a) => ctx.db.channel.findMany(a)),
    loadRelated<Partial<Item>>(include.item, distinct(rows.map((r) => r.itemId)), (a) => ctx.db.item.findMany(a)),
  ]);
  if (include.channel) for (const r of rows) r.channel = channels.get(r.channelId);
  if (include.item) for (const r of rows) r.item = r.itemId ? (items.get(r.itemId) ?? null) : null;
  return rows;
}

/** A page of entries with the relations the selection asks for. */
export async function findAsRunPage(
  ctx: Context,
  scope: AsRunScope,
  page: AsRunPageRequest,
  limit: number,
  query: AsRunQuery,
): Promise<AsRunRow[]> {
  if (scope.kind === 'projects' && scope.projectIds.length === 0) return [];
  const rows = await selectPage(ctx, scope, page, limit);
  return attachRelations(ctx, rows, query, scope.kind === 'channel' ? scope.channel : undefined);
}
