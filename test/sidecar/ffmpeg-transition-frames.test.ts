import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import type { EngineClip } from '../../src/sidecar/engines/engine.ts';
import { frameBytes } from '../../src/sidecar/engines/ffmpeg/args.ts';
import type { ClipSource } from '../../src/sidecar/engines/ffmpeg/decoder.ts';
import {
  mixWeight,
  Transition,
  transitionAudio,
  transitionFrames,
  transitionVideo,
} from '../../src/sidecar/engines/ffmpeg/mix.ts';
import { VIDEO_MODES, type VideoMode } from '../../src/sidecar/video-modes.ts';

// The pictures and sound of a transition, frame by frame, on raw yuv420p frames and s16le audio.
const PAL = VIDEO_MODES.get('576p2500')!;

/** A solid yuv420p frame. */
function solid(mode: VideoMode, y: number, u: number, v: number): Buffer {
  const frame = Buffer.alloc(frameBytes(mode));
  const luma = mode.width * mode.height;
  frame.fill(y, 0, luma);
  frame.fill(u, luma, luma + luma / 4);
  frame.fill(v, luma + luma / 4);
  return frame;
}

function clip(transition: EngineClip['transition'], transitionMs: number): EngineClip {
  return { itemId: 'B', file: '/x.mp4', inPointMs: 0, durationMs: 1000, transition, transitionMs };
}

describe('transition frames', () => {
  it('lasts the transition in whole frames; a CUT or no length is none', () => {
    expect(transitionFrames(clip('MIX', 400), 40)).toBe(10);
    expect(transitionFrames(clip('WIPE', 1010), 40)).toBe(25);
    expect(transitionFrames(clip('MIX', 1000), 1000 / 29.97)).toBe(30);
    expect(transitionFrames(clip('CUT', 400), 40)).toBe(0);
    expect(transitionFrames(clip('MIX', 0), 40)).toBe(0);
    expect(transitionFrames(clip('MIX', 10), 40)).toBe(0);
  });

  it('a MIX crossfades every plane, each frame strictly between the clips and nearer the incoming one', () => {
    const red = solid(PAL, 81, 90, 240);
    const blue = solid(PAL, 41, 240, 110);
    const luma = PAL.width * PAL.height;
    let last = [81, 90, 240];
    for (let i = 0; i < 10; i++) {
      const f = transitionVideo('MIX', PAL, red, blue, i, 10);
      const [y, u, v] = [f[0], f[luma], f[luma + luma / 4]];
      // Solid in, solid out: every byte of a plane the same.
      expect(f.subarray(0, luma).every((b) => b === y)).toBe(true);
      expect([y < last[0], u > last[1], v < last[2]]).toEqual([true, true, true]);
      expect([y > 41, u < 240, v > 110]).toEqual([true, true, true]);
      last = [y, u, v];
    }
    // Half way (frame 5 of 11 steps ≈ 0.55): the mean of the two, rounded.
    expect(mixWeight(4, 9)).toBe(128);
    const half = transitionVideo('MIX', PAL, red, blue, 4, 9);
    expect([half[0], half[luma], half[luma + luma / 4]]).toEqual([61, 165, 175]);
  });

  it('a MIX of any two pictures is the rounded weighted mean of each byte', () => {
    const [out, into] = [Buffer.alloc(frameBytes(PAL)), Buffer.alloc(frameBytes(PAL))];
    for (let k = 0; k < out.length; k++) [out[k], into[k]] = [(k * 7919) % 256, (k * 104_729 + 13) % 256];
    for (const i of [0, 3, 9]) {
      const f = transitionVideo('MIX', PAL, out, into, i, 10);
      const w = mixWeight(i, 10);
      const wrong = f.findIndex((b, k) => b !== Math.floor((out[k] * (256 - w) + into[k] * w + 128) / 256));
      expect(wrong).toBe(-1);
    }
  });

  it('WIPE uncovers the incoming picture from the left; SLIDE moves it in over the outgoing one; PUSH moves both', () => {
    const mode = { ...PAL, width: 8, height: 2 };
    // A ramp per row: luma byte k of a row is its column, +100 for the incoming picture.
    const out = solid(mode, 0, 128, 128);
    const into = solid(mode, 0, 128, 128);
    for (let k = 0; k < 16; k++) [out[k], into[k]] = [k % 8, 100 + (k % 8)];
    // Half way: the edge on column 4.
    const row = (kind: EngineClip['transition']) => [...transitionVideo(kind, mode, out, into, 4, 9).subarray(0, 8)];
    expect(row('WIPE')).toEqual([100, 101, 102, 103, 4, 5, 6, 7]);
    expect(row('SLIDE')).toEqual([104, 105, 106, 107, 4, 5, 6, 7]);
    expect(row('PUSH')).toEqual([104, 105, 106, 107, 0, 1, 2, 3]);
  });

  it('crossfades the sound of every transition', () => {
    const a = Buffer.alloc(16);
    const b = Buffer.alloc(16);
    for (let k = 0; k < 8; k++) {
      a.writeInt16LE(32767, 2 * k);
      b.writeInt16LE(-32768, 2 * k);
    }
    const mixed = transitionAudio(a, b, 4, 9);
    expect(mixed.readInt16LE(0)).toBe(-1);
    const first = transitionAudio(a, b, 0, 9).readInt16LE(0);
    expect(first).toBeLessThan(32767);
    expect(first).toBeGreaterThan(0);
  });

  it('blends a frame in a few ms at 576p and 1080p', () => {
    for (const name of ['576p2500', '1080p2500']) {
      const mode = VIDEO_MODES.get(name)!;
      const [a, b] = [solid(mode, 81, 90, 240), solid(mode, 41, 240, 110)];
      for (const kind of ['MIX', 'WIPE'] as const) {
        for (let i = 0; i < 5; i++) transitionVideo(kind, mode, a, b, i, 25);
        const from = performance.now();
        for (let i = 0; i < 25; i++) transitionVideo(kind, mode, a, b, i, 25);
        const ms = (performance.now() - from) / 25;
        console.info(`[mix] ${kind} at ${name}: ${ms.toFixed(2)} ms a frame`);
        // A frame lasts 40 ms: a blend must leave the engine most of it, even on a loaded machine.
        expect(ms).toBeLessThan(40);
      }
    }
  });

  it('a decoder behind real time during a MIX loses its frame, its last one blended again in its place', () => {
    // Red going out, blue coming in, over 10 frames; the outgoing decoder has frames 2 and 3 only (red
    // showed before the transition), the incoming one frames 0, 1 and 3 (a starved machine): every frame of
    // the transition stays a blend.
    const [red, blue] = [solid(PAL, 81, 90, 240), solid(PAL, 41, 240, 110)];
    const audio = Buffer.alloc(1920 * 4);
    const has = (frames: number[]) => {
      let i = 0;
      return {
        get queued() {
          return frames.includes(i) ? 1 : 0;
        },
        exhausted: false,
        lastVideo: red,
        skip: () => void i++,
        take: () => ({ video: (i++, red), audio }),
        kill: () => undefined,
      };
    };
    const out = has([2, 3]) as unknown as ClipSource;
    const into = { clip: clip('MIX', 400), exhausted: false } as unknown as ClipSource;
    const mix = new Transition(out, into, 10, PAL);
    const incoming = [0, 1, 3];
    const lumas = [0, 1, 2, 3].map((i) => {
      const frame = mix.next(1920, incoming.includes(i) ? { video: blue, audio } : null);
      return frame!.video[0];
    });
    // Each frame strictly between red (81) and blue (41), nearer blue than the one before.
    for (const [i, y] of lumas.entries()) {
      expect(y, `frame ${i}`).toBeGreaterThan(41);
      expect(y, `frame ${i}`).toBeLessThan(81);
      if (i > 0) expect(y, `frame ${i}`).toBeLessThan(lumas[i - 1]);
    }
    // An incoming clip that failed (its decoder done, nothing left) is gone: the outgoing tail shows alone.
    const failed = { clip: clip('MIX', 400), exhausted: false };
    const tail = new Transition(has([0, 1]) as unknown as ClipSource, failed as unknown as ClipSource, 10, PAL);
    expect(tail.next(1920, { video: blue, audio })!.video[0]).toBeLessThan(81);
    failed.exhausted = true;
    expect(tail.next(1920, null)!.video[0]).toBe(81);
  });
});
