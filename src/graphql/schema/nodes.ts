import { z } from 'zod';
import {
  MAX_DECKLINK_DEVICES,
  dockerHostSchema,
  hostnameSchema,
  labelSchema,
  listNodes,
  registerNode,
  removeNode,
} from '../../domain/cluster/nodes.ts';
import { builder } from '../builder.ts';

builder.prismaObject('ClusterNode', {
  fields: (t) => ({
    id: t.exposeID('id'),
    hostname: t.exposeString('hostname'),
    dockerHost: t.exposeString('dockerHost', {
      nullable: true,
      description:
        "Where this node's Docker engine answers, e.g. unix:///var/run/docker.sock or tcp://10.0.0.5:2376. Null: the local engine.",
    }),
    labels: t.exposeStringList('labels'),
    decklinkDevices: t.exposeInt('decklinkDevices', {
      description: 'How many DeckLink devices the node has (device indexes 1..n).',
    }),
    online: t.exposeBoolean('online'),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime', nullable: true }),
  }),
});

const RegisterNodeInput = builder.inputType('RegisterNodeInput', {
  fields: (t) => ({
    hostname: t.string({ required: true, validate: hostnameSchema }),
    dockerHost: t.string({ validate: dockerHostSchema.nullish() }),
    labels: t.stringList({ defaultValue: [], validate: z.array(labelSchema).max(32, 'at most 32 labels').nullish() }),
    decklinkDevices: t.int({
      defaultValue: 0,
      validate: z
        .number()
        .int()
        .min(0, 'must be 0 or more')
        .max(MAX_DECKLINK_DEVICES, `must be at most ${MAX_DECKLINK_DEVICES}`)
        .nullish(),
    }),
  }),
});

builder.queryField('nodes', (t) =>
  t.prismaField({
    type: ['ClusterNode'],
    description: 'Visible to admins and to editors (who place channels); empty for others.',
    resolve: (query, _root, _args, ctx) => listNodes(ctx, query),
  }),
);

builder.mutationFields((t) => ({
  registerNode: t.prismaField({
    type: 'ClusterNode',
    authScopes: { admin: true },
    args: { input: t.arg({ type: RegisterNodeInput, required: true }) },
    resolve: (query, _root, args, ctx) => registerNode(ctx, args.input, query),
  }),
  removeNode: t.id({
    authScopes: { admin: true },
    description: 'CONFLICT while channels are placed on the node.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => removeNode(ctx, args.id),
  }),
}));
