import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import type { SidecarOutput } from '../../../protocol/sidecar-env.ts';
import { preparePreviewDir, type HlsSettings } from '../../hls.ts';
import { frameMs, type VideoMode } from '../../video-modes.ts';
import type { ClipHandle, ClipListener, Engine, EngineClip } from '../engine.ts';
import { EngineError } from '../engine.ts';
import { blackFrame, BYTES_PER_SAMPLE, outputArgs, programTarget, redact, samplesForFrame, type ProgramTarget } from './args.ts';
import { ClipSource } from './decoder.ts';

export interface FfmpegEngineOptions {
  mode: VideoMode;
  output: SidecarOutput;
  hls: HlsSettings;
  /** @defaultValue 'ffmpeg' */
  ffmpegPath?: string;
  /** @defaultValue 'ffprobe' */
  ffprobePath?: string;
  /**
   * @defaultValue 2000 — how long before a clip's last frame the engine asks
   * for the next (onCue), so that it is decoding before it is due. Starting a
   * decoder (ffprobe, then ffmpeg opening and seeking the file) takes a few
   * hundred ms on an idle machine and can take over a second on a busy one;
   * an early start costs little, as a decoder stops once 400 ms of frames wait.
   */
  prerollMs?: number;
  /** @defaultValue 2000 — how long the output ffmpeg may take to exit on close before SIGKILL */
  killAfterMs?: number;
  /**
   * @defaultValue 15000 — how long the output ffmpeg may take to start and
   * catch up with real time (loading, opening its outputs: about a second on
   * an idle machine, several on a busy one) before it is given up; meanwhile
   * the session's clock waits for it. Once started, 3 s behind is a failure.
   */
  startTimeoutMs?: number;
  now?: () => number;
}

interface Output {
  proc: ChildProcess;
  video: Writable;
  audio: Writable;
  /** performance.now() and epoch ms of output frame 0. */
  t0: number;
  epoch0: number;
  /** Frames written so far (the index of the next one). */
  written: number;
  /** performance.now() at spawn. */
  spawnedAt: number;
  /** It has taken every frame written up to some moment: started, and from then on held to real time (3 s behind: killed). */
  started: boolean;
  timer: NodeJS.Timeout | null;
  closing: boolean;
  /** Why it was killed: it did not start in time, or fell 3 s behind real time once started. */
  killedFor: string | null;
  exited: Promise<void>;
}

/**
 * Gapless playout: ONE output ffmpeg for the session encodes to the channel's
 * output and the HLS preview, fed a continuous raw stream that this class
 * writes frame by frame on its own clock; each clip has a short-lived decoder
 * ffmpeg (decoder.ts) whose frames wait in a queue. At each frame tick the
 * clip at the head of the queue gives its next frame; when it runs out, the
 * next clip's first frame goes out in the very same tick. With nothing ready
 * (a late decoder, a pause) the last frame is repeated with silence, and after
 * a while of nothing to play the output is black: the connection never drops.
 *
 * The output ffmpeg's own start (loading, opening its outputs: slow on a busy
 * machine) is waited for: until it takes frames as fast as they are due it
 * gets black, at most a second of it queued, the clock holding beyond that,
 * and no clip airs; `startTimeoutMs` bounds the wait. Once started, falling
 * 3 s behind real time is a failure (the queue would grow without bound).
 *
 * `prerollMs` before a clip's last frame it asks the sequencer for the next
 * (onCue), whose decoder then starts while those frames still play; onEnd
 * comes at the very tick the clip leaves air. onAir and endedAtMs are the
 * times of the frame ticks themselves, counted from frame 0.
 */
export class FfmpegEngine implements Engine {
  readonly name = 'ffmpeg';
  private target: ProgramTarget | null = null;
  private out: Output | null = null;
  private sources: ClipSource[] = [];
  private paused = false;
  private held: Buffer;
  private readonly black: Buffer;
  private idleFrames = 0;
  private readonly perFrame: number;
  private readonly probes = new Map<string, Promise<boolean>>();
  private readonly now: () => number;
  private pending: (() => void)[] = [];
  /** Clips that asked for their successor already (onCue). */
  private readonly cued = new WeakSet<ClipSource>();

  constructor(private readonly o: FfmpegEngineOptions) {
    this.now = o.now ?? Date.now;
    this.perFrame = frameMs(o.mode);
    this.black = blackFrame(o.mode);
    this.held = this.black;
  }

  async start(): Promise<void> {
    this.target = programTarget(this.o.output);
    await new Promise<void>((resolve, reject) => {
      const p = spawn(this.o.ffmpegPath ?? 'ffmpeg', ['-hide_banner', '-version'], { stdio: 'ignore' });
      p.on('error', (err) => reject(new EngineError(`ffmpeg cannot run: ${err.message}`)));
      p.on('close', (code) => (code === 0 ? resolve() : reject(new EngineError(`ffmpeg -version exited ${code}`))));
    });
    await preparePreviewDir(this.o.hls.dir);
  }

  play(clip: EngineClip, listener: ClipListener): ClipHandle {
    if (!this.target) throw new EngineError('engine not started');
    if (!this.out) this.startOutput(this.target);
    const maxQueued = Math.max(8, Math.ceil(400 / this.perFrame));
    const src = new ClipSource(clip, listener, this.o.mode, this.o.ffmpegPath ?? 'ffmpeg', maxQueued, (s) => this.decoderExited(s));
    this.sources.push(src);
    src.start(this.probes, this.o.ffprobePath ?? 'ffprobe');
    return {
      pause: () => void (this.paused = true),
      resume: () => void (this.paused = false),
      stop: async () => {
        // Out of the queue: a clip queued behind it goes on air at the next frame.
        const at = this.sources.indexOf(src);
        if (at >= 0) this.sources.splice(at, 1);
        src.reported = true;
        src.kill();
        if (at <= 0) this.paused = false;
      },
    };
  }

  async close(): Promise<void> {
    for (const s of this.sources) {
      s.reported = true;
      s.kill();
    }
    this.sources = [];
    const out = this.out;
    if (!out) return;
    out.closing = true;
    if (out.timer) clearTimeout(out.timer);
    // Ending the inputs lets ffmpeg flush the program and close the preview playlist.
    out.video.end();
    out.audio.end();
    const timer = setTimeout(() => out.proc.kill('SIGKILL'), this.o.killAfterMs ?? 2000);
    await out.exited;
    clearTimeout(timer);
  }

  private startOutput(target: ProgramTarget): void {
    const proc = spawn(this.o.ffmpegPath ?? 'ffmpeg', outputArgs(this.o.mode, target, this.o.hls), { stdio: ['pipe', 'ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => void (stderr = (stderr + c).slice(-4000)));
    const video = proc.stdin!;
    const audio = proc.stdio[3] as Writable;
    // A dying ffmpeg closes its pipes: the close handler below reports why.
    video.on('error', () => undefined);
    audio.on('error', () => undefined);
    const out: Output = {
      proc, video, audio, t0: performance.now(), epoch0: this.now(), written: 0, spawnedAt: performance.now(), started: false,
      timer: null, closing: false, killedFor: null,
      exited: new Promise<void>((resolve) => proc.on('close', () => resolve())),
    };
    proc.on('error', (err) => void (stderr += `${err.message}\n`));
    proc.on('close', (code, signal) => {
      if (out.timer) clearTimeout(out.timer);
      if (this.out === out) this.out = null;
      if (out.closing) return;
      const why = out.killedFor ?? (redact(stderr.trim().split('\n').slice(-3).join(' | '), target.secrets) || 'no message');
      const failed = this.sources;
      this.sources = [];
      for (const s of failed) {
        s.kill();
        if (!s.reported) {
          s.reported = true;
          s.listener.onEnd({ ok: false, message: `output ffmpeg exited ${code ?? signal}: ${why}` });
        }
      }
    });
    this.out = out;
    this.held = this.black;
    this.tick();
  }

  /** Writes every frame due by now, then sleeps until the next one is. */
  private tick = (): void => {
    const out = this.out;
    if (!out || out.closing) return;
    let due = Math.floor((performance.now() - out.t0) / this.perFrame);
    // After a long stall (a blocked event loop) re-anchor rather than burst.
    if (due - out.written > 25) {
      this.shiftClock(out, due - out.written);
      due = out.written;
    }
    if (!out.started && due >= out.written && !this.starting(out)) {
      // Still starting, with a second of black waiting: no clip has aired yet, so the session's
      // clock waits for the encoder rather than queue more frames than it can take.
      this.shiftClock(out, due - out.written + 1);
      due = out.written - 1;
    }
    while (out.written <= due) this.writeFrame(out);
    const calls = this.pending;
    this.pending = [];
    for (const call of calls) call();
    if (this.out !== out || out.closing) return;
    out.timer = setTimeout(this.tick, Math.max(1, out.t0 + out.written * this.perFrame - performance.now()));
  };

  private shiftClock(out: Output, frames: number): void {
    out.t0 += frames * this.perFrame;
    out.epoch0 += frames * this.perFrame;
  }

  /**
   * Before the output ffmpeg has started (it reads a frame, then opens its
   * outputs before it reads on), whether another frame may be queued for it:
   * up to a second's worth, within the start timeout (past it, it is killed).
   */
  private starting(out: Output): boolean {
    // Killed, or its input closed: its exit is on the way.
    if (out.killedFor || out.video.destroyed) return false;
    const frame = this.black.length;
    const backlog = out.video.writableLength;
    if (out.written * frame - backlog >= 2 * frame && backlog <= 2 * frame) {
      out.started = true;
      return true;
    }
    const limitMs = this.o.startTimeoutMs ?? 15_000;
    if (performance.now() - out.spawnedAt > limitMs) {
      this.kill(out, `the encoder did not catch up with real time within ${limitMs / 1000} s of starting`);
      return false;
    }
    return backlog < frame * Math.ceil(1000 / this.perFrame);
  }

  private kill(out: Output, why: string): void {
    if (out.killedFor) return;
    out.killedFor = why;
    out.proc.kill('SIGKILL');
  }

  /** Epoch ms at which output frame n starts on air. */
  private at(out: Output, n: number): number {
    return Math.round(out.epoch0 + n * this.perFrame);
  }

  private writeFrame(out: Output): void {
    const n = out.written;
    const samples = samplesForFrame(this.o.mode, n);
    let video = this.held;
    let audio: Buffer | null = null;
    // Clips wait for a started encoder: what airs before it takes frames in real time is black.
    if (!this.paused && out.started) {
      while (this.sources[0]?.exhausted) this.finish(this.sources.shift()!, this.at(out, n));
      const src = this.sources[0];
      if (src?.ready(samples)) {
        ({ video, audio } = src.take(samples));
        this.held = video;
        if (src.aired === 1 && !src.reported) {
          const startedAt = this.at(out, n);
          this.pending.push(() => src.listener.onAir(startedAt));
        }
        // Ask for the next clip one preroll ahead, so that it decodes in time.
        if (!this.cued.has(src) && src.remaining * this.perFrame <= (this.o.prerollMs ?? 2000)) {
          this.cued.add(src);
          this.pending.push(() => src.listener.onCue?.());
        }
      }
      this.idleFrames = this.sources.length ? 0 : this.idleFrames + 1;
      if (this.idleFrames * this.perFrame > 500) this.held = this.black;
    }
    out.video.write(video);
    out.audio.write(audio ?? Buffer.alloc(samples * BYTES_PER_SAMPLE));
    out.written++;
    // An encoder slower than real time would otherwise grow this buffer without bound.
    if (out.started && out.video.writableLength > video.length * 3 * Math.ceil(1000 / this.perFrame)) this.kill(out, 'the encoder fell 3 s behind real time');
  }

  private finish(src: ClipSource, endedAtMs: number): void {
    src.kill();
    if (src.reported) return;
    src.reported = true;
    this.pending.push(() => src.listener.onEnd({ ok: true, endedAtMs }));
  }

  private decoderExited(src: ClipSource): void {
    if (!src.failure || src.reported) return;
    // A clip that fails leaves at once; what it had queued is dropped.
    const at = this.sources.indexOf(src);
    if (at >= 0) this.sources.splice(at, 1);
    src.reported = true;
    src.kill();
    const message = this.target ? redact(src.failure, this.target.secrets) : src.failure;
    src.listener.onEnd({ ok: false, message });
  }
}
