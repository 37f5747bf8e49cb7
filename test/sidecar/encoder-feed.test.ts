import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { EncoderFeed } from '../../src/sidecar/engines/ffmpeg/encoder-feed.ts';

/** An encoder's pipe that takes nothing until told to: what a stopped encoder is to the engine. */
class StoppedPipe extends Writable {
  /** What the encoder read, in order. */
  readonly taken: string[] = [];
  private waiting: (() => void)[] = [];
  override _write(chunk: Buffer, _: BufferEncoding, done: () => void): void {
    this.taken.push(chunk.toString());
    this.waiting.push(done);
  }
  /** The encoder runs again and reads everything written so far. */
  async drain(): Promise<void> {
    while (this.waiting.length) {
      for (const done of this.waiting.splice(0)) done();
      await sleep(0);
    }
  }
}

// Frames of four bytes named by their wall frame: what the encoder got shows where each one went.
const frame = (n: number) => Buffer.from(`f${String(n).padStart(3, '0')}`);

describe('EncoderFeed', () => {
  it('owes the frames a stopped encoder cannot take, loses the oldest past its bound, and pays the rest back in order', async () => {
    const video = new StoppedPipe();
    const audio = new Writable({ write: (_c, _e, done) => done() });
    const sink = { video, audio, fed: 0 };
    const lost: string[] = [];
    const report = { raised: [] as string[], cleared: [] as string[], dropped: 0 };
    // 40 ms frames; 80 ms may wait in the pipe (2 frames, and the one being read: 3), 200 ms owed (5 frames).
    const feed = new EncoderFeed<string>({
      perFrame: 40,
      maxBehindMs: 80,
      maxDebtMs: 200,
      silence: () => Buffer.alloc(4),
      onLost: (clip, n) => lost.push(`${clip}×${n}`),
      report: {
        error: () => undefined,
        count: (_name, n = 1) => void (report.dropped += n),
        raise: (kind) => void report.raised.push(kind),
        clear: (kind) => void report.cleared.push(kind),
      },
    });
    // Frames 0–5 of clip a, 6–9 of clip b, the encoder taking none of them after the first three.
    for (let n = 0; n < 10; n++) feed.feed(sink, n, frame(n), Buffer.alloc(4), n < 6 ? 'a' : 'b');
    expect([sink.fed, video.writableLength]).toEqual([3, 12]);
    expect(feed.owed).toBe(5);
    // Seven owed, two past the bound: the oldest, clip a's.
    expect(lost).toEqual(['a×1', 'a×1']);
    feed.lose(3);
    expect(report.raised).toEqual(['ENGINE_BEHIND']);
    await sleep(2100);
    feed.check();
    // Quiet for 2 s, but frames are still owed: the alarm stays up.
    expect(report.cleared).toEqual([]);

    // The encoder runs again: each tick the owed frames go first, each clip's run as its first owed frame.
    for (let n = 10; n < 13; n++) {
      await video.drain();
      feed.feed(sink, n, frame(n), Buffer.alloc(4), 'b');
    }
    await video.drain();
    expect(video.taken).toEqual([
      'f000',
      'f001',
      'f002',
      'f003', // clip a's one owed frame left
      'f006', // clip b from here: its first frame on output frame 4 = wall frame 6 less the 2 lost
      'f006',
      'f006',
      'f006',
      'f006',
      'f011', // frame 11 owed behind them, then 12 in its place
      'f012',
    ]);
    expect(sink.fed).toBe(13 - 2);
    expect(feed.owed).toBe(0);
    expect(report.dropped).toBe(5);
    feed.check();
    expect(report.cleared).toEqual(['ENGINE_BEHIND']);
  });
});
