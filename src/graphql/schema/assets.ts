import { queryFromInfo } from '@pothos/plugin-prisma';
import { resolveCursorConnection, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';
import { z } from 'zod';
import {
  DEFAULT_ASSETS_PAGE,
  MAX_ASSETS_PAGE,
  assetDurationSchema,
  createAsset,
  filenameSchema,
  houseIdSchema,
  listAssets,
  setAssetHouseId,
  storageKeySchema,
} from '../../domain/media/assets.ts';
import { encodeCursor, pageSizeSchema } from '../../domain/shared/pagination.ts';
import { builder } from '../builder.ts';

export const Asset = builder.prismaObject('Asset', {
  fields: (t) => ({
    id: t.exposeID('id'),
    // Null only for an admin-only asset (or one whose project was deleted).
    project: t.relation('project', { nullable: true }),
    filename: t.exposeString('filename'),
    storageKey: t.exposeString('storageKey', {
      description: 'Object key in the media store the staging worker copies from.',
    }),
    durationMs: t.exposeInt('durationMs', { nullable: true }),
    houseId: t.exposeString('houseId', {
      nullable: true,
      description: "The traffic system's identifier (BXF HouseNumber), unique in its project.",
    }),
  }),
});

const AssetConnection = builder.connectionObject({ type: Asset, name: 'AssetConnection' }, { name: 'AssetEdge' });

const CreateAssetInput = builder.inputType('CreateAssetInput', {
  fields: (t) => ({
    projectId: t.id({ required: true }),
    filename: t.string({ required: true, validate: filenameSchema }),
    storageKey: t.string({ required: true, validate: storageKeySchema }),
    durationMs: t.int({ validate: assetDurationSchema }),
    houseId: t.string({ validate: houseIdSchema }),
  }),
});

builder.queryField('assets', (t) =>
  t.field({
    type: AssetConnection,
    description: 'Newest first. `search` matches any part of the filename, ignoring case.',
    args: {
      projectId: t.arg.id(),
      search: t.arg.string({ validate: z.string().max(255, 'must be at most 255 characters').nullish() }),
      first: t.arg.int({ defaultValue: DEFAULT_ASSETS_PAGE, validate: pageSizeSchema(MAX_ASSETS_PAGE) }),
      after: t.arg.string(),
    },
    resolve: async (_root, args, ctx, info) => {
      const load = await listAssets(
        ctx,
        args,
        queryFromInfo({ context: ctx, info, typeName: 'Asset', path: ['edges', 'node'] }),
      );
      const connection = await resolveCursorConnection(
        {
          args: { first: args.first ?? DEFAULT_ASSETS_PAGE, after: args.after ?? undefined },
          defaultSize: DEFAULT_ASSETS_PAGE,
          maxSize: MAX_ASSETS_PAGE,
          toCursor: (asset: { createdAt: Date; id: string }) => encodeCursor(asset.createdAt, asset.id),
        },
        ({ limit }: ResolveCursorConnectionArgs) => load(limit),
      );
      // The helper reports '' for an empty first page; no cursor is null in the contract.
      const { pageInfo } = connection;
      return {
        ...connection,
        pageInfo: { ...pageInfo, startCursor: pageInfo.startCursor || null, endCursor: pageInfo.endCursor || null },
      };
    },
  }),
);

builder.mutationField('createAsset', (t) =>
  t.prismaField({
    type: 'Asset',
    args: { input: t.arg({ type: CreateAssetInput, required: true }) },
    resolve: (query, _root, args, ctx) => createAsset(ctx, args.input, query),
  }),
);

builder.mutationField('setAssetHouseId', (t) =>
  t.prismaField({
    type: 'Asset',
    description:
      "Sets the asset's house ID (the traffic system's identifier, by which an imported schedule names it); null clears it. " +
      'BAD_USER_INPUT when another asset of the project has it.',
    args: {
      assetId: t.arg.id({ required: true }),
      houseId: t.arg.string({ validate: houseIdSchema }),
    },
    resolve: (query, _root, args, ctx) => setAssetHouseId(ctx, args.assetId, args.houseId ?? null, query),
  }),
);
