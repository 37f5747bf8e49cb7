import { ROLE_RANK, type Principal, type Role } from '../../auth/principal.ts';
import { ErrorCode, OnairError, forbidden, notFound } from '../../errors.ts';

/** What an action needs: a project role, or an administrator. */
export type Need = Role | 'ADMIN';

export function requirePrincipal(principal: Principal | null): Principal {
  if (!principal)
    throw new OnairError(ErrorCode.UNAUTHENTICATED, 'missing credentials: send Authorization: Bearer <token>');
  return principal;
}

/** A project-less object is admin-only; otherwise any member may see it. */
export function canSee(p: Principal, projectId: string | null): boolean {
  if (p.isAdmin) return true;
  return projectId !== null && p.roles.has(projectId);
}

export function hasRole(p: Principal, projectId: string | null, need: Need): boolean {
  if (p.isAdmin) return true;
  if (need === 'ADMIN' || projectId === null) return false;
  const role = p.roles.get(projectId);
  return role !== undefined && ROLE_RANK[role] >= ROLE_RANK[need];
}

/**
 * The one check for acting on an object of a project: NOT_FOUND when the caller
 * may not see it (no existence leak), FORBIDDEN when it may see but not act.
 */
export function assertAccess(p: Principal, projectId: string | null, need: Need, what: string): void {
  if (!canSee(p, projectId)) throw notFound(what);
  if (!hasRole(p, projectId, need)) {
    throw forbidden(need === 'ADMIN' ? `${what}: needs an administrator` : `${what}: needs the ${need} role`);
  }
}

/** Prisma filter on a `projectId` column to the caller's projects; undefined for admins. */
export function visibleProjectIds(p: Principal): string[] | undefined {
  return p.isAdmin ? undefined : [...p.roles.keys()];
}
