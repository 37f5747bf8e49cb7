import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import type { EngineReporter } from '../engine.ts';

/** Where the frames go: the encoder's raw video and audio pipes. */
export interface FeedSink {
  video: Writable;
  audio: Writable;
  /** Frames written to it. */
  fed: number;
}

export interface EncoderFeedOptions {
  /** Duration of one frame (ms). */
  perFrame: number;
  /** How much may wait in the encoder's pipe (ms of frames) before frames are owed rather than written. */
  maxBehindMs: number;
  /** How much may be owed (ms of frames) before frames are lost for good. */
  maxDebtMs: number;
  /** The audio of wall frame n as silence. */
  silence(n: number): Buffer;
  report?: EngineReporter;
}

/**
 * Feeds the encoder so that output frame N is always wall frame N. A frame
 * made on the wall grid that the encoder cannot take now (its pipe full: a
 * starved machine, an encoder stopped for a while) is owed, not dropped; once
 * the encoder takes frames again (it runs several times faster than real
 * time) the owed frames are written first, as repeats of the last frame
 * written with silence, and the frames made meanwhile are owed behind them.
 * The output's frame count thus keeps to the wall clock: clip lengths and
 * timed starts stay exact in output frames, only the content of the frames
 * owed is replaced by repeats (a freeze). Without a bound a machine that never
 * catches up would owe for ever: past `maxDebtMs` owed, frames are lost for
 * good (framesDropped), and the output is that much short of the wall clock.
 *
 * ENGINE_BEHIND is raised when playout loses 5 frames within a second, or owes
 * more than `maxBehindMs`; it clears once nothing is owed and 2 s pass with at
 * most one frame lost.
 */
export class EncoderFeed {
  private debt = 0;
  private last: Buffer | null = null;
  private readonly maxQueued: number;
  private readonly maxDebt: number;
  private readonly behindAt: number;
  /** performance.now() when ENGINE_BEHIND was raised (null: not up). */
  private behindSince: number | null = null;
  /** performance.now() of the frames lost in the last 2 s. */
  private drops: number[] = [];

  constructor(private readonly o: EncoderFeedOptions) {
    this.maxQueued = Math.max(2, Math.ceil(o.maxBehindMs / o.perFrame));
    this.maxDebt = Math.max(0, Math.floor(o.maxDebtMs / o.perFrame));
    this.behindAt = Math.max(5, Math.ceil(o.maxBehindMs / o.perFrame));
  }

  /** Frames owed to the encoder now. */
  get owed(): number {
    return this.debt;
  }

  /**
   * Gives the encoder wall frame n, after the frames it is owed; if it cannot
   * take them all now, frame n is owed too. Returns the frames lost for good
   * by this call (the debt past its bound).
   */
  feed(sink: FeedSink, n: number, video: Buffer, audio: Buffer): number {
    let room = this.maxQueued + 1 - Math.floor(sink.video.writableLength / video.length);
    if (this.debt > 0 && room > 0) {
      const pay = Math.min(this.debt, room);
      // Owed frames keep their place on the timeline: the frame written before them, again.
      const repeat = this.last ?? video;
      for (let i = 0; i < pay; i++) this.write(sink, repeat, this.o.silence(n - this.debt + i));
      this.debt -= pay;
      room -= pay;
    }
    if (this.debt === 0 && room > 0) {
      this.write(sink, video, audio);
      this.last = video;
      return 0;
    }
    return this.owe(1);
  }

  /** Frames owed; past the bound the oldest are given up. Returns the frames lost for good. */
  private owe(frames: number): number {
    this.debt += frames;
    if (this.debt <= this.maxDebt) return 0;
    const lost = this.debt - this.maxDebt;
    this.debt = this.maxDebt;
    this.lose(lost);
    return lost;
  }

  /**
   * Frames the output did not show: lost from its timeline (no encoder to
   * take them), or their content lost to a lagging decoder, a repeat in
   * their place. Counted in framesDropped; enough of them raise ENGINE_BEHIND.
   */
  lose(frames: number): void {
    if (frames <= 0) return;
    this.o.report?.count?.('framesDropped', frames);
    const now = performance.now();
    for (let i = 0; i < frames; i++) this.drops.push(now);
    // A lone late frame is no fault to report: 5 within a second are.
    if (this.drops.filter((t) => now - t < 1000).length >= 5) this.raise(now);
  }

  /**
   * A new encoder (the last one died): its stream starts over, so what was
   * owed to the last one is lost. Returns how many frames that was.
   */
  restart(): number {
    const lost = this.debt;
    this.debt = 0;
    this.last = null;
    this.lose(lost);
    return lost;
  }

  /** Once a tick: raises ENGINE_BEHIND while too much is owed, clears it once nothing is and 2 s went by quietly. */
  check(): void {
    const now = performance.now();
    while (this.drops.length && now - this.drops[0] > 2000) this.drops.shift();
    if (this.debt > this.behindAt) this.raise(now);
    if (this.behindSince === null || now - this.behindSince < 2000 || this.drops.length > 1 || this.debt > 0) return;
    this.behindSince = null;
    this.o.report?.clear?.('ENGINE_BEHIND');
  }

  /** The session ends: nothing is owed any more, and the alarm goes. */
  end(): void {
    this.debt = 0;
    this.last = null;
    this.drops = [];
    this.behindSince = null;
    this.o.report?.clear?.('ENGINE_BEHIND');
  }

  private raise(now: number): void {
    if (this.behindSince !== null) return;
    this.behindSince = now;
    const bound = (this.o.maxDebtMs / 1000).toFixed(0);
    this.o.report?.raise?.(
      'ENGINE_BEHIND',
      `playout fell behind real time: frames are repeated to keep time, and lost when more than ${bound} s behind`,
    );
  }

  private write(sink: FeedSink, video: Buffer, audio: Buffer): void {
    sink.video.write(video);
    sink.audio.write(audio);
    sink.fed++;
  }
}
