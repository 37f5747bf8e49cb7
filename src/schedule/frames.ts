import { videoFormat } from '../protocol/video-formats.ts';

/**
 * Frame arithmetic at a channel's rate, exact for 1001-denominator rates.
 *
 * Frame n of a channel starts n × den / num seconds after the Unix epoch, so
 * every process that plans the same schedule puts every frame at the same
 * instant, with no accumulated rounding: times are converted to frames once,
 * and from then on everything is a whole number of frames. The products of an
 * instant in ms and a rate (up to 10^17) pass 2^53, so those go through BigInt;
 * frame numbers themselves (about 10^11 at 60 fps) are exact as numbers.
 */
export interface FrameRate {
  /** Frames per `den` seconds (a VideoFormat's timeScale). */
  num: number;
  /** (a VideoFormat's duration) */
  den: number;
}

/** A video format's frame rate: frames, not fields (1080i5000 is 25 frames a second). */
export function frameRateOf(videoFormatName: string): FrameRate {
  const f = videoFormat(videoFormatName);
  return { num: f.timeScale, den: f.duration };
}

const floorDiv = (a: bigint, b: bigint): bigint => {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
};

/** The frame on air at instant `ms` (the last frame starting at or before it). */
export function frameAt(ms: number, rate: FrameRate): number {
  return Number(floorDiv(BigInt(ms) * BigInt(rate.num), 1000n * BigInt(rate.den)));
}

/** The first frame starting at or after `ms`: where an event timed at `ms` starts. */
export function frameFrom(ms: number, rate: FrameRate): number {
  return -Number(floorDiv(-BigInt(ms) * BigInt(rate.num), 1000n * BigInt(rate.den)));
}

/**
 * The instant frame `frame` starts, in whole ms rounded down: an event timed at
 * it (frameFrom) starts on that very frame.
 */
export function frameStartMs(frame: number, rate: FrameRate): number {
  return Number(floorDiv(BigInt(frame) * 1000n * BigInt(rate.den), BigInt(rate.num)));
}

/** RFC 3339 of the frame's start (ms precision, UTC). */
export function frameIso(frame: number, rate: FrameRate): string {
  return new Date(frameStartMs(frame, rate)).toISOString();
}

/**
 * A duration in ms as whole frames, to the nearest: a clip's ms duration is its
 * frame count rounded to the ms, which this gives back exactly. At least one frame.
 */
export function durationFrames(ms: number, rate: FrameRate): number {
  // (2·ms·num + 1000·den) / (2000·den): round half up, in integers (ms ≤ 1 day keeps it under 2^53).
  return Math.max(1, Math.floor((2 * ms * rate.num + 1000 * rate.den) / (2000 * rate.den)));
}

/** A whole number of frames as ms, rounded down. */
export function framesToMs(frames: number, rate: FrameRate): number {
  return Math.floor((frames * 1000 * rate.den) / rate.num);
}
