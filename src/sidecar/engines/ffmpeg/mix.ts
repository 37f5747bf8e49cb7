import type { VideoMode } from '../../video-modes.ts';
import type { EngineClip } from '../engine.ts';
import { frameBytes } from './args.ts';
import type { ClipSource } from './decoder.ts';

/**
 * The pictures and sound of a transition on the ffmpeg engine, from the raw
 * frames the engine makes (yuv420p, 8 bits: every plane blends linearly, so
 * no conversion is needed; audio s16le). Pure and allocation-light: one
 * output buffer per frame (the encoder's pipe may still hold the previous
 * one), whole-array loops over typed arrays, no per-pixel allocation.
 *
 * MIX crossfades picture and sound. WIPE, PUSH and SLIDE move a vertical
 * edge from the left across the picture by whole column spans (row copies,
 * cheaper than a MIX): WIPE uncovers the incoming picture in place, SLIDE
 * moves the incoming picture in over the outgoing one, PUSH moves it in
 * while pushing the outgoing one out to the right. Their sound crossfades
 * as a MIX's.
 */

export type TransitionKind = EngineClip['transition'];

/** How many frames a clip's transition lasts (0: a cut). */
export function transitionFrames(clip: EngineClip, perFrame: number): number {
  if (clip.transition === 'CUT' || !(clip.transitionMs > 0)) return 0;
  return Math.max(0, Math.round(clip.transitionMs / perFrame));
}

/**
 * The incoming clip's share of frame `i` (0-based) of a transition of
 * `frames` frames, in 1/256ths: strictly between the two clips on every
 * frame of it, rising evenly, so the frame before it is all outgoing and the
 * frame after it all incoming.
 */
export function mixWeight(i: number, frames: number): number {
  return Math.min(255, Math.max(1, Math.round((256 * (i + 1)) / (frames + 1))));
}

/** Frame `i` of a transition of `frames` frames from picture `out` to picture `into`. */
export function transitionVideo(
  kind: TransitionKind,
  mode: VideoMode,
  out: Buffer,
  into: Buffer,
  i: number,
  frames: number,
): Buffer {
  const frame = Buffer.allocUnsafe(frameBytes(mode));
  const w = mixWeight(i, frames);
  if (kind === 'MIX' || kind === 'CUT') crossfade(frame, out, into, w);
  else edge(kind, frame, out, into, mode, w);
  return frame;
}

/** The sound of frame `i`: a linear crossfade of s16le samples. */
export function transitionAudio(out: Buffer, into: Buffer, i: number, frames: number): Buffer {
  const w = mixWeight(i, frames);
  const bytes = Math.min(out.length, into.length) & ~1;
  const mixed = Buffer.alloc(Math.max(out.length, into.length));
  const a = samples(out, bytes);
  const b = samples(into, bytes);
  const m = new Int16Array(mixed.buffer, mixed.byteOffset, bytes >> 1);
  const v = 256 - w;
  // The weighted sum of two samples stays within 16 bits: no clipping needed.
  for (let k = 0; k < m.length; k++) m[k] = (a[k] * v + b[k] * w) >> 8;
  return mixed;
}

/** An Int16Array over the first `bytes` of buf (a copy when buf is not 2-byte aligned). */
function samples(buf: Buffer, bytes: number): Int16Array {
  if (buf.byteOffset % 2 === 0) return new Int16Array(buf.buffer, buf.byteOffset, bytes >> 1);
  return new Int16Array(Uint8Array.prototype.slice.call(buf, 0, bytes).buffer);
}

function crossfade(frame: Buffer, out: Buffer, into: Buffer, w: number): void {
  const v = 256 - w;
  const n = frame.length;
  if (n % 4 === 0 && [frame, out, into].every((b) => b.byteOffset % 4 === 0 && b.length >= n)) {
    // Two bytes at a time in each 32-bit word (their 16-bit lanes never carry into each other: at most
    // 255 × 256 + 128), in 32-bit integer arithmetic (Math.imul): a quarter of the byte loop's time.
    const [f, a, b] = [frame, out, into].map((buf) => new Uint32Array(buf.buffer, buf.byteOffset, n / 4));
    for (let k = 0; k < f.length; k++) {
      const x = a[k] | 0;
      const y = b[k] | 0;
      const even = ((Math.imul(x & 0xff00ff, v) + Math.imul(y & 0xff00ff, w) + 0x800080) >>> 8) & 0xff00ff;
      const odd = (Math.imul((x >>> 8) & 0xff00ff, v) + Math.imul((y >>> 8) & 0xff00ff, w) + 0x800080) & 0xff00ff00;
      f[k] = even | odd;
    }
    return;
  }
  // Rounded (+128): a solid colour mixed with itself stays that colour.
  for (let k = 0; k < n; k++) frame[k] = (out[k] * v + into[k] * w + 128) >> 8;
}

/** WIPE, SLIDE, PUSH: the incoming picture's edge `w`/256 of the width in from the left, plane by plane. */
function edge(kind: TransitionKind, frame: Buffer, out: Buffer, into: Buffer, mode: VideoMode, w: number): void {
  // The edge on an even luma column, so that the chroma planes (half width) cut at the same place.
  const x = Math.min(mode.width, 2 * Math.round((mode.width * w) / 512));
  const planes = [
    { at: 0, width: mode.width, height: mode.height, x },
    { at: mode.width * mode.height, width: mode.width / 2, height: mode.height / 2, x: x / 2 },
    { at: (mode.width * mode.height * 5) / 4, width: mode.width / 2, height: mode.height / 2, x: x / 2 },
  ];
  for (const p of planes) {
    for (let row = 0; row < p.height; row++) {
      const line = p.at + row * p.width;
      const end = line + p.width;
      if (kind === 'WIPE') {
        into.copy(frame, line, line, line + p.x);
        out.copy(frame, line + p.x, line + p.x, end);
      } else {
        // The incoming picture's right-hand part enters first.
        into.copy(frame, line, end - p.x, end);
        // SLIDE: over the outgoing picture, which stays; PUSH: the outgoing picture moves right with it.
        if (kind === 'SLIDE') out.copy(frame, line + p.x, line + p.x, end);
        else out.copy(frame, line + p.x, line, end - p.x);
      }
    }
  }
}

/**
 * A transition on air (FfmpegEngine): the outgoing clip, already ended for
 * the sequencer, gives its last `frames` frames under the first ones of the
 * incoming clip, which is on air from the transition's first frame. Its
 * decoder lives until its last frame is blended; `end()` kills it.
 */
export class Transition {
  /** Frames of it made so far. */
  private done = 0;
  /**
   * The last picture of each clip (the outgoing one's from before the
   * transition on): blended again in place of a frame its decoder lost.
   */
  private lastOut: Buffer | null;
  private lastInto: Buffer | null = null;

  constructor(
    readonly out: ClipSource,
    readonly into: ClipSource,
    readonly frames: number,
    private readonly mode: VideoMode,
  ) {
    this.lastOut = out.lastVideo;
  }

  /** The outgoing clip has nothing more to show (played out, or killed). */
  get over(): boolean {
    return this.out.exhausted;
  }

  /**
   * The next frame of the transition: the outgoing clip's next frame blended
   * with `shown`, the incoming clip's frame (null when it has none: a late
   * decoder, or the incoming clip failed). A decoder behind real time loses
   * its frame (its clip keeps its time), and its last frame in the transition
   * is blended again in its place, as the output repeats a lost frame, so the
   * transition runs on without a flash of either clip alone. Before the
   * incoming clip has given one, or once it failed, the outgoing clip shows
   * alone; null when neither has a frame.
   */
  next(samples: number, shown: { video: Buffer; audio: Buffer } | null): { video: Buffer; audio: Buffer } | null {
    const i = this.done++;
    const out = this.out;
    let under: { video: Buffer; audio: Buffer } | null = null;
    if (out.queued === 0) out.skip(samples);
    else under = out.take(samples);
    if (under) this.lastOut = under.video;
    if (shown) this.lastInto = shown.video;
    if (!under && !shown) return null;
    const outVideo = under?.video ?? this.lastOut;
    // A failed incoming clip is gone: the outgoing tail plays out alone.
    const intoVideo = shown?.video ?? (this.into.exhausted ? null : this.lastInto);
    if (!outVideo) return shown;
    if (!intoVideo) return under;
    return {
      video: transitionVideo(this.into.clip.transition, this.mode, outVideo, intoVideo, i, this.frames),
      // A lost frame's sound is lost with it: the other clip's sound alone.
      audio: under && shown ? transitionAudio(under.audio, shown.audio, i, this.frames) : (under ?? shown)!.audio,
    };
  }

  end(): void {
    this.out.kill();
  }
}
