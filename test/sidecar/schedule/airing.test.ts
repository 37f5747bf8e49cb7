import { describe, expect, it } from 'vitest';
import { frameRateOf, frameStartMs } from '../../../src/schedule/frames.ts';
import type { Segment } from '../../../src/schedule/plan.ts';
import { itemEnded, type Airing } from '../../../src/sidecar/schedule/airing.ts';

// How an airing's as-run entry ends (PLAYED or TRUNCATED) from the times the
// engine reported. An output on its own ticks (a CasparCG channel) may take a
// timed start on the tick before its frame, and dates a start or an end to
// about a tick: a clip that aired its whole length is PLAYED however early it
// left air; one that left air early and short of its length is TRUNCATED.

const RATE = frameRateOf('1080p2500');
const FRAME_MS = 40;
const START = 44_300_000_000; // a frame (of 40 ms since the epoch)

function airing(frames: number, startedAtMs: number | null): Airing {
  const segment: Segment = {
    kind: 'FILLER',
    startFrame: START,
    endFrame: START + frames,
    startMs: frameStartMs(START, RATE),
    endMs: frameStartMs(START + frames, RATE),
    eventId: null,
    clip: {
      itemId: 'item-fill',
      assetId: 'asset-fill',
      clipName: 'fill',
      mediaPath: 'clips/fill.mp4',
      inPointMs: 0,
      durationMs: frames * FRAME_MS,
      transition: 'CUT',
      transitionMs: 0,
    },
    clipIndex: null,
    transitionFrames: 0,
    tailFrames: 0,
    truncated: false,
    pushed: false,
    fills: 'GAP',
    alarm: false,
  };
  return {
    segment,
    version: 1,
    fromFrame: START,
    timed: false,
    handle: null,
    startedAtMs,
    live: true,
    cut: false,
    cueAsked: true,
    late: false,
  };
}

const how = (a: Airing, endMs: number) =>
  (itemEnded(a, { ok: true, endedAtMs: endMs }, endMs, RATE, () => null) as { how: string }).how;

describe('an airing as it ends (itemEnded)', () => {
  const planned = { start: frameStartMs(START, RATE), end: frameStartMs(START + 30, RATE) };

  it('is PLAYED when it aired its whole length, even starting a frame early and its end dated a tick early', () => {
    // On the channel's tick a frame early (the server took a timed start on the tick before), then its 30
    // frames: it left air a frame early, reported a tick earlier still.
    const startedAt = planned.start - FRAME_MS + 12;
    expect(how(airing(30, startedAt), startedAt + 30 * FRAME_MS - FRAME_MS)).toBe('PLAYED');
    expect(how(airing(30, planned.start), planned.end)).toBe('PLAYED');
    expect(how(airing(30, planned.start), planned.end - FRAME_MS)).toBe('PLAYED');
  });

  it('is TRUNCATED when it left air over a frame early and short of its length', () => {
    // Its media two frames short of the plan.
    expect(how(airing(30, planned.start), planned.end - 2 * FRAME_MS)).toBe('TRUNCATED');
    // A frame early, then three frames short.
    expect(how(airing(30, planned.start - FRAME_MS), planned.end - 4 * FRAME_MS)).toBe('TRUNCATED');
    // Never seen on air (no start), gone a second early.
    expect(how(airing(30, null), planned.end - 1000)).toBe('TRUNCATED');
  });
});
