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
 * Frames owed in a row while one clip aired (its `key`): they are paid back as
 * repeats of the first of them, so a clip owed across its start still starts
 * on its own frame of the output. One frame is kept per run, not per frame.
 */
interface Owed<K> {
  key: K;
  video: Buffer;
  count: number;
}

/**
 * Feeds the encoder so that output frame N is always wall frame N. A frame
 * made on the wall grid that the encoder cannot take now (its pipe full: a
 * starved machine, an encoder stopped for a while) is owed, not dropped; once
 * the encoder takes frames again (it runs several times faster than real
 * time) the owed frames are written first, as repeats with silence, and the
 * frames made meanwhile are owed behind them. The output's frame count thus
 * keeps to the wall clock: clip lengths and timed starts stay exact in output
 * frames, only the content of the frames owed is replaced by repeats (a
 * freeze on each clip's first owed frame). Without a bound a machine that
 * never catches up would owe for ever: past `maxDebtMs` owed, the oldest owed
 * frames are lost for good (framesDropped, and `onLost` with the clip they
 * were of), and the output is that much short of the wall clock.
 *
 * ENGINE_BEHIND is raised when playout loses 5 frames within a second, or owes
 * more than `maxBehindMs`; it clears once nothing is owed and 2 s pass with at
 * most one frame lost.
 */
export class EncoderFeed<K = unknown> {
  private debt = 0;
  private owedRuns: Owed<K>[] = [];
  private readonly maxQueued: number;
  private readonly maxDebt: number;
  private readonly behindAt: number;
  /** performance.now() when ENGINE_BEHIND was raised (null: not up). */
  private behindSince: number | null = null;
  /** performance.now() of the frames lost in the last 2 s. */
  private drops: number[] = [];

  constructor(private readonly o: EncoderFeedOptions & { onLost?(key: K, frames: number): void }) {
    this.maxQueued = Math.max(2, Math.ceil(o.maxBehindMs / o.perFrame));
    this.maxDebt = Math.max(0, Math.floor(o.maxDebtMs / o.perFrame));
    this.behindAt = Math.max(5, Math.ceil(o.maxBehindMs / o.perFrame));
  }

  /** Frames owed to the encoder now. */
  get owed(): number {
    return this.debt;
  }

  /**
   * Gives the encoder wall frame n (of the clip `key`), after the frames it is
   * owed; if it cannot take them all now, frame n is owed too.
   */
  feed(sink: FeedSink, n: number, video: Buffer, audio: Buffer, key: K): void {
    let room = this.maxQueued + 1 - Math.floor(sink.video.writableLength / video.length);
    while (this.debt > 0 && room > 0) {
      // Owed frames keep their place on the timeline, each run as its first frame again.
      const run = this.owedRuns[0];
      const pay = Math.min(run.count, room);
      for (let i = 0; i < pay; i++) this.write(sink, run.video, this.o.silence(n - this.debt + i));
      this.debt -= pay;
      room -= pay;
      run.count -= pay;
      if (run.count === 0) this.owedRuns.shift();
    }
    if (this.debt === 0 && room > 0) {
      this.write(sink, video, audio);
      return;
    }
    this.owe(video, key);
  }

  /** One frame owed; past the bound the oldest owed frame is given up. */
  private owe(video: Buffer, key: K): void {
    const last = this.owedRuns.at(-1);
    if (last && last.key === key) last.count++;
    else this.owedRuns.push({ key, video, count: 1 });
    this.debt++;
    if (this.debt <= this.maxDebt) return;
    const oldest = this.owedRuns[0];
    this.debt--;
    if (--oldest.count === 0) this.owedRuns.shift();
    this.lose(1);
    this.o.onLost?.(oldest.key, 1);
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
    // A lone late frame is no fault to report: 5 within a second are. (Once up, no need to count: after
    // a long stall every frame missed is lost here in one tick.)
    if (this.behindSince === null && this.drops.filter((t) => now - t < 1000).length >= 5) this.raise(now);
  }

  /**
   * A new encoder (the last one died): its stream starts over, so what was
   * owed to the last one is lost.
   */
  restart(): void {
    const runs = this.owedRuns;
    this.owedRuns = [];
    this.lose(this.debt);
    this.debt = 0;
    for (const run of runs) this.o.onLost?.(run.key, run.count);
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
    this.owedRuns = [];
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
