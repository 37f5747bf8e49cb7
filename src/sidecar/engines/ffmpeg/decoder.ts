import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { VideoMode } from '../../video-modes.ts';
import type { ClipListener, EngineClip } from '../engine.ts';
import { BYTES_PER_SAMPLE, decoderArgs, frameBytes, framesFor, probeArgs } from './args.ts';

/**
 * One clip's decoder ffmpeg and the frames it has delivered but the output has
 * not yet aired. Reading stops (backpressure on the pipe) once `maxQueued`
 * frames wait, so a clip never sits whole in memory; audio is small and always
 * read, so the decoder never blocks on it.
 */
export class ClipSource {
  /** Frames the clip's duration needs; extra decoded frames are dropped. */
  readonly total: number;
  private readonly frames: Buffer[] = [];
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private audio: Buffer[] = [];
  private audioBytes = 0;
  private received = 0;
  private proc: ChildProcess | null = null;
  private killed = false;
  /** The decoder has finished (or there is nothing more to take from it). */
  complete = false;
  audioEnded = false;
  aired = 0;
  /** onEnd was sent (or the clip was stopped): no further callbacks. */
  reported = false;
  failure: string | null = null;

  constructor(
    readonly clip: EngineClip,
    readonly listener: ClipListener,
    private readonly mode: VideoMode,
    private readonly ffmpegPath: string,
    private readonly maxQueued: number,
    /** Called when the decoder exits on its own, so the engine can react to a failure. */
    private readonly onExit: (src: ClipSource) => void,
  ) {
    this.total = framesFor(mode, clip.durationMs);
  }

  /** Probes for audio (cached per file), then spawns the decoder. */
  start(probeCache: Map<string, Promise<boolean>>, ffprobePath: string): void {
    let probe = probeCache.get(this.clip.file);
    if (!probe) {
      probe = new Promise<boolean>((resolve) =>
        execFile(ffprobePath, probeArgs(this.clip.file), (err, out) => resolve(!err && String(out).includes('audio'))),
      );
      probeCache.set(this.clip.file, probe);
    }
    void probe.then((hasAudio) => {
      if (this.killed) return;
      this.spawnDecoder(hasAudio);
    });
  }

  private spawnDecoder(hasAudio: boolean): void {
    const proc = spawn(this.ffmpegPath, decoderArgs(this.clip, this.mode, hasAudio), { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    const size = frameBytes(this.mode);
    let stderr = '';
    const video = proc.stdout!;
    video.on('data', (chunk: Buffer) => {
      if (this.received >= this.total) return;
      this.partial.push(chunk);
      this.partialBytes += chunk.length;
      while (this.partialBytes >= size && this.received < this.total) {
        const all = this.partial.length === 1 ? this.partial[0] : Buffer.concat(this.partial, this.partialBytes);
        this.frames.push(Buffer.from(all.subarray(0, size)));
        this.received++;
        const rest = all.subarray(size);
        this.partial = rest.length ? [rest] : [];
        this.partialBytes = rest.length;
      }
      if (this.received >= this.total) {
        // Everything the duration needs is here: drain the rest and finish.
        this.complete = true;
        this.partial = [];
        this.partialBytes = 0;
      } else if (this.frames.length >= this.maxQueued) video.pause();
    });
    const audio = proc.stdio[3] as Readable;
    if (hasAudio) {
      audio.on('data', (chunk: Buffer) => {
        this.audio.push(chunk);
        this.audioBytes += chunk.length;
      });
      audio.on('end', () => void (this.audioEnded = true));
    } else {
      this.audioEnded = true;
      audio.resume();
    }
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => void (stderr = (stderr + c).slice(-2000)));
    proc.on('error', (err) => void (stderr += `${err.message}\n`));
    proc.on('close', (code, signal) => {
      this.audioEnded = true;
      this.complete = true;
      if (this.killed) return;
      if (code !== 0 && this.received < this.total) {
        this.failure = `decoder exited ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ') || 'no message'}`;
      } else if (this.received === 0) this.failure = 'decoder produced no frames';
      this.onExit(this);
    });
  }

  get queued(): number {
    return this.frames.length;
  }

  /** Frames of this clip still to air: known exactly once the decoder is done. */
  get remaining(): number {
    return this.complete ? this.frames.length : this.total - this.aired;
  }

  /** The clip has aired everything it will. */
  get exhausted(): boolean {
    return this.aired >= this.total || (this.complete && this.frames.length === 0);
  }

  /** Its next frame can go out now (its audio too, unless the audio is over). */
  ready(samples: number): boolean {
    return this.frames.length > 0 && (this.audioEnded || this.audioBytes >= samples * BYTES_PER_SAMPLE);
  }

  /** Takes the next frame and its audio (silence-padded when the audio ran out). */
  take(samples: number): { video: Buffer; audio: Buffer } {
    const video = this.frames.shift()!;
    this.aired++;
    if (this.frames.length < this.maxQueued && !this.complete) this.proc?.stdout?.resume();
    const want = samples * BYTES_PER_SAMPLE;
    const audio = Buffer.alloc(want);
    let filled = 0;
    while (filled < want && this.audio.length) {
      const head = this.audio[0];
      const n = Math.min(head.length, want - filled);
      head.copy(audio, filled, 0, n);
      filled += n;
      if (n === head.length) this.audio.shift();
      else this.audio[0] = head.subarray(n);
    }
    this.audioBytes -= filled;
    return { video, audio };
  }

  kill(): void {
    this.killed = true;
    this.complete = true;
    this.frames.length = 0;
    this.audio = [];
    this.audioBytes = 0;
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
}
