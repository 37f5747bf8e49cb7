import { z } from 'zod';
import { MAX_ASSET_DURATION_MS } from '../../domain/media/assets.ts';
import { addItem, findItem, removeItem, reorderItems, updateItem } from '../../domain/playlists/items.ts';
import { restageItem } from '../../domain/media/staging/media.ts';
import { effectiveDurationMs } from '../../domain/playlists/playlists.ts';
import { nonNegativeMs } from '../../domain/shared/validation.ts';
import { builder } from '../builder.ts';
import { rejectNull } from '../../domain/shared/validation.ts';

export const TransitionEnum = builder.enumType('Transition', {
  values: ['CUT', 'MIX', 'PUSH', 'WIPE', 'SLIDE'] as const,
});

export const MediaStatusEnum = builder.enumType('MediaStatus', {
  values: ['PENDING', 'STAGING', 'READY', 'ERROR'] as const,
});

builder.prismaObject('Item', {
  fields: (t) => ({
    id: t.exposeID('id'),
    playlist: t.relation('playlist'),
    asset: t.relation('asset'),
    position: t.exposeInt('position', { description: '0-based place in the playlist.' }),
    inPointMs: t.exposeInt('inPointMs', { nullable: true }),
    outPointMs: t.exposeInt('outPointMs', { nullable: true }),
    durationMs: t.int({
      nullable: true,
      description: "Effective on-air duration: outPoint - inPoint, else the asset's duration from inPoint.",
      select: { inPointMs: true, outPointMs: true, asset: { select: { durationMs: true } } },
      resolve: (item) => effectiveDurationMs(item),
    }),
    transition: t.expose('transition', { type: TransitionEnum }),
    transitionMs: t.exposeInt('transitionMs'),
    // Media is staged once per asset: an item's media state is its asset's.
    mediaStatus: t.field({
      type: MediaStatusEnum,
      select: { asset: { select: { mediaStatus: true } } },
      resolve: (item) => item.asset.mediaStatus,
    }),
    mediaError: t.string({
      nullable: true,
      select: { asset: { select: { mediaError: true } } },
      resolve: (item) => item.asset.mediaError,
    }),
    clipName: t.string({
      description: "The asset's filename.",
      select: { asset: { select: { filename: true } } },
      resolve: (item) => item.asset.filename,
    }),
  }),
});

const inPointSchema = nonNegativeMs.nullish();
const outPointSchema = z
  .number()
  .int()
  .min(1, 'must be at least 1')
  .max(MAX_ASSET_DURATION_MS, 'is too large')
  .nullish();

const AddItemInput = builder.inputType('AddItemInput', {
  fields: (t) => ({
    playlistId: t.id({ required: true }),
    assetId: t.id({ required: true }),
    position: t.int({
      description: 'Insert at this 0-based position; default: append.',
      validate: z.number().int().min(0, 'must be 0 or more').nullish(),
    }),
    inPointMs: t.int({ validate: inPointSchema }),
    outPointMs: t.int({ validate: outPointSchema }),
    transition: t.field({ type: TransitionEnum, defaultValue: 'CUT' }),
    transitionMs: t.int({ defaultValue: 0, validate: nonNegativeMs.nullish() }),
  }),
});

const UpdateItemInput = builder.inputType('UpdateItemInput', {
  description: 'Only the fields given change; null clears an in or out point.',
  validate: rejectNull('transition', 'transitionMs'),
  fields: (t) => ({
    inPointMs: t.int({ validate: inPointSchema }),
    outPointMs: t.int({ validate: outPointSchema }),
    transition: t.field({ type: TransitionEnum }),
    transitionMs: t.int({ validate: nonNegativeMs.nullish() }),
  }),
});

builder.queryField('item', (t) =>
  t.prismaField({
    type: 'Item',
    nullable: true,
    description: 'Null when there is no such item or the caller may not see it.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => findItem(ctx, args.id, query),
  }),
);

builder.mutationFields((t) => ({
  addItem: t.prismaField({
    type: 'Item',
    description: 'Adds the item and queues its media for staging.',
    args: { input: t.arg({ type: AddItemInput, required: true }) },
    resolve: (query, _root, args, ctx) => addItem(ctx, args.input, query),
  }),
  updateItem: t.prismaField({
    type: 'Item',
    args: {
      id: t.arg.id({ required: true }),
      input: t.arg({ type: UpdateItemInput, required: true }),
    },
    resolve: (query, _root, args, ctx) => updateItem(ctx, args.id, args.input, query),
  }),
  removeItem: t.id({
    description: 'Removes the item; the later items move up by one.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => removeItem(ctx, args.id),
  }),
  reorderItems: t.prismaField({
    type: 'Playlist',
    description: "itemIds must be exactly the playlist's items, each once.",
    args: {
      playlistId: t.arg.id({ required: true }),
      itemIds: t.arg.idList({
        required: true,
        validate: z.array(z.string()).max(10_000, 'must list at most 10000 items'),
      }),
    },
    resolve: (query, _root, args, ctx) => reorderItems(ctx, args.playlistId, args.itemIds, query),
  }),
  restageItem: t.prismaField({
    type: 'Item',
    description: "Stages the item's media again (all items of its asset share the copy).",
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => restageItem(ctx, args.id, query),
  }),
}));
