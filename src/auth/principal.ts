import type { Role } from '../../prisma/generated/client/client.ts';

export type { Role };

/** Who is calling: resolved once per request from the Bearer token. */
export interface Principal {
  userId: string;
  tokenId: string;
  isAdmin: boolean;
  /** The caller's role in each project it belongs to. */
  roles: ReadonlyMap<string, Role>;
}

/** VIEWER < OPERATOR < EDITOR: each role includes the ones before it. */
export const ROLE_RANK = { VIEWER: 1, OPERATOR: 2, EDITOR: 3 } as const satisfies Record<Role, number>;
