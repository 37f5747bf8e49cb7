import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { preparePreviewDir } from '../../hls.ts';
import { frameFrom, frameStartMs, type FrameRate } from '../../../schedule/frames.ts';
import { frameMs } from '../../video-modes.ts';
import type { ClipHandle, ClipListener, Engine, EngineClip } from '../engine.ts';
import { EngineError } from '../engine.ts';
import {
  blackFrame,
  BYTES_PER_SAMPLE,
  encoderArgs,
  programTarget,
  redact,
  samplesForFrame,
  type ProgramTarget,
} from './args.ts';
import { ClipQueue } from './clip-queue.ts';
import { ClipSource, probeAudio } from './decoder.ts';
import { type Encoder, mayQueue, spawnEncoder } from './encoder.ts';
import { EncoderFeed } from './encoder-feed.ts';
import type { FfmpegEngineOptions } from './options.ts';
import { OutputLink } from './output-link.ts';

/** The session's frame clock: it runs whatever the encoder and the output do. */
interface Clock {
  /** performance.now() of frame 0. */
  t0: number;
  /** The channel's number of frame 0 (frame n of a channel starts n frames after the Unix epoch: src/schedule/frames.ts). */
  frame0: number;
  /** Frames made so far (the index of the next one). */
  n: number;
  timer: NodeJS.Timeout | null;
}

/**
 * Gapless playout that never stops for a fault that can pass. This class
 * makes a continuous raw stream frame by frame on its own clock; each clip has
 * a short-lived decoder ffmpeg (decoder.ts) whose frames wait in a queue. At
 * each frame tick the clip at the head of the queue gives its next frame; when
 * it runs out, the next clip's first frame goes out in the very same tick.
 * With nothing ready (a late decoder, a pause) the last frame is repeated with
 * silence, and after a while of nothing to play the output is black.
 *
 * The frames go to ONE encoder ffmpeg for the session (program as MPEG-TS on
 * a pipe, HLS preview to files), and the program from it to a sender ffmpeg
 * (output-link.ts) that holds the connection to the receiver. The parts are
 * decoupled so that the clock never waits:
 * - the receiver going away ends the sender only; the program is dropped
 *   until a new sender is connected (OUTPUT_LOST meanwhile), items advance
 *   on time and the preview goes on;
 * - an encoder that falls `maxBehindMs` behind real time is owed the frames
 *   it cannot take, which it gets as repeats once it catches up, so that its
 *   output keeps the wall clock's frame count (encoder-feed.ts); past
 *   `maxDebtMs` owed, frames are lost (ENGINE_BEHIND, framesDropped), never
 *   the encoder;
 * - an encoder that dies is started again while the clock runs on; only
 *   `maxFailedStarts` in a row that never start, or an output the sender
 *   refuses outright, end the clips as fatal: playout stops, saying why.
 *
 * The first encoder's start (loading: slow on a busy machine) is waited for:
 * until it takes frames as fast as they are due it gets black, at most a
 * second of it queued, the clock holding beyond that, and no clip airs.
 *
 * `prerollMs` before a clip's last frame it asks the sequencer for the next
 * (onCue), whose decoder then starts while those frames still play; onEnd
 * comes at the very tick the clip leaves air. onAir and endedAtMs are the
 * times of the frame ticks themselves, counted from frame 0.
 *
 * A clip queued behind another with a transition (EngineClip.transition)
 * takes air its length in frames before the clip on air runs out (less when
 * less is left): the outgoing clip's onEnd (played out, not cut) and the
 * incoming one's onAir come at that frame, and for those frames the output
 * blends the outgoing clip's last frames with the incoming one's first
 * (mix.ts). The outgoing decoder lives until its last frame is blended; a
 * skip of the incoming clip, a pause, a timed start or the session's end
 * takes the tail off air at once. An incoming clip whose decoder is late
 * loses its frames (the tail shows alone); one that fails leaves the tail to
 * play out alone, then what follows airs.
 *
 * Frame 0 falls on the channel's frame grid (frame n of a channel starts
 * n × den / num s after the Unix epoch, as src/schedule plans), so a timed
 * start (EngineClip.startAtMs) names one frame of this clock. A timed clip's
 * decoder starts when it is played (seconds ahead) and stops once 400 ms of
 * frames wait; at its frame the clips queued before it are cut and its first
 * frame goes out in that very tick, the output running on without a gap.
 */
export class FfmpegEngine implements Engine {
  readonly name = 'ffmpeg';
  private target: ProgramTarget | null = null;
  private enc: Encoder | null = null;
  private clock: Clock | null = null;
  private link: OutputLink | null = null;
  private readonly queue: ClipQueue;
  private held: Buffer;
  private readonly black: Buffer;
  private idleFrames = 0;
  private readonly perFrame: number;
  /** The channel's frame rate, for exact frame times (frames, not fields). */
  private readonly rate: FrameRate;
  private readonly probes = new Map<string, Promise<boolean>>();
  /** Closed: no more background probes. */
  private closed = false;
  /** The background probes of prefetch(), one at a time. */
  private prefetching: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly env: NodeJS.ProcessEnv;
  /** Clips that asked for their successor already (onCue). */
  private readonly cued = new WeakSet<ClipSource>();
  /** An encoder has started this session: from then on the clock never waits. */
  private everStarted = false;
  private failedStarts = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  /** What the encoder is owed, and the ENGINE_BEHIND alarm. */
  private readonly feed: EncoderFeed<ClipSource | null>;

  constructor(private readonly o: FfmpegEngineOptions) {
    this.now = o.now ?? Date.now;
    this.perFrame = frameMs(o.mode);
    this.queue = new ClipQueue({ mode: o.mode, perFrame: this.perFrame });
    this.rate = { num: o.mode.timeScale, den: o.mode.duration };
    this.black = blackFrame(o.mode);
    this.held = this.black;
    this.env = o.env ?? { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' };
    this.feed = new EncoderFeed({
      perFrame: this.perFrame,
      maxBehindMs: o.maxBehindMs ?? 1000,
      maxDebtMs: o.maxDebtMs ?? 10_000,
      silence: (n) => Buffer.alloc(samplesForFrame(o.mode, n) * BYTES_PER_SAMPLE),
      report: o.report,
      onLost: (src, frames) => this.charge(src, frames),
    });
  }

  async start(): Promise<void> {
    this.target = programTarget(this.o.output);
    await new Promise<void>((resolve, reject) => {
      const p = spawn(this.o.ffmpegPath ?? 'ffmpeg', ['-hide_banner', '-version'], { stdio: 'ignore', env: this.env });
      p.on('error', (err) => reject(new EngineError(`ffmpeg cannot run: ${err.message}`)));
      p.on('close', (code) => (code === 0 ? resolve() : reject(new EngineError(`ffmpeg -version exited ${code}`))));
    });
    await preparePreviewDir(this.o.hls.dir);
  }

  /**
   * Probes the files one after the other, in the background, into the cache
   * the decoders read: a clip put on air at once (skip) spawns its decoder
   * without first waiting for ffprobe (1.5 s on a busy machine). Files that
   * are missing now are left to the decoder, which reports them.
   */
  prefetch(files: string[]): void {
    const ffprobe = this.o.ffprobePath ?? 'ffprobe';
    const todo = [...new Set(files)].filter((f) => !this.probes.has(f));
    this.prefetching = todo.reduce(
      (chain, file) =>
        chain.then(async () => {
          if (this.closed || this.probes.has(file)) return;
          const readable = await access(file, constants.R_OK).then(
            () => true,
            () => false,
          );
          if (readable) await probeAudio(this.probes, ffprobe, file, this.env);
        }),
      this.prefetching,
    );
  }

  play(clip: EngineClip, listener: ClipListener): ClipHandle {
    if (!this.target) throw new EngineError('engine not started');
    if (!this.clock) this.startSession(this.target);
    const maxQueued = Math.max(8, Math.ceil(400 / this.perFrame));
    const src = new ClipSource(
      clip,
      listener,
      this.o.mode,
      this.o.ffmpegPath ?? 'ffmpeg',
      maxQueued,
      (s) => this.decoderExited(s),
      this.env,
    );
    // Its instant already past (or its frame already made): it cuts as soon as it has a frame to show.
    const clock = this.clock!;
    if (clip.startAtMs !== undefined && this.frameFrom(clock, clip.startAtMs) < clock.n) src.lateStart = true;
    this.queue.sources.push(src);
    src.start(this.probes, this.o.ffprobePath ?? 'ffprobe');
    return {
      pause: () => void (this.queue.paused = true),
      resume: () => void (this.queue.paused = false),
      stop: async () => this.queue.remove(src),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.endSession();
  }

  /** The output as alarms name it: the URL without stream key or passphrase. */
  private label(): string {
    const o = this.o.output;
    const url = 'url' in o ? o.url : o.type;
    return `${o.type} ${redact(url, this.target?.secrets ?? [])}`;
  }

  private startSession(target: ProgramTarget): void {
    // The first frame is the channel's next frame boundary: every frame of the session is then one of the grid's.
    const wall = this.now();
    const frame0 = frameFrom(wall, this.rate);
    const startsIn = (frame0 * 1000 * this.rate.den) / this.rate.num - wall;
    this.clock = { t0: performance.now() + startsIn, frame0, n: 0, timer: null };
    this.everStarted = false;
    this.failedStarts = 0;
    this.held = this.black;
    this.link = new OutputLink({
      target,
      label: this.label(),
      ffmpegPath: this.o.ffmpegPath ?? 'ffmpeg',
      env: this.env,
      report: this.o.report,
      retryFirstMs: this.o.retryFirstMs,
      retryMaxMs: this.o.retryMaxMs,
      onFatal: (message) => this.fatal(message),
    });
    this.link.start();
    this.startEncoder();
    this.tick();
  }

  private async endSession(): Promise<void> {
    for (const s of this.queue.clear()) s.reported = true;
    const clock = this.clock;
    this.clock = null;
    if (clock?.timer) clearTimeout(clock.timer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.feed.end();
    const enc = this.enc;
    this.enc = null;
    const link = this.link;
    this.link = null;
    if (enc) {
      enc.closing = true;
      // Ending the inputs lets ffmpeg flush the program and close the preview playlist.
      enc.video.end();
      enc.audio.end();
      const timer = setTimeout(() => enc.proc.kill('SIGKILL'), this.o.killAfterMs ?? 2000);
      await enc.exited;
      clearTimeout(timer);
    }
    await link?.close();
    this.o.report?.clear?.('OUTPUT_LOST');
  }

  /** Nothing can be played any more: every clip ends as fatal (the sequencer stops) and the session closes. */
  private fatal(message: string): void {
    for (const s of this.queue.clear()) {
      if (!s.reported) {
        s.reported = true;
        s.listener.onEnd({ ok: false, fatal: true, message });
      }
    }
    void this.endSession();
  }

  private startEncoder(): void {
    // A new stream: the sender starts over on it, and what the last encoder was owed is lost.
    this.link?.resetStream();
    this.feed.restart();
    this.enc = spawnEncoder({
      ffmpegPath: this.o.ffmpegPath ?? 'ffmpeg',
      args: encoderArgs(this.o.mode, this.o.hls),
      env: this.env,
      onProgram: (chunk) => this.link?.send(chunk),
      onExit: (enc, message) => {
        if (this.enc === enc) this.enc = null;
        if (!this.clock) return;
        if (!enc.started && ++this.failedStarts >= (this.o.maxFailedStarts ?? 3)) {
          this.fatal(`${message} (${this.failedStarts} starts in a row failed)`);
          return;
        }
        this.o.report?.error(`${message}; starting it again`);
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          if (this.clock && !this.enc) this.startEncoder();
        }, 250);
      },
    });
  }

  /** Makes every frame due by now, then sleeps until the next one is. */
  private tick = (): void => {
    const clock = this.clock;
    if (!clock) return;
    // After a stall (a starved or blocked process) the frames missed are all made now: the clips advance
    // by them, so items keep their time, and what the encoder cannot take at once is owed to it.
    let due = Math.floor((performance.now() - clock.t0) / this.perFrame);
    const enc = this.enc;
    if (!this.everStarted && due >= clock.n && !(enc && this.starting(enc))) {
      // The first encoder is still starting, with a second of black waiting: no clip has aired yet,
      // so the session's clock waits for it rather than queue more frames than it can take.
      this.shiftClock(clock, due - clock.n + 1);
      due = clock.n - 1;
    }
    while (clock.n <= due) this.makeFrame(clock);
    this.feed.check();
    this.queue.flush();
    if (this.clock !== clock) return;
    clock.timer = setTimeout(this.tick, Math.max(1, clock.t0 + clock.n * this.perFrame - performance.now()));
  };

  private shiftClock(clock: Clock, frames: number): void {
    clock.t0 += frames * this.perFrame;
    clock.frame0 += frames;
  }

  /** Whether a frame may be written to the encoder now (mayQueue); the session's clock runs free once one has started. */
  private starting(enc: Encoder): boolean {
    const was = enc.started;
    const ok = mayQueue(enc, this.black.length, this.perFrame, this.o.startTimeoutMs ?? 15_000);
    if (!was && enc.started) {
      this.everStarted = true;
      this.failedStarts = 0;
    }
    return ok;
  }

  /** Epoch ms at which frame n starts on air (whole ms, rounded down, as the schedule plans it). */
  private at(clock: Clock, n: number): number {
    return frameStartMs(clock.frame0 + n, this.rate);
  }

  /** The first frame of this clock starting at or after `ms`. */
  private frameFrom(clock: Clock, ms: number): number {
    return frameFrom(ms, this.rate) - clock.frame0;
  }

  /**
   * Makes frame n: the clips advance whatever becomes of it (a clip whose
   * decoder is late loses the frame rather than the time, the last one shown
   * again); then it is fed to the encoder, or owed to it (encoder-feed.ts).
   */
  private makeFrame(clock: Clock): void {
    const n = clock.n;
    const queue = this.queue;
    let drop = false;
    /** The clip this frame is of (null: held or black): what its repeats show if it is owed, and who lost it. */
    let shownBy: ClipSource | null = null;
    const samples = samplesForFrame(this.o.mode, n);
    let video = this.held;
    let audio: Buffer | null = null;
    // Clips wait for the first encoder: what airs before it takes frames in real time is black.
    if (this.everStarted) {
      queue.advance(this.at(clock, n));
      // The timed clip whose frame has come (a late one once its decoder has a frame ready) takes air.
      const due = (s: ClipSource) =>
        this.frameFrom(clock, s.clip.startAtMs!) <= n && (!s.lateStart || s.ready(samples));
      queue.takeTimed(due, this.at(clock, n));
    }
    if (!queue.paused && this.everStarted) {
      const mix = queue.mix;
      // A timed clip at the head waits for its frame: until then the output holds the last frame (black after a while).
      // An incoming clip gone during its transition (it failed): the outgoing tail plays alone, what follows waits.
      const head = mix && mix.into !== queue.sources[0] ? undefined : queue.sources[0];
      const src = head?.timed ? undefined : head;
      let fresh = false;
      // A clip on air (or due now) whose decoder lags goes on with what it has: a frame without its
      // audio (silence, the late audio dropped), or no frame (the frame lost, the clip keeps its time).
      const late = !!src && !src.reported && (src.aired > 0 || src.due) && !src.ready(samples);
      if (src && (src.ready(samples) || (late && src.queued > 0))) {
        ({ video, audio } = src.take(samples));
        fresh = true;
        this.held = video;
        if (src.taken === 1 && !src.reported) {
          // A clip that took its slot before its decoder caught up aired from the start of the slot.
          const startedAt = src.dueAt ?? this.at(clock, n);
          queue.later(() => src.listener.onAir(startedAt));
        }
        // Ask for the next clip one preroll ahead, so that it decodes in time.
        if (!this.cued.has(src) && src.remaining * this.perFrame <= (this.o.prerollMs ?? 4000)) {
          this.cued.add(src);
          queue.later(() => src.listener.onCue?.());
        }
      } else if (src && late) {
        // On air (or due to follow the clip before it now), but its decoder is behind real time
        // (a starved machine): the frame is lost, the clip keeps its time, the last frame shows again.
        // Its slot starts now; it is logged on air with its first real frame (a clip that fails
        // before showing one never aired).
        if (src.aired === 0) src.dueAt = this.at(clock, n);
        src.skip(samples);
        drop = true;
        if (!this.cued.has(src) && src.remaining * this.perFrame <= (this.o.prerollMs ?? 4000)) {
          this.cued.add(src);
          queue.later(() => src.listener.onCue?.());
        }
      }
      if (mix && !mix.over) {
        // Under the transition: the outgoing clip's frame, blended with the incoming one's when it has one.
        const made = mix.next(samples, fresh ? { video, audio: audio! } : null);
        if (made) ({ video, audio } = made);
        else drop = true;
        this.held = video;
      }
      if (src && (src.taken > 0 || late)) shownBy = src;
      this.idleFrames = src || mix ? 0 : this.idleFrames + 1;
      if (this.idleFrames * this.perFrame > 500) this.held = this.black;
    }
    clock.n++;
    // A lagging decoder's frame is lost (the last one shows again in its place), not its time.
    if (drop) this.feed.lose(1);
    const sound = audio ?? Buffer.alloc(samples * BYTES_PER_SAMPLE);
    const enc = this.enc;
    if (enc && this.starting(enc) && !enc.video.destroyed) {
      if (enc.started) {
        this.feed.feed(enc, n, video, sound, shownBy);
        return;
      }
      // Starting: what it gets before it keeps up is its run-in, not yet the output's timeline.
      enc.video.write(video);
      enc.audio.write(sound);
      enc.fed++;
      return;
    }
    // No encoder taking frames (one starting again, whose stream starts over): this frame is lost.
    if (this.everStarted) {
      this.feed.lose(1);
      this.charge(shownBy, 1);
    }
  }

  /**
   * Frames lost for good count against the clip they were of, whose as-run
   * entry says so; once that clip has ended (its entry written), against the
   * clip on air.
   */
  private charge(of: ClipSource | null, frames: number): void {
    const head = this.queue.sources[0];
    const src = of && !of.reported ? of : head && !head.timed && !head.reported && head.aired > 0 ? head : null;
    if (src && frames > 0) src.framesLost += frames;
  }

  private decoderExited(src: ClipSource): void {
    if (!src.failure || src.reported) return;
    // A clip that fails leaves at once; what it had queued is dropped.
    const at = this.queue.sources.indexOf(src);
    if (at >= 0) this.queue.sources.splice(at, 1);
    src.reported = true;
    src.kill();
    const message = this.target ? redact(src.failure, this.target.secrets) : src.failure;
    src.listener.onEnd({ ok: false, message });
  }
}
