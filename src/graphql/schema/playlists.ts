import {
  createPlaylist,
  deletePlaylist,
  findPlaylist,
  playlistDurationMs,
  playlistReady,
} from '../../domain/playlists/playlists.ts';
import { updatePlaylistOnAir } from '../../domain/channels/on-air-edits.ts';
import { nameSchema, rejectNull } from '../../domain/shared/validation.ts';
import { builder } from '../builder.ts';

// The computed fields select the items with the same orderBy as `items`, so
// that all three share one load of the relation rather than each its own.
const ITEMS_ORDER = { position: 'asc' } as const;

builder.prismaObject('Playlist', {
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    loop: t.exposeBoolean('loop'),
    channel: t.relation('channel'),
    items: t.relation('items', { query: { orderBy: ITEMS_ORDER } }),
    durationMs: t.int({
      description: "Sum of the items' effective durations.",
      select: {
        items: {
          orderBy: ITEMS_ORDER,
          select: { inPointMs: true, outPointMs: true, asset: { select: { durationMs: true } } },
        },
      },
      resolve: (playlist) => playlistDurationMs(playlist.items),
    }),
    ready: t.boolean({
      description: "True when every item's media is READY.",
      select: { items: { orderBy: ITEMS_ORDER, select: { asset: { select: { mediaStatus: true } } } } },
      resolve: (playlist) => playlistReady(playlist.items.map((item) => item.asset)),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const CreatePlaylistInput = builder.inputType('CreatePlaylistInput', {
  fields: (t) => ({
    channelId: t.id({ required: true }),
    name: t.string({ required: true, validate: nameSchema() }),
    loop: t.boolean({ defaultValue: false }),
  }),
});

const UpdatePlaylistInput = builder.inputType('UpdatePlaylistInput', {
  validate: rejectNull('name', 'loop'),
  fields: (t) => ({
    name: t.string({ validate: nameSchema() }),
    loop: t.boolean(),
  }),
});

builder.queryField('playlist', (t) =>
  t.prismaField({
    type: 'Playlist',
    nullable: true,
    description: 'Null when there is no such playlist or the caller may not see it.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => findPlaylist(ctx, args.id, query),
  }),
);

builder.mutationFields((t) => ({
  createPlaylist: t.prismaField({
    type: 'Playlist',
    args: { input: t.arg({ type: CreatePlaylistInput, required: true }) },
    resolve: (query, _root, args, ctx) => createPlaylist(ctx, args.input, query),
  }),
  updatePlaylist: t.prismaField({
    type: 'Playlist',
    args: {
      id: t.arg.id({ required: true }),
      input: t.arg({ type: UpdatePlaylistInput, required: true }),
    },
    resolve: (query, _root, args, ctx) => updatePlaylistOnAir(ctx, args.id, args.input, query),
  }),
  deletePlaylist: t.id({
    description: 'Deletes the playlist and its items; the as-run history keeps what aired.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => deletePlaylist(ctx, args.id),
  }),
}));
