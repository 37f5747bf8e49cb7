import { getHeapSpaceStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/domain/shared/pagination.ts';

const ID = '0b6f2c3e-1d2a-4f5b-9c8d-7e6f5a4b3c2d';
/** What a cursor says, as a client holding one could read it. */
const text = (cursor: string) => Buffer.from(cursor, 'base64url').toString('latin1');

describe('encodeCursor', () => {
  it('writes k1:<epoch ms>:<id> in base64url, which decodeCursor reads back, for every number of digits', () => {
    const samples = [0, 1, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 31, Date.UTC(2026, 11, 3, 13, 45), 999_999_999_999_999];
    for (let digits = 1; digits <= 15; digits++) samples.push(10 ** (digits - 1), 10 ** digits - 1);
    for (let i = 0; i < 2000; i++) samples.push(Math.floor(Math.random() * 2_000_000_000_000));
    for (const ms of samples) {
      const cursor = encodeCursor(new Date(ms), ID);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(text(cursor)).toBe(`k1:${String(ms)}:${ID}`);
      const back = decodeCursor('after', cursor);
      expect([back.at.getTime(), back.id]).toEqual([ms, ID]);
    }
  });

  it('writes instants before 1970 as before (decodeCursor refuses them), and ids of any length', () => {
    expect(text(encodeCursor(new Date(-5), ID))).toBe(`k1:-5:${ID}`);
    expect(() => decodeCursor('after', encodeCursor(new Date(-5), ID))).toThrow(/not a valid cursor/);
    const long = 'a'.repeat(300);
    expect(text(encodeCursor(new Date(1234), long))).toBe(`k1:1234:${long}`);
    // And a plain one after it.
    expect(text(encodeCursor(new Date(1234), ID))).toBe(`k1:1234:${ID}`);
  });

  it("leaves nothing in the old generation: a page's cursors die young with the request", () => {
    // A page of 100 entries, one every 315 s, as the as-run log has them.
    const start = Date.UTC(2026, 10, 3, 12);
    const page = Array.from({ length: 100 }, (_, i) => new Date(start - i * 315_000));
    const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;
    let length = 0;
    for (let i = 0; i < 200; i++) for (const at of page) length += encodeCursor(at, ID).length;
    // Growth only: a full collection meanwhile would hide what was allocated before it.
    let grown = 0;
    let last = oldSpace();
    const pages = 2000;
    for (let i = 0; i < pages; i++) {
      for (const at of page) length += encodeCursor(at, ID).length;
      const now = oldSpace();
      if (now > last) grown += now - last;
      last = now;
    }
    expect(length).toBeGreaterThan(0);
    // A number made a string through V8's number cache left ~32 bytes there per cursor: 3.2 KB a page.
    expect(grown / pages).toBeLessThan(300);
  });
});
