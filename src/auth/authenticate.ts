import type { Sql } from '../services/db.ts';
import { ErrorCode, OnairError } from '../errors.ts';
import type { Principal, Role } from './principal.ts';
import type { PrincipalCache } from './principal-cache.ts';
import { hashToken } from './tokens.ts';

interface TokenRow {
  token_hash: string;
  token_id: string;
  user_id: string;
  is_admin: boolean;
  revoked: boolean;
  roles: [string, Role][];
}

const principalSql = (where: string) => `
    SELECT t.token_hash, t.id AS token_id, u.id AS user_id, u.is_admin, t.revoked_at IS NOT NULL AS revoked,
           COALESCE(json_agg(json_build_array(m.project_id, m.role)) FILTER (WHERE m.project_id IS NOT NULL), '[]') AS roles
      FROM api_tokens t
      JOIN users u ON u.id = t.user_id
      LEFT JOIN memberships m ON m.user_id = u.id
     WHERE ${where}
     GROUP BY t.id, u.id`;
const PRINCIPAL_SQL = principalSql('t.token_hash = ANY($1::text[])');
const PRINCIPAL_BY_ID_SQL = principalSql('t.id = $1::uuid');

const BEARER = /^Bearer\s+(\S+)\s*$/i;

function toPrincipal(row: TokenRow): Principal {
  return { userId: row.user_id, tokenId: row.token_id, isAdmin: row.is_admin, roles: new Map(row.roles) };
}

/**
 * Resolves an `Authorization: Bearer <token>` header to a principal, in one SQL
 * statement (token, user and memberships). No header: null (anonymous). A
 * malformed, unknown or revoked token: UNAUTHENTICATED. With a cache, a token
 * seen a moment ago costs no statement (see PrincipalCache).
 */
export async function authenticate(
  sql: Sql,
  header: string | null | undefined,
  cache?: PrincipalCache,
): Promise<Principal | null> {
  if (!header) return null;
  const cached = cache?.get(header);
  if (cached) return cached;
  const match = BEARER.exec(header);
  if (!match) throw new OnairError(ErrorCode.UNAUTHENTICATED, 'Authorization must be "Bearer <token>"');
  const read = async () => {
    const row = (await sql.query<TokenRow>(PRINCIPAL_SQL, [[hashToken(match[1])]]))[0];
    return row && !row.revoked ? toPrincipal(row) : null;
  };
  // Requests with the same token share one read while it is under way (PrincipalCache.resolve).
  const principal = cache ? await cache.resolve(header, read) : await read();
  if (!principal) throw new OnairError(ErrorCode.UNAUTHENTICATED, 'invalid or revoked token');
  return principal;
}

/**
 * authenticate() for many headers in one statement (subscriptions re-checking
 * their subscribers together): each header's principal, or null where it does
 * not authenticate. Cached principals are reused and fresh ones cached.
 */
export async function authenticateMany(
  sql: Sql,
  headers: readonly string[],
  cache?: PrincipalCache,
): Promise<Map<string, Principal | null>> {
  const result = new Map<string, Principal | null>();
  const byHash = new Map<string, string[]>();
  for (const header of headers) {
    const cached = cache?.get(header);
    const match = cached ? null : BEARER.exec(header);
    if (cached || !match) {
      result.set(header, cached ?? null);
      continue;
    }
    const hash = hashToken(match[1]);
    byHash.set(hash, [...(byHash.get(hash) ?? []), header]);
  }
  if (byHash.size === 0) return result;
  const rows = await sql.query<TokenRow>(PRINCIPAL_SQL, [[...byHash.keys()]]);
  const found = new Map(rows.map((row) => [row.token_hash, row]));
  for (const [hash, forHash] of byHash) {
    const row = found.get(hash);
    const principal = row && !row.revoked ? toPrincipal(row) : null;
    for (const header of forHash) {
      result.set(header, principal);
      if (principal) cache?.set(header, principal);
    }
  }
  return result;
}

/** The hash a header's token is stored under; null when the header is not "Bearer <token>". */
export function tokenHashOf(header: string): string | null {
  const match = BEARER.exec(header);
  return match ? hashToken(match[1]) : null;
}

/**
 * The principals of these token hashes as the database holds them now, in one
 * statement, bypassing any cache: null where the token is unknown or revoked.
 */
export async function readPrincipals(sql: Sql, hashes: readonly string[]): Promise<Map<string, Principal | null>> {
  const result = new Map<string, Principal | null>();
  for (const hash of hashes) result.set(hash, null);
  if (hashes.length === 0) return result;
  for (const row of await sql.query<TokenRow>(PRINCIPAL_SQL, [hashes]))
    if (!row.revoked) result.set(row.token_hash, toPrincipal(row));
  return result;
}

/**
 * The principal of the API token with this id, as it is now: null when the
 * token was revoked or its user is gone. Signed preview URLs name the token
 * they were made for and are checked with this on every request, so that a
 * revocation or a removed membership closes them too. Cached like
 * authenticate() (under its own key; PrincipalCache.forgetToken and forgetUser reach it).
 */
export async function principalOfToken(sql: Sql, tokenId: string, cache?: PrincipalCache): Promise<Principal | null> {
  const key = `token-id ${tokenId}`;
  const read = async () => {
    const row = (await sql.query<TokenRow>(PRINCIPAL_BY_ID_SQL, [tokenId]))[0];
    return row && !row.revoked ? toPrincipal(row) : null;
  };
  return cache ? cache.resolve(key, read) : read();
}
