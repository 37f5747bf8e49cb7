import type { Sql } from '../services/db.ts';
import { ErrorCode, OnairError } from '../errors.ts';
import type { Principal, Role } from './principal.ts';
import type { PrincipalCache } from './principal-cache.ts';
import { hashToken } from './tokens.ts';

interface TokenRow {
  token_id: string;
  user_id: string;
  is_admin: boolean;
  revoked: boolean;
  roles: [string, Role][];
}

/**
 * Resolves an `Authorization: Bearer <token>` header to a principal, in one SQL
 * statement (token, user and memberships). No header: null (anonymous). A
 * malformed, unknown or revoked token: UNAUTHENTICATED. With a cache, a token
 * seen a moment ago costs no statement (see PrincipalCache).
 */
export async function authenticate(sql: Sql, header: string | null | undefined, cache?: PrincipalCache): Promise<Principal | null> {
  if (!header) return null;
  const cached = cache?.get(header);
  if (cached) return cached;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new OnairError(ErrorCode.UNAUTHENTICATED, 'Authorization must be "Bearer <token>"');
  const rows = await sql.query<TokenRow>(
    `
    SELECT t.id AS token_id, u.id AS user_id, u.is_admin, t.revoked_at IS NOT NULL AS revoked,
           COALESCE(json_agg(json_build_array(m.project_id, m.role)) FILTER (WHERE m.project_id IS NOT NULL), '[]') AS roles
      FROM api_tokens t
      JOIN users u ON u.id = t.user_id
      LEFT JOIN memberships m ON m.user_id = u.id
     WHERE t.token_hash = $1
     GROUP BY t.id, u.id`,
    [hashToken(match[1])],
  );
  const row = rows[0];
  if (!row || row.revoked) throw new OnairError(ErrorCode.UNAUTHENTICATED, 'invalid or revoked token');
  const principal: Principal = {
    userId: row.user_id,
    tokenId: row.token_id,
    isAdmin: row.is_admin,
    roles: new Map(row.roles),
  };
  cache?.set(header, principal);
  return principal;
}
