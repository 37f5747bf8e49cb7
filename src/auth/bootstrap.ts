import type { Db } from '../services/db.ts';
import { hashToken } from './tokens.ts';

const BOOTSTRAP_TOKEN_NAME = 'ONAIR_ADMIN_TOKEN';

/**
 * Ensures an admin user that `token` authenticates, so a new install can be set
 * up through the API. Idempotent and safe when several replicas start at once
 * (the token hash is unique; the loser of the race finds the winner's row).
 */
export async function ensureAdminToken(db: Db, token: string): Promise<void> {
  const tokenHash = hashToken(token);
  await db.$transaction(async (tx) => {
    const existing = await tx.apiToken.findUnique({ where: { tokenHash }, include: { user: true } });
    if (existing) {
      if (!existing.user.isAdmin || existing.revokedAt) {
        await tx.user.update({ where: { id: existing.userId }, data: { isAdmin: true } });
        await tx.apiToken.update({ where: { id: existing.id }, data: { revokedAt: null } });
      }
      return;
    }
    await tx.user.create({
      data: {
        name: 'admin',
        isAdmin: true,
        tokens: { create: { name: BOOTSTRAP_TOKEN_NAME, tokenHash } },
      },
    });
  }).catch(async (err: { code?: string }) => {
    // P2002: another replica inserted the same token hash first.
    if (err.code !== 'P2002') throw err;
  });
}
