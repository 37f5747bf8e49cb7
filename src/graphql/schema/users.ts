import { z } from 'zod';
import {
  createApiToken,
  createProject,
  createUser,
  revokeApiToken,
  setProjectRole,
} from '../../domain/access/users.ts';
import { requirePrincipal } from '../../domain/access/access.ts';
import { nameSchema } from '../../domain/shared/validation.ts';
import { builder } from '../builder.ts';

export const RoleEnum = builder.enumType('Role', { values: ['VIEWER', 'OPERATOR', 'EDITOR'] as const });

builder.prismaObject('User', {
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    email: t.exposeString('email', { nullable: true }),
    isAdmin: t.exposeBoolean('isAdmin'),
    memberships: t.relation('memberships', { query: { orderBy: { createdAt: 'asc' } } }),
    apiTokens: t.relation('tokens', {
      description: "The user's API tokens (secrets are never shown again).",
      query: { orderBy: { createdAt: 'asc' } },
    }),
  }),
});

builder.prismaObject('Membership', {
  name: 'ProjectMembership',
  fields: (t) => ({
    project: t.relation('project'),
    role: t.expose('role', { type: RoleEnum }),
  }),
});

const ApiToken = builder.prismaObject('ApiToken', {
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

const CreatedApiToken = builder.objectRef<{ token: string; apiToken: unknown }>('CreatedApiToken').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'The secret, shown only in this response.' }),
    apiToken: t.field({ type: ApiToken, resolve: (r) => r.apiToken as never }),
  }),
});

builder.queryField('me', (t) =>
  t.prismaField({
    type: 'User',
    resolve: (query, _root, _args, ctx) =>
      ctx.db.user.findUniqueOrThrow({ ...query, where: { id: requirePrincipal(ctx.principal).userId } }),
  }),
);

builder.mutationFields((t) => ({
  createProject: t.prismaField({
    type: 'Project',
    authScopes: { admin: true },
    args: { name: t.arg.string({ required: true, validate: nameSchema() }) },
    resolve: (query, _root, args, ctx) => createProject(ctx, args.name, query),
  }),
  createUser: t.prismaField({
    type: 'User',
    authScopes: { admin: true },
    args: {
      name: t.arg.string({ required: true, validate: nameSchema() }),
      email: t.arg.string({ validate: z.email('must be an email address').max(254).nullish() }),
      isAdmin: t.arg.boolean({ defaultValue: false }),
    },
    resolve: (query, _root, args, ctx) => createUser(ctx, args, query),
  }),
  setProjectRole: t.prismaField({
    type: 'Membership',
    nullable: true,
    authScopes: { admin: true },
    description: 'Sets a role; role null removes the membership (and returns null).',
    args: {
      projectId: t.arg.id({ required: true }),
      userId: t.arg.id({ required: true }),
      role: t.arg({ type: RoleEnum }),
    },
    resolve: (query, _root, args, ctx) => setProjectRole(ctx, args, query),
  }),
  createApiToken: t.field({
    type: CreatedApiToken,
    description: "A user may create its own tokens; an admin, anyone's.",
    args: {
      userId: t.arg.id({ required: true }),
      name: t.arg.string({ required: true, validate: nameSchema() }),
    },
    resolve: (_root, args, ctx) => createApiToken(ctx, args),
  }),
  revokeApiToken: t.prismaField({
    type: 'ApiToken',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_query, _root, args, ctx) => revokeApiToken(ctx, args.id),
  }),
}));
