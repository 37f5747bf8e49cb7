import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/domain/iso-time.ts';

describe('isoTime', () => {
  it('writes what toISOString writes, across days, years and the edges of the four-digit range', () => {
    const samples = [
      0,
      1,
      999,
      86_399_999,
      86_400_000,
      Date.UTC(2026, 10, 25, 20, 15, 0, 7),
      Date.UTC(2024, 1, 29, 23, 59, 59, 999),
      Date.UTC(2000, 0, 1),
      -1,
      -86_400_001,
      Date.UTC(1969, 11, 31, 12, 0, 0, 42),
      -62_167_219_200_000, // 0000-01-01
      253_402_300_799_999, // 9999-12-31T23:59:59.999Z
    ];
    // And a spread of random instants over the last fifty years.
    for (let i = 0; i < 2000; i++) samples.push(Math.floor(Math.random() * 1_600_000_000_000) + 200_000_000_000);
    for (const ms of samples) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      expect(isoTime(new Date(ms))).toBe(new Date(ms).toISOString());
    }
  });

  it('falls back to toISOString outside four-digit years and refuses an invalid date as toISOString does', () => {
    for (const ms of [253_402_300_800_000, -62_167_219_200_001, 8.64e15]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    expect(() => isoTime(new Date(Number.NaN))).toThrow(RangeError);
  });
});
