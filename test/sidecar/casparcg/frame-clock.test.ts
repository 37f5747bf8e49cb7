import { describe, expect, it } from 'vitest';
import { FrameClock } from '../../../src/sidecar/engines/casparcg/frame-clock.ts';

// A channel at 25 frames a second whose ticks fall at 1 000 013 + k × 40 ms (epoch ms), sampled with 4 ms round trips.
const TICK = 40;
const PHASE = 1_000_013;

/** What an INFO sent at `sentMs` would show of a clip that started on tick `startTick`, read 1–3 ms into the trip. */
function sampleOf(clock: FrameClock, playback: object, startTick: number, sentMs: number, readAfterMs = 2) {
  const readAt = sentMs + readAfterMs;
  const frame = Math.floor((readAt - (PHASE + startTick * TICK)) / TICK);
  clock.sample(playback, frame, sentMs, sentMs + 4);
}

describe('the CasparCG frame clock', () => {
  it('knows nothing before a sample: a timed PLAY aims half a tick before the instant itself', () => {
    const clock = new FrameClock(TICK);
    expect(clock.bounds).toBeNull();
    expect(clock.tickFrom(2_000_000)).toBe(2_000_000);
    expect(clock.sendAt(2_000_000)).toBe(2_000_000 - 20);
    expect(clock.tickNear(2_000_017)).toBe(2_000_017);
  });

  it("narrows the ticks' phase from samples of one playback, to about the round trip", () => {
    const clock = new FrameClock(TICK);
    const playback = {};
    // Samples every 37 ms (INFO polls drift against the ticks) fall at every phase of the 40 ms tick.
    for (let i = 0; i < 20; i++) sampleOf(clock, playback, 10, PHASE + 10 * TICK + 7 + i * 37, 1 + (i % 3));
    const b = clock.bounds!;
    expect(b.hi - b.lo).toBeLessThanOrEqual(8);
    expect(PHASE + 10 * TICK).toBeGreaterThan(b.lo);
    expect(PHASE + 10 * TICK).toBeLessThanOrEqual(b.hi);
    // The tick at or after an instant is on the channel's grid, within the bound's half-width.
    const tick = clock.tickFrom(PHASE + 500 * TICK - 5);
    expect(Math.abs(tick - (PHASE + 500 * TICK))).toBeLessThanOrEqual(4);
    // The PLAY for that tick goes a third into the tick before (the bound is narrower than that).
    expect(clock.sendAt(PHASE + 500 * TICK - 5)).toBe(tick - TICK + TICK / 3);
    // A start dated from one sample (good to half a tick) is put on the nearest tick.
    for (const off of [-17, 0, 18])
      expect(Math.abs(clock.tickNear(PHASE + 600 * TICK + off) - (PHASE + 600 * TICK))).toBeLessThanOrEqual(4);
  });

  it('takes the latency as half the median round trip, and sends that much earlier', () => {
    const clock = new FrameClock(TICK);
    for (const trip of [4, 6, 30, 5, 4]) clock.roundTrip(trip);
    expect(clock.latencyMs).toBe(2.5);
    expect(clock.sendAt(5_000_000)).toBe(5_000_000 - 20 - 2.5);
  });

  it('follows a playback held up by a tick (frames then count from a later tick), and keeps the narrow bound over a new one', () => {
    const clock = new FrameClock(TICK);
    const first = {};
    for (let i = 0; i < 20; i++) sampleOf(clock, first, 0, PHASE + 7 + i * 37);
    // The server held one frame an extra tick: the clip's frames now count as if it had started on tick 1.
    for (let i = 0; i < 20; i++) sampleOf(clock, first, 1, PHASE + 1000 + 7 + i * 37);
    const b = clock.bounds!;
    expect(b.hi - b.lo).toBeLessThanOrEqual(8);
    expect(Math.abs(clock.tickFrom(PHASE + 200 * TICK - 3) - (PHASE + 200 * TICK))).toBeLessThanOrEqual(4);
    // A lone sample of another playback is wider than what the first gave: the narrower bound stays.
    sampleOf(clock, {}, 100, PHASE + 100 * TICK + 30);
    expect(clock.bounds).toEqual(b);
  });
});
