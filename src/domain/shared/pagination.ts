import { z } from 'zod';
import { badInput } from '../../errors.ts';

/**
 * Keyset cursors over (timestamp, id): the position of a row in a list ordered
 * by (timestamp desc, id desc). Rows inserted while a client pages are newer
 * than any cursor it holds, so no page skips or repeats a row that existed
 * before the first page. The cursor names no filter, so it stays valid for
 * another query shape (other search text or project) over the same ordering.
 */
export interface Cursor {
  at: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A version tag lets a later format coexist with cursors clients still hold.
const VERSION = 'k1';

/** Page sizes: `first` must be 1..max. */
export const pageSizeSchema = (max: number) =>
  z.number().int().min(1, 'must be at least 1').max(max, `must be at most ${max}`).nullish();

/** The largest instant decodeCursor reads back (15 digits). */
const MAX_CURSOR_MS = 999_999_999_999_999;
const COLON = 0x3a;
const ZERO = 0x30;
/** The bytes of the cursor being encoded, reused: `VERSION:` stays at its start. */
let scratch = Buffer.from(`${VERSION}:${'0'.repeat(15)}:${'0'.repeat(36)}`, 'latin1');

/**
 * `k1:<epoch ms>:<id>` in base64url. The digits are written into the bytes one
 * by one: an epoch in milliseconds (above 2^31) made a string goes through V8's
 * number-to-string cache, and every string that cache makes is allocated in the
 * old generation, where it dies with its request. A page's timestamps keep
 * missing that cache (their bits differ where its small hash does not look), so
 * each of a page's 100 cursors made one: 3.2 KB of the old generation per page,
 * which filled it under load until full collections ran every second
 * (bench/README.md).
 */
export function encodeCursor(at: Date, id: string): string {
  const ms = at.getTime();
  if (!(ms >= 0 && ms <= MAX_CURSOR_MS) || !Number.isInteger(ms)) {
    return Buffer.from(`${VERSION}:${ms}:${id}`, 'latin1').toString('base64url');
  }
  let digits = 1;
  for (let power = 10; power <= ms; power *= 10) digits++;
  const start = VERSION.length + 1;
  const length = start + digits + 1 + id.length;
  if (scratch.length < length) {
    scratch = Buffer.allocUnsafe(length * 2);
    scratch.write(`${VERSION}:`, 0, 'latin1');
  }
  const bytes = scratch;
  let rest = ms;
  for (let i = start + digits - 1; i >= start; i--) {
    const digit = rest % 10;
    bytes[i] = ZERO + digit;
    // Exact: an integer below 2^53 less its last digit divides by 10 without rounding.
    rest = (rest - digit) / 10;
  }
  bytes[start + digits] = COLON;
  // ASCII only (hex and '-'): latin1 gives the same bytes as utf8, without the encoder's scan.
  bytes.write(id, start + digits + 1, 'latin1');
  return bytes.toString('base64url', 0, length);
}

/** The cursor's position, or BAD_USER_INPUT naming `field` when it is not one of ours. */
export function decodeCursor(field: string, cursor: string): Cursor {
  const invalid = () => badInput(field, 'is not a valid cursor');
  if (cursor.length === 0 || cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  if (parts.length !== 3 || parts[0] !== VERSION || !/^\d{1,15}$/.test(parts[1]) || !UUID.test(parts[2])) {
    throw invalid();
  }
  const at = new Date(Number(parts[1]));
  if (Number.isNaN(at.getTime())) throw invalid();
  return { at, id: parts[2].toLowerCase() };
}

/** Prisma `where` for the rows after a cursor in (timestamp desc, id desc) order. */
export function afterCursor<K extends string>(key: K, cursor: Cursor | undefined) {
  if (!cursor) return {};
  return {
    OR: [
      { [key]: { lt: cursor.at } } as Record<K, { lt: Date }>,
      { [key]: cursor.at, id: { lt: cursor.id } } as Record<K, Date> & { id: { lt: string } },
    ],
  };
}
