import { queryFromInfo } from '@pothos/plugin-prisma';
import { z } from 'zod';
import {
  DEFAULT_ASSETS_PAGE,
  MAX_ASSETS_PAGE,
  assetDurationSchema,
  createAsset,
  filenameSchema,
  listAssets,
  storageKeySchema,
} from '../../domain/assets.ts';
import { pageSizeSchema } from '../../domain/pagination.ts';
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
  }),
});

const AssetConnection = builder.connectionObject({ type: Asset, name: 'AssetConnection' }, { name: 'AssetEdge' });

const CreateAssetInput = builder.inputType('CreateAssetInput', {
  fields: (t) => ({
    projectId: t.id({ required: true }),
    filename: t.string({ required: true, validate: filenameSchema }),
    storageKey: t.string({ required: true, validate: storageKeySchema }),
    durationMs: t.int({ validate: assetDurationSchema }),
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
    resolve: (_root, args, ctx, info) =>
      listAssets(ctx, args, queryFromInfo({ context: ctx, info, typeName: 'Asset', path: ['edges', 'node'] })),
  }),
);

builder.mutationField('createAsset', (t) =>
  t.prismaField({
    type: 'Asset',
    args: { input: t.arg({ type: CreateAssetInput, required: true }) },
    resolve: (query, _root, args, ctx) => createAsset(ctx, args.input, query),
  }),
);
