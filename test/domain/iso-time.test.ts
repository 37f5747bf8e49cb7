import { describe, expect, it } from 'vitest';
import { isoTime, parseRfc3339 } from '../../src/domain/shared/iso-time.ts';

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
    for (const ms of [253_402_300_800_000, -62_167_219_200_001, 8.64e15])
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    expect(() => isoTime(new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('parseRfc3339', () => {
  it('reads date-times with a zone, to the millisecond, whatever the offset', () => {
    expect(parseRfc3339('2026-01-31T18:00:00Z')?.toISOString()).toBe('2026-01-31T18:00:00.000Z');
    expect(parseRfc3339('2026-01-31t18:00z')?.toISOString()).toBe('2026-01-31T18:00:00.000Z');
    expect(parseRfc3339('2026-03-29T02:30:00.125+02:00')?.toISOString()).toBe('2026-03-29T00:30:00.125Z');
    expect(parseRfc3339('2024-02-29T23:59:59-05:30')?.toISOString()).toBe('2024-03-01T05:29:59.000Z');
  });

  it('refuses what names no instant: days a month lacks, out-of-range fields, no zone, garbage', () => {
    for (const bad of [
      '2026-02-30T00:00:00Z',
      '2025-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T23:60:00Z',
      '2026-01-01T23:59:60Z',
      '2026-01-01T00:00:00+24:00',
      '2026-01-01T00:00:00+01:60',
      '2026-01-01T00:00:00',
      '2026-01-01',
      '2026-01-01 00:00:00Z',
      'tomorrow',
      '',
    ]) {
      expect(parseRfc3339(bad), bad).toBeNull();
    }
  });
});
