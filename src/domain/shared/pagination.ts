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

export function encodeCursor(at: Date, id: string): string {
  // ASCII only (digits, hex, '-' and ':'): latin1 gives the same bytes as utf8, without the encoder's scan.
  return Buffer.from(`${VERSION}:${at.getTime()}:${id}`, 'latin1').toString('base64url');
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
