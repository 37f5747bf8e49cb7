import { queryFromInfo } from '@pothos/plugin-prisma';
import { resolveCursorConnection, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';
import type { GraphQLResolveInfo } from 'graphql';
import { z } from 'zod';
import {
  AS_RUN_DEFAULT_PAGE,
  AS_RUN_MAX_PAGE,
  asRunScope,
  encodeAsRunCursor,
  findAsRunPage,
  parseAsRunArgs,
  type AsRunPageRequest,
  type AsRunQuery,
  type AsRunRow,
} from '../../domain/as-run.ts';
import { findChannelAsRunPage } from '../../domain/as-run-batch.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';

export const AsRunStatusEnum = builder.enumType('AsRunStatus', {
  values: {
    PLAYED: { description: 'Aired to its planned end.' },
    SKIPPED: { description: 'Cut short by a skip.' },
    TRUNCATED: { description: 'Cut short by stop, channel stop or failure of the channel.' },
    FAILED: { description: 'Could not be put to air.' },
  } as const,
});

export const AsRunEntry = builder.prismaObject('AsRunEntry', {
  fields: (t) => ({
    id: t.exposeID('id'),
    // Channels are tombstoned, never removed, so a deleted channel still resolves here.
    channel: t.relation('channel'),
    playlistId: t.exposeID('playlistId', { nullable: true }),
    // SET NULL when the item (or its playlist) is deleted; the entry itself stays.
    item: t.relation('item', { nullable: true }),
    assetId: t.exposeID('assetId', { nullable: true }),
    clipName: t.exposeString('clipName'),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    endedAt: t.expose('endedAt', { type: 'DateTime', nullable: true }),
    durationMs: t.exposeInt('durationMs', { nullable: true }),
    status: t.expose('status', { type: AsRunStatusEnum }),
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

/**
 * Validates, then reads one page. The selection under edges.node (channel,
 * item) is planned from `info` and loaded once for the page, not per row.
 */
async function resolveAsRunPage(ctx: Context, info: GraphQLResolveInfo, args: PageArgs, load: () => Promise<PageLoader>) {
  const page = parseAsRunArgs(args);
  const loader = await load();
  const query = queryFromInfo({ context: ctx, info, path: ['edges', 'node'] }) as AsRunQuery;
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
    description: 'All channels the caller may see when channelId is omitted. from is inclusive, to exclusive, on startedAt.',
    args: {
      channelId: t.arg.id(),
      from: t.arg({ type: 'DateTime' }),
      to: t.arg({ type: 'DateTime' }),
      first: t.arg.int({ defaultValue: AS_RUN_DEFAULT_PAGE, validate: pageSize }),
      after: t.arg.string(),
    },
    resolve: (_root, args, ctx, info) =>
      resolveAsRunPage(ctx, info, args, async () => {
        const scope = await asRunScope(ctx, args.channelId);
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
      resolveAsRunPage(ctx, info, args, async () => (page, limit, query) => findChannelAsRunPage(ctx, channel.id, page, limit, query)),
  }),
}));
