import { z } from 'zod';
import { badInput, conflict, notFound } from '../../errors.ts';
import { badKeyReason } from '../../services/storage/store.ts';
import type { DomainContext } from '../shared/context.ts';
import type { Principal } from '../../auth/principal.ts';
import type { Db, Prisma } from '../../services/db.ts';
import { assertAccess, canSee, requirePrincipal, visibleProjectIds } from '../access/access.ts';
import { parseId } from '../shared/ids.ts';
import { afterCursor, decodeCursor } from '../shared/pagination.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../shared/validation.ts';

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

/**
 * A key relative to the project's folder of the media store (`<project id>/`
 * in it): the staging worker reads nothing outside that folder.
 */
export const storageKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1024 characters')
  .refine((s) => !s.startsWith('/'), 'must not start with /')
  .refine((s) => !s.split(/[/\\]/).includes('..'), 'must not contain a .. segment')
  .refine((s) => !CONTROL.test(s), 'must not contain control characters')
  .superRefine((s, ctx) => {
    const reason = badKeyReason(s);
    if (reason) ctx.addIssue({ code: 'custom', message: `must be a relative path in the media store (${reason})` });
  });

/**
 * The traffic system's identifier of an asset (BXF's HouseNumber): what a
 * schedule imported from traffic names its clips by. House numbers are short
 * codes (JFMC1201, NEWS-0600/2); the charset keeps them free of spaces and
 * anything a traffic export or a file name could mangle.
 */
export const HOUSE_ID_MAX = 64;
export const houseIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(HOUSE_ID_MAX, `must be at most ${HOUSE_ID_MAX} characters`)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:/#-]*$/,
    'must be letters, digits and . _ : / # - only, starting with a letter or digit',
  )
  .nullish();

const HOUSE_ID_TAKEN = 'another asset of this project has this house ID';

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

/**
 * Newest first, keyset-paginated on (createdAt, id): see pagination.ts. Checks
 * the arguments, then gives the reader of the `limit` assets after the cursor
 * (the API makes them a connection: graphql/schema/assets.ts).
 */
export async function listAssets(ctx: DomainContext, args: ListAssetsArgs, query: AssetQuery) {
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
  return (limit: number) =>
    ctx.db.asset.findMany({
      ...query,
      where,
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit,
    });
}

export interface CreateAssetArgs {
  projectId: string;
  filename: string;
  storageKey: string;
  durationMs?: number | null;
  houseId?: string | null;
}

export async function createAsset(ctx: DomainContext, input: CreateAssetArgs, query: AssetQuery) {
  const p = requirePrincipal(ctx.principal);
  const projectId = parseId('input.projectId', input.projectId);
  assertAccess(p, projectId, 'EDITOR', 'project');
  const limit = ctx.services.config.quotas.projectAssets;
  try {
    return await ctx.db.$transaction(async (tx) => {
      // The project's row lock makes concurrent creations count one after the other.
      const locked = await tx.$queryRaw<
        { id: string }[]
      >`SELECT id FROM projects WHERE id = ${projectId}::uuid FOR UPDATE`;
      if (locked.length === 0) throw notFound('project');
      const count = await tx.asset.count({ where: { projectId } });
      if (count >= limit) {
        throw conflict(`the project's quota of ${limit} assets is reached (QUOTA_PROJECT_ASSETS)`, {
          quota: 'QUOTA_PROJECT_ASSETS',
          limit,
        });
      }
      return tx.asset.create({
        ...query,
        data: {
          projectId,
          filename: input.filename,
          storageKey: input.storageKey,
          durationMs: input.durationMs ?? null,
          houseId: input.houseId ?? null,
        },
      });
    });
  } catch (err) {
    // An admin naming a project that does not exist (or was just deleted).
    if (isForeignKeyViolation(err)) throw notFound('project');
    if (isUniqueViolation(err)) throw badInput('input.houseId', HOUSE_ID_TAKEN);
    throw err;
  }
}

/**
 * Sets (or, with null, clears) an asset's house ID. The unique index
 * (project, house ID) decides between concurrent writers: one wins, the other
 * is told the ID is taken.
 */
export async function setAssetHouseId(
  ctx: DomainContext,
  rawAssetId: string,
  houseId: string | null,
  query: AssetQuery,
) {
  const p = requirePrincipal(ctx.principal);
  const asset = await findVisibleAsset(ctx.db, p, 'assetId', rawAssetId);
  assertAccess(p, asset.projectId, 'EDITOR', 'asset');
  try {
    return await ctx.db.asset.update({ ...query, where: { id: asset.id }, data: { houseId } });
  } catch (err) {
    if (isUniqueViolation(err)) throw badInput('houseId', HOUSE_ID_TAKEN);
    // Deleted between the read and the write.
    if ((err as { code?: string })?.code === 'P2025') throw notFound('asset');
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
