import type { Db } from '../services/db.ts';
import type { Logger } from '../services/logger.ts';
import { hashToken } from './tokens.ts';

const BOOTSTRAP_TOKEN_NAME = 'ONAIR_ADMIN_TOKEN';

/** What start-up did with ONAIR_ADMIN_TOKEN. */
export type BootstrapOutcome = 'created' | 'kept' | 'revoked';

/**
 * Ensures an admin user that `token` authenticates, so a new install can be set
 * up through the API. Idempotent and safe when several replicas start at once
 * (the token hash is unique; the loser of the race finds the winner's row).
 *
 * A revocation is final: the token's row (found by its hash) keeps its
 * `revokedAt`, and a revoked bootstrap token is never brought back by a
 * restart with the same ONAIR_ADMIN_TOKEN. Start-up says so in the log.
 */
export async function ensureAdminToken(db: Db, token: string, log?: Logger): Promise<BootstrapOutcome> {
  const tokenHash = hashToken(token);
  const outcome = await db
    .$transaction(async (tx): Promise<BootstrapOutcome> => {
      const existing = await tx.apiToken.findUnique({ where: { tokenHash }, include: { user: true } });
      if (existing) {
        if (existing.revokedAt) return 'revoked';
        if (!existing.user.isAdmin) await tx.user.update({ where: { id: existing.userId }, data: { isAdmin: true } });
        return 'kept';
      }
      await tx.user.create({
        data: {
          name: 'admin',
          isAdmin: true,
          tokens: { create: { name: BOOTSTRAP_TOKEN_NAME, tokenHash } },
        },
      });
      return 'created';
    })
    .catch((err: { code?: string }): BootstrapOutcome => {
      // P2002: another replica inserted the same token hash first.
      if (err.code !== 'P2002') throw err;
      return 'kept';
    });
  if (outcome === 'revoked') {
    log?.warn(
      'ONAIR_ADMIN_TOKEN was revoked through the API and stays revoked: it authenticates no one. ' +
        'To bootstrap again, set ONAIR_ADMIN_TOKEN to a new secret (at least 16 characters) and restart, ' +
        'or have an admin create a token with createApiToken; then remove the old value from the environment.',
    );
  } else if (outcome === 'created') {
    log?.info('ONAIR_ADMIN_TOKEN: created an admin user that this token authenticates');
  }
  return outcome;
}
