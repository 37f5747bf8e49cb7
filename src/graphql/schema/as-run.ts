import { getRefFromModel } from '@pothos/plugin-prisma';
import { resolveCursorConnection, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';
import { Kind, type FieldNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import { z } from 'zod';
import {
  AS_RUN_DEFAULT_PAGE,
  AS_RUN_MAX_PAGE,
  asRunPageScope,
  encodeAsRunCursor,
  findAsRunPage,
  parseAsRunArgs,
  type AsRunPageRequest,
  type AsRunQuery,
  type AsRunRow,
} from '../../domain/as-run/as-run.ts';
import { findChannelAsRunPage } from '../../domain/as-run/as-run-batch.ts';
import type { ObjectRef } from '@pothos/core';
import type { Channel, Item } from '../../../prisma/generated/client/client.ts';
import { builder } from '../builder.ts';
import { ScheduleFillEnum } from './schedule-plan.ts';

const offsetMs = (started: Date | string, planned: Date | string | null) =>
  planned === null ? null : new Date(started).getTime() - new Date(planned).getTime();

export const AsRunStatusEnum = builder.enumType('AsRunStatus', {
  values: {
    PLAYED: { description: 'Aired to its planned end.' },
    SKIPPED: {
      description:
        'Cut short by a skip; or, with a scheduleEventId, an event the schedule passed without airing it (no length).',
    },
    TRUNCATED: { description: 'Cut short by stop, channel stop or failure of the channel.' },
    FAILED: { description: 'Could not be put to air.' },
  } as const,
});

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
// The types of channels.ts and items.ts, by their Prisma model.
const ChannelRef = getRefFromModel('Channel', builder) as unknown as ObjectRef<Types, Channel>;
const ItemRef = getRefFromModel('Item', builder) as unknown as ObjectRef<Types, Item>;

export const AsRunEntry = builder.prismaObject('AsRunEntry', {
  fields: (t) => ({
    id: t.exposeID('id'),
    // Channels are tombstoned, never removed, so a deleted channel still resolves here.
    // Plain fields, not plugin-prisma relations: a page attaches both relations for all its
    // rows (attachRelations), and a relation field's per-row bookkeeping cost more than the
    // rest of the row. An entry that comes without them (a subscription's event) loads them,
    // batched by Prisma's findUnique batching; below them, the types' own relations load as usual.
    channel: t.field({
      type: ChannelRef,
      resolve: (entry, _args, ctx) =>
        ((entry as AsRunRow).channel as Channel | undefined) ??
        ctx.db.channel.findUniqueOrThrow({ where: { id: entry.channelId } }),
    }),
    playlistId: t.exposeID('playlistId', { nullable: true }),
    // SET NULL when the item (or its playlist) is deleted; the entry itself stays.
    item: t.field({
      type: ItemRef,
      nullable: true,
      resolve: (entry, _args, ctx) => {
        const item = (entry as AsRunRow).item as Item | null | undefined;
        if (item !== undefined) return item;
        return entry.itemId === null ? null : ctx.db.item.findUnique({ where: { id: entry.itemId } });
      },
    }),
    assetId: t.exposeID('assetId', { nullable: true }),
    clipName: t.exposeString('clipName'),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    endedAt: t.expose('endedAt', { type: 'DateTime', nullable: true }),
    durationMs: t.exposeInt('durationMs', { nullable: true }),
    status: t.expose('status', { type: AsRunStatusEnum }),
    reason: t.exposeString('reason', {
      nullable: true,
      description:
        'Why a FAILED or TRUNCATED entry ended (media missing, output lost, stopped by the operator, sidecar lost); null otherwise.',
    }),
    scheduleEventId: t.exposeID('scheduleEventId', {
      nullable: true,
      description:
        'The schedule event it aired for (it may have been removed since); null for manual play and filler in a gap.',
    }),
    scheduleVersion: t.exposeInt('scheduleVersion', {
      nullable: true,
      description: 'The schedule version that planned it; null for manual play.',
    }),
    plannedStartAt: t.expose('plannedStartAt', {
      type: 'DateTime',
      nullable: true,
      description: "Its segment's planned start (a frame boundary); null for manual play.",
    }),
    plannedEndAt: t.expose('plannedEndAt', {
      type: 'DateTime',
      nullable: true,
      description: "Its segment's planned end, where a HARD event or the next segment cuts it; null for manual play.",
    }),
    offsetMs: t.int({
      nullable: true,
      description: 'How it aired against plan: startedAt − plannedStartAt (positive: late, negative: early).',
      resolve: (entry) => offsetMs(entry.startedAt, entry.plannedStartAt),
    }),
    fills: t.field({
      type: ScheduleFillEnum,
      nullable: true,
      description:
        'Why filler aired here: GAP (nothing scheduled), MISSING (in place of a clip that could not air), MANUAL (a MANUAL event held); null otherwise.',
      resolve: (entry) => entry.fills,
    }),
  }),
});

export const AsRunConnection = builder.connectionObject(
  { type: AsRunEntry, name: 'AsRunConnection', description: 'Newest first (startedAt descending, then id).' },
  { name: 'AsRunEdge' },
);

const pageSize = z
  .number()
  .int()
  .min(1, `must be between 1 and ${AS_RUN_MAX_PAGE}`)
  .max(AS_RUN_MAX_PAGE, `must be between 1 and ${AS_RUN_MAX_PAGE}`)
  .nullish();

interface PageArgs {
  first?: number | null;
  after?: string | null;
  from?: Date | null;
  to?: Date | null;
}

type PageLoader = (page: AsRunPageRequest, limit: number, query: AsRunQuery) => Promise<AsRunRow[]>;

/** The fields of a selection set, through fragments. */
function fieldsOf(info: GraphQLResolveInfo, set: SelectionSetNode | undefined, into: FieldNode[] = []): FieldNode[] {
  for (const selection of set?.selections ?? []) {
    if (selection.kind === Kind.FIELD) into.push(selection);
    else if (selection.kind === Kind.INLINE_FRAGMENT) fieldsOf(info, selection.selectionSet, into);
    else fieldsOf(info, info.fragments[selection.name.value]?.selectionSet, into);
  }
  return into;
}

/**
 * What the selection at `path` below this field reads of a relation, wherever
 * it appears: nothing, its id only (`id`, `__typename`), or more.
 */
function relationNeed(info: GraphQLResolveInfo, path: string[]): AsRunQuery['channel'] {
  let nodes: readonly FieldNode[] = info.fieldNodes;
  for (const name of path)
    nodes = nodes.flatMap((node) => fieldsOf(info, node.selectionSet).filter((f) => f.name.value === name));
  if (nodes.length === 0) return undefined;
  const names = nodes.flatMap((node) => fieldsOf(info, node.selectionSet).map((f) => f.name.value));
  return names.every((name) => name === 'id' || name === '__typename') ? 'id' : 'row';
}

/**
 * Validates, then reads one page. The relations under edges.node (channel,
 * item) are loaded once for the page, not per row.
 */
async function resolveAsRunPage(info: GraphQLResolveInfo, args: PageArgs, load: () => Promise<PageLoader>) {
  const page = parseAsRunArgs(args);
  const loader = await load();
  const query: AsRunQuery = {
    channel: relationNeed(info, ['edges', 'node', 'channel']),
    item: relationNeed(info, ['edges', 'node', 'item']),
  };
  const connection = await resolveCursorConnection(
    {
      args: { first: args.first ?? AS_RUN_DEFAULT_PAGE, after: args.after ?? undefined },
      defaultSize: AS_RUN_DEFAULT_PAGE,
      maxSize: AS_RUN_MAX_PAGE,
      toCursor: encodeAsRunCursor,
    },
    ({ limit }: ResolveCursorConnectionArgs) => loader(page, limit, query),
  );
  // An empty first page has no position to resume from.
  return { ...connection, pageInfo: { ...connection.pageInfo, endCursor: connection.pageInfo.endCursor || null } };
}

builder.queryField('asRun', (t) =>
  t.field({
    type: AsRunConnection,
    description:
      'All channels the caller may see when channelId is omitted. from is inclusive, to exclusive, on startedAt.',
    args: {
      channelId: t.arg.id(),
      from: t.arg({ type: 'DateTime' }),
      to: t.arg({ type: 'DateTime' }),
      first: t.arg.int({ defaultValue: AS_RUN_DEFAULT_PAGE, validate: pageSize }),
      after: t.arg.string(),
    },
    resolve: (_root, args, ctx, info) =>
      resolveAsRunPage(info, args, async () => {
        const scope = asRunPageScope(ctx, args.channelId);
        return (page, limit, query) => findAsRunPage(ctx, scope, page, limit, query);
      }),
  }),
);

// Here rather than in channels.ts so that the Channel type's owner need not know the as-run log.
// prismaObjectFields (not ...Field): its FieldMap return type accepts the plugins' field refs.
builder.prismaObjectFields('Channel', (t) => ({
  asRun: t.field({
    type: AsRunConnection,
    args: {
      first: t.arg.int({ defaultValue: AS_RUN_DEFAULT_PAGE, validate: pageSize }),
      after: t.arg.string(),
      from: t.arg({ type: 'DateTime' }),
      to: t.arg({ type: 'DateTime' }),
    },
    // Whoever resolved the channel has checked that the caller may see it, and
    // every member of its project may read its log.
    resolve: (channel, args, ctx, info) =>
      resolveAsRunPage(
        info,
        args,
        async () => (page, limit, query) => findChannelAsRunPage(ctx, channel.id, page, limit, query),
      ),
  }),
}));
