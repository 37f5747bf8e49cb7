import type { Role } from '../../auth/principal.ts';
import { generateToken, hashToken } from '../../auth/tokens.ts';
import { badInput, notFound } from '../../errors.ts';
import type { DomainContext } from '../shared/context.ts';
import type { Prisma } from '../../services/db.ts';
import { requirePrincipal } from './access.ts';
import { parseId } from '../shared/ids.ts';
import { isUniqueViolation } from '../shared/validation.ts';

type Query = { include?: Prisma.UserInclude; select?: Prisma.UserSelect };

export async function createUser(
  ctx: DomainContext,
  input: { name: string; email?: string | null; isAdmin?: boolean | null },
  query: Query = {},
) {
  try {
    return await ctx.db.user.create({
      ...query,
      data: { name: input.name, email: input.email ?? null, isAdmin: input.isAdmin ?? false },
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw badInput('email', 'already used by another user');
    throw err;
  }
}

export async function createProject(
  ctx: DomainContext,
  name: string,
  query: { include?: Prisma.ProjectInclude; select?: Prisma.ProjectSelect } = {},
) {
  try {
    return await ctx.db.project.create({ ...query, data: { name } });
  } catch (err) {
    if (isUniqueViolation(err)) throw badInput('name', 'a project with this name exists');
    throw err;
  }
}

/** Sets (or with role null, removes) a user's role in a project. Admin only (checked by the field). */
export async function setProjectRole(
  ctx: DomainContext,
  args: { projectId: string; userId: string; role?: Role | null },
  query: { include?: Prisma.MembershipInclude; select?: Prisma.MembershipSelect } = {},
) {
  const projectId = parseId('projectId', args.projectId);
  const userId = parseId('userId', args.userId);
  const [project, user] = await Promise.all([
    ctx.db.project.findUnique({ where: { id: projectId }, select: { id: true } }),
    ctx.db.user.findUnique({ where: { id: userId }, select: { id: true } }),
  ]);
  if (!project) throw notFound('project');
  if (!user) throw notFound('user');
  ctx.services.principals.forgetUser(userId);
  if (!args.role) {
    await ctx.db.membership.deleteMany({ where: { projectId, userId } });
    ctx.services.principals.forgetUser(userId);
    return null;
  }
  const membership = await ctx.db.membership.upsert({
    ...query,
    where: { projectId_userId: { projectId, userId } },
    create: { projectId, userId, role: args.role },
    update: { role: args.role },
  });
  // After the write too: a request in between may have cached the old role.
  ctx.services.principals.forgetUser(userId);
  return membership;
}

/**
 * A user may create tokens for itself; an admin for anyone. Another user's ID
 * is NOT_FOUND to a non-admin (users are not visible to each other).
 */
export async function createApiToken(ctx: DomainContext, args: { userId: string; name: string }) {
  const p = requirePrincipal(ctx.principal);
  const userId = parseId('userId', args.userId);
  if (!p.isAdmin && userId !== p.userId) throw notFound('user');
  const user = await ctx.db.user.findUnique({ where: { id: userId }, select: { id: true } });
  if (!user) throw notFound('user');
  const token = generateToken();
  const apiToken = await ctx.db.apiToken.create({ data: { userId, name: args.name, tokenHash: hashToken(token) } });
  return { token, apiToken };
}

/** Revoking twice is harmless: the first revocation time is kept. */
export async function revokeApiToken(ctx: DomainContext, rawId: string) {
  const p = requirePrincipal(ctx.principal);
  const id = parseId('id', rawId);
  const owner = p.isAdmin ? {} : { userId: p.userId };
  await ctx.db.apiToken.updateMany({ where: { id, ...owner, revokedAt: null }, data: { revokedAt: new Date() } });
  ctx.services.principals.forgetToken(id);
  const token = await ctx.db.apiToken.findFirst({ where: { id, ...owner } });
  if (!token) throw notFound('API token');
  return token;
}
