import { describe, expect, it } from 'vitest';
import { addDays, broadcastDateOf, dayWindow, framesCode, zoneClock } from '../../console/src/lib/schedule-time.ts';
import { frameFrom, frameStartMs } from '../../src/schedule/frames.ts';

const LONDON = 'Europe/London';
const PAL = { num: 25, den: 1 };
const NTSC = { num: 30000, den: 1001 };
const HOUR = 3_600_000;

describe("the schedule view's days and times", () => {
  it("takes today as the broadcast day now falls in, in the channel's zone (before the day start, the day before)", () => {
    // 29 March 2026: London goes to BST at 01:00 UTC, so 06:00 local is 05:00 UTC.
    expect(broadcastDateOf(Date.parse('2026-03-29T04:59:59.999Z'), LONDON, '06:00')).toBe('2026-03-28');
    expect(broadcastDateOf(Date.parse('2026-03-29T05:00:00.000Z'), LONDON, '06:00')).toBe('2026-03-29');
    expect(broadcastDateOf(Date.parse('2026-12-31T20:30:00.000Z'), 'Asia/Tokyo', '06:00')).toBe('2026-12-31');
    expect(broadcastDateOf(Date.parse('2026-12-31T21:30:00.000Z'), 'Asia/Tokyo', '06:00')).toBe('2027-01-01');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });

  it('makes the days the clocks change 23 and 25 hours long', () => {
    const spring = dayWindow('2026-03-28', LONDON, '06:00');
    const autumn = dayWindow('2026-10-24', LONDON, '06:00');
    expect((spring.toMs - spring.fromMs) / HOUR).toBe(23);
    expect((autumn.toMs - autumn.fromMs) / HOUR).toBe(25);
    expect(zoneClock(new Date(spring.toMs).toISOString(), LONDON, PAL)).toBe('06:00:00:00');
    // The hour passed twice reads the same on the wall clock, an hour apart.
    expect(zoneClock('2026-10-25T00:30:00.000Z', LONDON, PAL)).toBe('01:30:00:00');
    expect(zoneClock('2026-10-25T01:30:00.000Z', LONDON, PAL)).toBe('01:30:00:00');
  });

  it("shows an instant as HH:MM:SS:FF on the zone's clock, every frame its own number", () => {
    expect(zoneClock('2026-07-01T17:00:00.480Z', LONDON, PAL)).toBe('18:00:00:12');
    expect(zoneClock('2026-07-01T17:00:00.480Z', 'America/New_York', PAL)).toBe('13:00:00:12');
    // At 29.97 frames start between ms and are given rounded down: still numbered one by one in each second.
    const first = frameFrom(Date.parse('2026-07-01T17:00:00.000Z'), NTSC);
    const codes = Array.from({ length: 120 }, (_, i) =>
      zoneClock(new Date(frameStartMs(first + i, NTSC)).toISOString(), LONDON, NTSC),
    );
    expect(new Set(codes).size).toBe(codes.length);
    for (let i = 1; i < codes.length; i++) {
      const [prev, next] = [codes[i - 1], codes[i]].map((c) => Number(c.slice(9)));
      if (codes[i].slice(0, 8) === codes[i - 1].slice(0, 8)) expect(next).toBe(prev + 1);
      else expect(next).toBe(0);
    }
  });

  it('shows frame counts as durations at the channel rate', () => {
    expect(framesCode(25 * 3661 + 7, PAL)).toBe('01:01:01:07');
    expect(framesCode(29, NTSC)).toBe('00:00:00:29');
    expect(framesCode(30, NTSC)).toBe('00:00:01:00');
    expect(framesCode(0, PAL)).toBe('00:00:00:00');
  });
});
