import type { SidecarOutput } from '../../../protocol/sidecar-env.ts';
import type { HlsSettings } from '../../hls.ts';
import type { VideoMode } from '../../video-modes.ts';
import type { EngineReporter } from '../engine.ts';

/** What an FfmpegEngine is made with: the channel, its output and preview, and the engine's bounds and timings. */
export interface FfmpegEngineOptions {
  mode: VideoMode;
  output: SidecarOutput;
  hls: HlsSettings;
  /** @defaultValue 'ffmpeg' */
  ffmpegPath?: string;
  /** @defaultValue 'ffprobe' */
  ffprobePath?: string;
  /**
   * @defaultValue 4000 — how long before a clip's last frame the engine asks
   * for the next (onCue), so that it is decoding before it is due. Starting a
   * decoder (ffprobe, then ffmpeg opening and seeking the file) takes a few
   * hundred ms on an idle machine and about three seconds on a starved one
   * (measured: 1.3 s for each of ffprobe and ffmpeg to start at a load of 20
   * on 2 cores); an early start costs little, as a decoder stops once 400 ms
   * of frames wait. A clip still not ready when due takes its slot anyway,
   * losing its first frames rather than delaying the schedule.
   */
  prerollMs?: number;
  /** @defaultValue 2000 — how long the output ffmpeg may take to exit on close before SIGKILL */
  killAfterMs?: number;
  /**
   * @defaultValue 15000 — how long the encoder ffmpeg may take to start and
   * catch up with real time (loading: about a second on an idle machine,
   * several on a busy one) before it is killed and started again; meanwhile
   * the session's clock waits for the first one. Once started, an encoder
   * behind real time gets frames dropped, never killed.
   */
  startTimeoutMs?: number;
  /** @defaultValue 3 — encoders in a row that exit without ever starting before playout stops */
  maxFailedStarts?: number;
  /**
   * @defaultValue 1000 — how far behind real time (ms of frames waiting in its
   * pipe) the encoder may fall before further frames are owed to it rather
   * than written (encoder-feed.ts): a short stall of a busy machine is absorbed
   * by the pipe, a longer one by the debt, never by killing the encoder.
   */
  maxBehindMs?: number;
  /**
   * @defaultValue 10000 — how much playout may owe the encoder (ms of frames
   * not yet written, paid back as repeats once it catches up) before frames
   * are lost for good: the output then runs that much short of the wall clock,
   * counted in framesDropped, with ENGINE_BEHIND up and the as-run entry saying
   * so. A machine that can never catch up must not buffer without limit.
   */
  maxDebtMs?: number;
  /** Alarms (OUTPUT_LOST, ENGINE_BEHIND) and fault counters. */
  report?: EngineReporter;
  /** @defaultValue {PATH, LANG} — the whole environment of every ffmpeg and ffprobe started */
  env?: NodeJS.ProcessEnv;
  /** @defaultValue 250 / 1000 — sender restart back-off (see OutputLink) */
  retryFirstMs?: number;
  retryMaxMs?: number;
  now?: () => number;
}
