import type { MeQuery, Role } from '../gql/graphql.ts';

export type Me = MeQuery['me'];

// The console shows what the caller's roles allow; the API still checks every action.
const OPERATES: readonly Role[] = ['OPERATOR', 'EDITOR'];

/** Whether `me` may run transport on a channel of `projectId` (null: an admin-only channel). */
export function mayOperate(me: Me, projectId: string | null): boolean {
  if (me.isAdmin) return true;
  if (projectId === null) return false;
  const membership = me.memberships.find((m) => m.project.id === projectId);
  return membership !== undefined && OPERATES.includes(membership.role);
}
