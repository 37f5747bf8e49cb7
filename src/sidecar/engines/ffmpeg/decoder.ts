import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { VideoMode } from '../../video-modes.ts';
import type { ClipListener, EngineClip } from '../engine.ts';
import { BYTES_PER_SAMPLE, decoderArgs, frameBytes, framesFor, probeArgs } from './args.ts';

/**
 * Whether the file has an audio stream (ffprobe), once per file: the first
 * ask runs ffprobe, later ones share its answer. A probe that fails reads as
 * no audio; the decoder then says what is wrong with the file.
 */
export function probeAudio(
  cache: Map<string, Promise<boolean>>,
  ffprobePath: string,
  file: string,
  env: NodeJS.ProcessEnv,
): Promise<boolean> {
  let probe = cache.get(file);
  if (!probe) {
    probe = new Promise<boolean>((resolve) =>
      execFile(ffprobePath, probeArgs(file), { env }, (err, out) => resolve(!err && String(out).includes('audio'))),
    );
    cache.set(file, probe);
  }
  return probe;
}

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
  /** Frames and audio bytes given up for lost (skip) that the decoder still has to deliver: dropped on arrival. */
  private frameDebt = 0;
  private audioDebt = 0;
  private proc: ChildProcess | null = null;
  private killed = false;
  /** The decoder has finished (or there is nothing more to take from it). */
  complete = false;
  audioEnded = false;
  aired = 0;
  /** It follows a clip that has ended: it is on air from now, its frames ready or not. */
  due = false;
  /** When its slot began, if before its first frame was ready. */
  dueAt: number | null = null;
  /** Frames really taken (aired also counts frames lost to a late decoder). */
  taken = 0;
  /** The picture of the last frame taken: what a transition blends in place of one its decoder lost. */
  lastVideo: Buffer | null = null;
  /**
   * A timed start (clip.startAtMs) still to take air: it waits at its place in
   * the queue, decoding ahead, and the clips before it are cut at its frame.
   */
  timed: boolean;
  /** Its instant had passed when it was played: it cuts at the first frame its decoder has ready. */
  lateStart = false;
  /** Frames lost for good while it aired (playout fell behind by more than the encoder can be owed). */
  framesLost = 0;
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
    /** The decoder's and probe's whole environment (see childEnvironment). */
    private readonly env: NodeJS.ProcessEnv = {},
  ) {
    this.total = framesFor(mode, clip.durationMs);
    this.timed = clip.startAtMs !== undefined;
  }

  /**
   * Checks the file is there and readable (a clip deleted or unmounted since
   * the playlist was loaded fails here, with a reason that says so), probes
   * for audio (cached per file), then spawns the decoder.
   */
  start(probeCache: Map<string, Promise<boolean>>, ffprobePath: string): void {
    void access(this.clip.file, constants.R_OK).then(
      () =>
        probeAudio(probeCache, ffprobePath, this.clip.file, this.env).then((hasAudio) => {
          if (!this.killed) this.spawnDecoder(hasAudio);
        }),
      (err: NodeJS.ErrnoException) => {
        if (this.killed) return;
        this.complete = true;
        this.audioEnded = true;
        this.failure =
          err.code === 'ENOENT'
            ? 'media file missing from the playout volume'
            : `media file unreadable (${err.code ?? err.message})`;
        this.onExit(this);
      },
    );
  }

  private spawnDecoder(hasAudio: boolean): void {
    const proc = spawn(this.ffmpegPath, decoderArgs(this.clip, this.mode, hasAudio), {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      env: this.env,
    });
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
        if (this.frameDebt > 0) this.frameDebt--;
        else this.frames.push(Buffer.from(all.subarray(0, size)));
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
        const owed = Math.min(this.audioDebt, chunk.length);
        this.audioDebt -= owed;
        if (owed === chunk.length) return;
        this.audio.push(owed ? chunk.subarray(owed) : chunk);
        this.audioBytes += chunk.length - owed;
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
        this.failure = stderr.includes('not on whitelist')
          ? 'not a playable media file: its format is not allowed (playlists such as HLS or concat lists are refused)'
          : `media file unreadable: decoder exited ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ') || 'no message'}`;
      } else if (this.received === 0) this.failure = 'media file unreadable: the decoder produced no frames';
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

  /**
   * Counts the next frame as aired without it: the decoder is behind real
   * time. Its frame and audio are dropped when they arrive, so the clip stays
   * in sync and ends on time.
   */
  skip(samples: number): void {
    this.aired++;
    if (this.frames.length > 0) this.frames.shift();
    else this.frameDebt++;
    let want = samples * BYTES_PER_SAMPLE;
    while (want > 0 && this.audio.length) {
      const head = this.audio[0];
      const n = Math.min(head.length, want);
      want -= n;
      this.audioBytes -= n;
      if (n === head.length) this.audio.shift();
      else this.audio[0] = head.subarray(n);
    }
    this.audioDebt += want;
    this.proc?.stdout?.resume();
  }

  /** Takes the next frame and its audio (silence-padded when the audio ran out). */
  take(samples: number): { video: Buffer; audio: Buffer } {
    const video = this.frames.shift()!;
    this.aired++;
    this.taken++;
    this.lastVideo = video;
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
    // Audio still to come for this frame is dropped when it arrives, so sound stays with picture.
    if (!this.audioEnded) this.audioDebt += want - filled;
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
