import { describe, expect, it } from 'vitest';
import { durationFrames, frameAt, frameFrom, frameRateOf, frameStartMs } from '../../src/schedule/frames.ts';
import { broadcastDay, localToUtc, zoneOffsetMs } from '../../src/schedule/time-zone.ts';

const HOUR = 3_600_000;

describe('frames at the channel rate', () => {
  const ntsc = frameRateOf('1080i5994'); // 30000/1001 frames a second
  const pal = frameRateOf('1080i5000');

  it('counts frames, not fields, of interlaced formats', () => {
    expect(pal).toEqual({ num: 25000, den: 1000 });
    expect(frameFrom(Date.parse('2026-10-24T05:00:00Z'), pal)).toBe(Date.parse('2026-10-24T05:00:00Z') / 40);
  });

  it('puts a time at 29.97 fps on the first frame at or after it, exactly, years after the epoch', () => {
    for (const iso of ['2026-10-24T05:00:00Z', '2026-10-25T00:59:59.999Z', '2038-01-19T03:14:08Z']) {
      const ms = Date.parse(iso);
      const f = frameFrom(ms, ntsc);
      // Frame f starts at f·1001/30000 s: at or after ms, and frame f − 1 before it (checked in integers).
      expect(BigInt(f) * 1001n * 1000n >= BigInt(ms) * 30000n).toBe(true);
      expect(BigInt(f - 1) * 1001n * 1000n < BigInt(ms) * 30000n).toBe(true);
      expect(frameAt(ms, ntsc)).toBe(BigInt(f) * 1001n * 1000n === BigInt(ms) * 30000n ? f : f - 1);
    }
  });

  it('gives a frame back from its start time, and a clip its frame count from its duration in ms', () => {
    const base = frameFrom(Date.parse('2026-10-24T05:00:00Z'), ntsc);
    for (let f = base; f < base + 5000; f++) expect(frameFrom(frameStartMs(f, ntsc), ntsc)).toBe(f);
    for (const frames of [1, 2, 299, 300, 301, 107_892, 2_589_410]) {
      expect(durationFrames(Math.round((frames * 1001) / 30), ntsc)).toBe(frames);
    }
    expect(durationFrames(30_000, pal)).toBe(750);
  });
});

describe('broadcast days in the channel time zone', () => {
  const length = (w: { fromMs: number; toMs: number }) => (w.toMs - w.fromMs) / HOUR;

  it('has 23 hours on the day the clocks go forward and 25 on the day they go back', () => {
    expect(length(broadcastDay('2026-03-28', 'Europe/London'))).toBe(23);
    expect(length(broadcastDay('2026-10-24', 'Europe/London'))).toBe(25);
    expect(length(broadcastDay('2026-06-01', 'Europe/London'))).toBe(24);
    expect(length(broadcastDay('2026-03-08', 'America/New_York', '00:00'))).toBe(23);
    expect(length(broadcastDay('2026-11-01', 'America/New_York', '00:00'))).toBe(25);
    expect(length(broadcastDay('2026-12-31', 'UTC'))).toBe(24);
  });

  it('starts the day at its local time of day, in UTC', () => {
    expect(broadcastDay('2026-10-24', 'Europe/London')).toEqual({
      fromMs: Date.parse('2026-10-24T05:00:00Z'), // 06:00 BST
      toMs: Date.parse('2026-10-25T06:00:00Z'), // 06:00 GMT
    });
    expect(new Date(broadcastDay('2026-12-31', 'America/New_York', '05:30').toMs).toISOString()).toBe(
      '2027-01-01T10:30:00.000Z',
    );
  });

  it('maps a local time the clocks skip to after the jump, and one they pass twice to its first passing', () => {
    expect(
      new Date(localToUtc({ year: 2026, month: 3, day: 29, hour: 1, minute: 30 }, 'Europe/London')).toISOString(),
    ).toBe('2026-03-29T01:30:00.000Z');
    expect(
      new Date(localToUtc({ year: 2026, month: 10, day: 25, hour: 1, minute: 30 }, 'Europe/London')).toISOString(),
    ).toBe('2026-10-25T00:30:00.000Z');
    expect(zoneOffsetMs(Date.parse('2026-10-25T00:30:00Z'), 'Europe/London')).toBe(HOUR);
    expect(zoneOffsetMs(Date.parse('2026-10-25T01:30:00Z'), 'Europe/London')).toBe(0);
  });

  it('refuses a date or time of day it cannot read', () => {
    expect(() => broadcastDay('24/10/2026', 'Europe/London')).toThrow(/not a date/);
    expect(() => broadcastDay('2026-10-24', 'Europe/London', '25:00')).toThrow(/not a time of day/);
  });
});
