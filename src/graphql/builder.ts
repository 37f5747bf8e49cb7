import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import type PrismaTypes from '../../prisma/generated/pothos-types.ts';
import { getDatamodel } from '../../prisma/generated/pothos-types.ts';
import { ErrorCode, OnairError } from '../errors.ts';
import type { Context } from './context.ts';

/** Plugins and their options only; types live in schema/<domain>.ts. */
export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { loggedIn: boolean; admin: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: false;
  DefaultEdgesNullability: { list: false; items: false };
  DefaultNodeNullability: false;
}>({
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin, ValidationPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // A subscription's scopes are checked once when it starts; each event is checked by its stream.
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({
      loggedIn: ctx.principal !== null,
      admin: ctx.principal?.isAdmin === true,
    }),
    unauthorizedError: (_parent, ctx) =>
      ctx.principal
        ? new OnairError(ErrorCode.FORBIDDEN, 'this operation needs an administrator')
        : new OnairError(ErrorCode.UNAUTHENTICATED, 'missing credentials: send Authorization: Bearer <token>'),
  },
  prisma: {
    client: (ctx) => ctx.db,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    edgesFieldOptions: { nullable: { list: false, items: false } },
    nodeFieldOptions: { nullable: false },
  },
  validation: {
    validationError: (result) => {
      const issue = result.issues[0];
      const field = (issue?.path ?? []).map((p) => (typeof p === 'object' ? String(p.key) : String(p))).join('.');
      return new OnairError(ErrorCode.BAD_USER_INPUT, field ? `${field}: ${issue?.message}` : String(issue?.message), {
        field: field || undefined,
      });
    },
  },
});
