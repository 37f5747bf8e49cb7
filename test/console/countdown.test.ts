import { describe, expect, it } from 'vitest';
import {
  channelFrameRate,
  remainingMs,
  steadyCountdown,
  timecode,
  type AnchoredEngine,
} from '../../console/src/lib/countdown.ts';

const STARTED = Date.parse('2026-12-02T10:00:00.000Z');

/** A PLAYING 10 s item whose status (position `positionMs`) arrived at page time 1000, wall time `wallMs`. */
function playing(positionMs: number, wallMs: number, state: 'PLAYING' | 'PAUSED' = 'PLAYING'): AnchoredEngine {
  return {
    engine: {
      channelId: 'c',
      reachable: true,
      state,
      updatedAt: new Date(wallMs).toISOString(),
      current: { clipName: 'a.mxf', startedAt: new Date(STARTED).toISOString(), positionMs, durationMs: 10_000 },
      next: null,
    },
    receivedAt: 1000,
    receivedWallMs: wallMs,
  };
}

describe('the countdown', () => {
  it('shows HH:MM:SS:FF at the channel frame rate, frames rounded down', () => {
    expect(timecode(3_723_480, channelFrameRate('1080i5000'))).toBe('01:02:03:12');
    expect(timecode(999, channelFrameRate('720p5000'))).toBe('00:00:00:49');
    expect(timecode(999, channelFrameRate('1080p5994'))).toBe('00:00:00:59');
    expect(timecode(-5, channelFrameRate('1080i5000'))).toBe('00:00:00:00');
    expect(channelFrameRate('1080i5994')).toEqual({ num: 30000, den: 1001 });
  });

  it('counts from the status as it arrived, and from the item start when the status came late', () => {
    // Arrived 300 ms after the sidecar said 2000 (it played uninterrupted since STARTED): the start wins.
    expect(remainingMs(playing(2000, STARTED + 2300), 1500)).toBe(10_000 - 2800);
    // Paused for 5 s earlier: the time since the start is far ahead, so the status's count stands.
    expect(remainingMs(playing(2000, STARTED + 7000), 1500)).toBe(10_000 - 2500);
    // A clock behind the sidecar's: the status's count stands.
    expect(remainingMs(playing(2000, STARTED + 1000), 1500)).toBe(10_000 - 2500);
    // Paused: no counting.
    expect(remainingMs(playing(2000, STARTED + 2300, 'PAUSED'), 60_000)).toBe(8000);
    expect(remainingMs(playing(2000, STARTED + 2300), 1_000_000)).toBe(0);
  });

  it('never steps back between two statuses when the sidecar counts a frame ahead of its clock', () => {
    // A arrived at page time 1000 saying 2040 at the sidecar's 2000 (a frame ahead, no way to the page);
    // B at 1090 saying 2080 at 2090 (20 ms ahead, 30 ms on its way). Shown at 1080 from A, then at 1100 from B.
    const a = playing(2040, STARTED + 2000);
    const b = { ...playing(2080, STARTED + 2090), receivedAt: 1090 };
    const fromA = remainingMs(a, 1080)!;
    const fromB = remainingMs(b, 1100)!;
    expect(fromB).toBeLessThanOrEqual(fromA);
    // Both are the time since the start, which runs with the wall clock.
    expect([fromA, fromB]).toEqual([10_000 - 2080, 10_000 - 2100]);
  });

  it('shows a value that never steps back while one item plays, and any change of item or state at once', () => {
    const steady = steadyCountdown();
    const a = playing(2000, STARTED + 2000);
    expect([7000, 6980, 6985, 6960].map((r) => steady(a, r))).toEqual([7000, 6980, 6980, 6960]);
    // A seek or a long correction shows as it is; so does another state or another item.
    expect(steady(a, 8600)).toBe(8600);
    expect(steady(playing(2000, STARTED + 2000, 'PAUSED'), 7950)).toBe(7950);
    expect(steady(a, null)).toBeNull();
  });
});
