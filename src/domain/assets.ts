import { resolveCursorConnection, type ResolveCursorConnectionArgs } from '@pothos/plugin-relay';
import { z } from 'zod';
import { notFound } from '../errors.ts';
import type { Context } from '../graphql/context.ts';
import type { Principal } from '../auth/principal.ts';
import type { Db, Prisma } from '../services/db.ts';
import { assertAccess, canSee, requirePrincipal, visibleProjectIds } from './access.ts';
import { parseId } from './ids.ts';
import { afterCursor, decodeCursor, encodeCursor } from './pagination.ts';
import { isForeignKeyViolation } from './validation.ts';

type AssetQuery = { include?: Prisma.AssetInclude; select?: Prisma.AssetSelect };

/** A week: longer than any single programme a channel would air in one piece. */
export const MAX_ASSET_DURATION_MS = 7 * 24 * 3600 * 1000;
export const MAX_ASSETS_PAGE = 500;
export const DEFAULT_ASSETS_PAGE = 50;

const CONTROL = /[\u0000-\u001f\u007f]/;

export const filenameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .refine((s) => s.trim().length > 0, 'must not be blank')
  .refine((s) => !/[/\\]/.test(s), 'must not contain path separators')
  .refine((s) => s !== '.' && s !== '..', 'must be a file name')
  .refine((s) => !CONTROL.test(s), 'must not contain control characters');

/** A key relative to the media store's root: the staging worker must never escape it. */
export const storageKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1024 characters')
  .refine((s) => !s.startsWith('/'), 'must not start with /')
  .refine((s) => !s.split(/[/\\]/).includes('..'), 'must not contain a .. segment')
  .refine((s) => !CONTROL.test(s), 'must not contain control characters');

export const assetDurationSchema = z
  .number()
  .int()
  .min(1, 'must be at least 1')
  .max(MAX_ASSET_DURATION_MS, `must be at most ${MAX_ASSET_DURATION_MS} (7 days)`)
  .nullish();

/** Escapes LIKE's wildcards so that a search is a plain substring match. */
function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Prisma filter on assets to those the caller may see (all for admins). */
function visibleAssets(p: Principal): Prisma.AssetWhereInput {
  const ids = visibleProjectIds(p);
  return ids ? { projectId: { in: ids } } : {};
}

export interface ListAssetsArgs {
  projectId?: string | null;
  search?: string | null;
  first?: number | null;
  after?: string | null;
}

/** Newest first, keyset-paginated on (createdAt, id): see pagination.ts. */
export async function listAssets(ctx: Context, args: ListAssetsArgs, query: AssetQuery) {
  const p = requirePrincipal(ctx.principal);
  const cursor = args.after != null ? decodeCursor('after', args.after) : undefined;
  let projectFilter: Prisma.AssetWhereInput = visibleAssets(p);
  if (args.projectId != null) {
    const projectId = parseId('projectId', args.projectId);
    if (!canSee(p, projectId)) throw notFound('project');
    // Admins see every project; a member's role map already proves it exists.
    if (p.isAdmin && !(await ctx.db.project.findUnique({ where: { id: projectId }, select: { id: true } }))) {
      throw notFound('project');
    }
    projectFilter = { projectId };
  }
  const search = args.search?.trim();
  const where: Prisma.AssetWhereInput = {
    AND: [
      projectFilter,
      // Prisma passes `contains` through to ILIKE unescaped, hence likeEscape.
      search ? { filename: { contains: likeEscape(search), mode: 'insensitive' } } : {},
      afterCursor('createdAt', cursor),
    ],
  };
  const connection = await resolveCursorConnection(
    {
      args: { first: args.first ?? DEFAULT_ASSETS_PAGE, after: args.after ?? undefined },
      defaultSize: DEFAULT_ASSETS_PAGE,
      maxSize: MAX_ASSETS_PAGE,
      toCursor: (asset: { createdAt: Date; id: string }) => encodeCursor(asset.createdAt, asset.id),
    },
    ({ limit }: ResolveCursorConnectionArgs) =>
      ctx.db.asset.findMany({
        ...query,
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit,
      }),
  );
  // The helper reports '' for an empty first page; no cursor is null in the contract.
  const { pageInfo } = connection;
  return { ...connection, pageInfo: { ...pageInfo, startCursor: pageInfo.startCursor || null, endCursor: pageInfo.endCursor || null } };
}

export interface CreateAssetArgs {
  projectId: string;
  filename: string;
  storageKey: string;
  durationMs?: number | null;
}

export async function createAsset(ctx: Context, input: CreateAssetArgs, query: AssetQuery) {
  const p = requirePrincipal(ctx.principal);
  const projectId = parseId('input.projectId', input.projectId);
  assertAccess(p, projectId, 'EDITOR', 'project');
  try {
    return await ctx.db.asset.create({
      ...query,
      data: { projectId, filename: input.filename, storageKey: input.storageKey, durationMs: input.durationMs ?? null },
    });
  } catch (err) {
    // An admin naming a project that does not exist (or was just deleted).
    if (isForeignKeyViolation(err)) throw notFound('project');
    throw err;
  }
}

/** An asset named by an input: NOT_FOUND unless the caller may see it. `db` may be a transaction. */
export async function findVisibleAsset(db: Db | Prisma.TransactionClient, p: Principal, field: string, rawId: string) {
  const id = parseId(field, rawId);
  const asset = await db.asset.findFirst({ where: { id, ...visibleAssets(p) } });
  if (!asset) throw notFound('asset');
  return asset;
}
