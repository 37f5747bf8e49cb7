import { createHash, randomBytes } from 'node:crypto';

const PREFIX = 'onair_';

/** A new API token secret: 256 random bits, prefixed so that leaks are easy to grep for. */
export function generateToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/** Tokens are high-entropy, so a plain SHA-256 is enough (no salt or slow hash needed). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
