import { ChannelStatus, OutputType } from '../../../prisma/generated/client/enums.ts';
import {
  createChannel,
  deleteChannel,
  findChannel,
  listChannels,
  updateChannel,
} from '../../domain/channels/channels.ts';
import {
  deviceIndexSchema,
  ndiNameSchema,
  outputView,
  rtmpUrlSchema,
  srtLatencySchema,
  srtPassphraseSchema,
  srtUrlSchema,
  streamKeySchema,
  type OutputView,
} from '../../domain/channels/outputs.ts';
import { canListNodes } from '../../domain/cluster/nodes.ts';
import { nameSchema, rejectNull } from '../../domain/shared/validation.ts';
import { DEFAULT_VIDEO_FORMAT, videoFormatSchema } from '../../protocol/video-formats.ts';
import { builder } from '../builder.ts';

export const OutputTypeEnum = builder.enumType(OutputType, { name: 'OutputType' });
export const ChannelStatusEnum = builder.enumType(ChannelStatus, { name: 'ChannelStatus' });

// The output union: read from channels.output (public settings only; see domain/channels/outputs.ts).
type View<K extends OutputView['kind']> = Extract<OutputView, { kind: K }>;

const DeckLinkOutput = builder.objectRef<View<'DECKLINK'>>('DeckLinkOutput').implement({
  fields: (t) => ({ deviceIndex: t.exposeInt('deviceIndex') }),
});

const NdiOutput = builder.objectRef<View<'NDI'>>('NdiOutput').implement({
  fields: (t) => ({ name: t.exposeString('name') }),
});

const SrtOutput = builder.objectRef<View<'SRT'>>('SrtOutput').implement({
  fields: (t) => ({
    url: t.exposeString('url', { description: 'srt://host:port, without the passphrase' }),
    latencyMs: t.exposeInt('latencyMs', { nullable: true }),
    passphraseSet: t.exposeBoolean('passphraseSet'),
  }),
});

const RtmpOutput = builder.objectRef<View<'RTMP'>>('RtmpOutput').implement({
  fields: (t) => ({
    url: t.exposeString('url', { description: 'rtmp(s)://host/app, without the stream key' }),
    streamKeySet: t.exposeBoolean('streamKeySet'),
  }),
});

const UNION_MEMBER = { DECKLINK: DeckLinkOutput, NDI: NdiOutput, SRT: SrtOutput, RTMP: RtmpOutput } as const;

const ChannelOutput = builder.unionType('ChannelOutput', {
  types: [DeckLinkOutput, NdiOutput, SrtOutput, RtmpOutput],
  resolveType: (view) => UNION_MEMBER[view.kind],
});

builder.prismaObject('Channel', {
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    project: t.relation('project', { nullable: true, description: 'Null: an admin-only channel.' }),
    // A node's engine address, hostname and labels are for those who place channels.
    node: t.relation('node', {
      nullable: true,
      description:
        'Null when the channel is unplaced, and for callers who may not list nodes (admins and editors may).',
      authScopes: (_channel, _args, ctx) => ctx.principal !== null && canListNodes(ctx.principal),
      unauthorizedResolver: () => null,
    }),
    outputType: t.expose('outputType', { type: OutputTypeEnum }),
    output: t.field({
      type: ChannelOutput,
      resolve: (channel) => outputView(channel.outputType, channel.output),
    }),
    videoFormat: t.exposeString('videoFormat', {
      description: 'A CasparCG video mode name, e.g. 1080i5000, 1080p5994, 720p5000, 2160p5000.',
    }),
    status: t.expose('status', { type: ChannelStatusEnum }),
    errorMessage: t.exposeString('errorMessage', { nullable: true }),
    restartCount: t.exposeInt('restartCount'),
    lastRestartAt: t.expose('lastRestartAt', { type: 'DateTime', nullable: true }),
    lastHeartbeatAt: t.expose('lastHeartbeatAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    playlists: t.relation('playlists', { query: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] } }),
  }),
});

// Inputs. Static rules run as zod validators, so errors name the field path.
const DeckLinkOutputInput = builder.inputType('DeckLinkOutputInput', {
  fields: (t) => ({ deviceIndex: t.int({ required: true, validate: deviceIndexSchema }) }),
});

const NdiOutputInput = builder.inputType('NdiOutputInput', {
  fields: (t) => ({ name: t.string({ required: true, validate: ndiNameSchema }) }),
});

const SrtOutputInput = builder.inputType('SrtOutputInput', {
  fields: (t) => ({
    url: t.string({ required: true, validate: srtUrlSchema }),
    latencyMs: t.int({ validate: srtLatencySchema.nullish() }),
    passphrase: t.string({
      description: 'Write-only. Omitted on update: the stored passphrase stays; null removes it.',
      validate: srtPassphraseSchema.nullish(),
    }),
  }),
});

const RtmpOutputInput = builder.inputType('RtmpOutputInput', {
  fields: (t) => ({
    url: t.string({ required: true, validate: rtmpUrlSchema }),
    streamKey: t.string({
      description: 'Write-only. Omitted on update: the stored key stays; null removes it.',
      validate: streamKeySchema.nullish(),
    }),
  }),
});

const OutputInput = builder.inputType('OutputInput', {
  description: 'Exactly one member must be set.',
  isOneOf: true,
  fields: (t) => ({
    decklink: t.field({ type: DeckLinkOutputInput }),
    ndi: t.field({ type: NdiOutputInput }),
    srt: t.field({ type: SrtOutputInput }),
    rtmp: t.field({ type: RtmpOutputInput }),
  }),
});

const CreateChannelInput = builder.inputType('CreateChannelInput', {
  fields: (t) => ({
    name: t.string({ required: true, validate: nameSchema() }),
    projectId: t.id({ description: 'Omitted or null: an admin-only channel (administrators only).' }),
    nodeId: t.id(),
    output: t.field({ type: OutputInput, required: true }),
    videoFormat: t.string({ defaultValue: DEFAULT_VIDEO_FORMAT, validate: videoFormatSchema.nullish() }),
  }),
});

const UpdateChannelInput = builder.inputType('UpdateChannelInput', {
  description: 'Only the fields given change. Allowed only while the channel is STOPPED or ERROR.',
  validate: rejectNull('name', 'videoFormat', 'output'),
  fields: (t) => ({
    name: t.string({ validate: nameSchema().nullish() }),
    projectId: t.id({ description: 'null: make the channel admin-only (administrators only).' }),
    nodeId: t.id({ description: 'null: unplace the channel.' }),
    output: t.field({ type: OutputInput }),
    videoFormat: t.string({ validate: videoFormatSchema.nullish() }),
  }),
});

builder.queryFields((t) => ({
  channels: t.prismaField({
    type: ['Channel'],
    description: 'Every live channel the caller may see, oldest first.',
    resolve: (query, _root, _args, ctx) => listChannels(ctx, query),
  }),
  channel: t.prismaField({
    type: 'Channel',
    nullable: true,
    description: 'Null when there is no such channel or the caller may not see it.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => findChannel(ctx, args.id, query),
  }),
}));

builder.mutationFields((t) => ({
  createChannel: t.prismaField({
    type: 'Channel',
    args: { input: t.arg({ type: CreateChannelInput, required: true }) },
    resolve: (query, _root, args, ctx) => createChannel(ctx, args.input, query),
  }),
  updateChannel: t.prismaField({
    type: 'Channel',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateChannelInput, required: true }) },
    resolve: (query, _root, args, ctx) => updateChannel(ctx, args.id, args.input, query),
  }),
  deleteChannel: t.id({
    description: 'Allowed only while STOPPED or ERROR. Deletes its playlists and items; keeps its as-run history.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => deleteChannel(ctx, args.id),
  }),
}));
