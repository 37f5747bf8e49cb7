/**
 * What the sequencer needs from a playout engine (ffmpeg, CasparCG).
 * The sequencer owns order, loop, skip and the event log; an engine only puts
 * one clip on air at a time and says when it really reached air and when it
 * left. Kept small on purpose so a second engine plugs in beside the first.
 */

export interface EngineClip {
  itemId: string;
  /** Absolute path on the media volume. */
  file: string;
  /** Where to start in the file. */
  inPointMs: number;
  /** How long to play from inPointMs. */
  durationMs: number;
  transition: 'CUT' | 'MIX' | 'PUSH' | 'WIPE' | 'SLIDE';
  transitionMs: number;
}

/**
 * endedAtMs: when the clip's last frame finished its time on the output, if the
 * engine knows it better than "now".
 */
export type ClipResult = { ok: true; endedAtMs?: number } | { ok: false; message: string };

export interface ClipListener {
  /** The clip's first frame left the engine at this wall-clock time (epoch ms). */
  onAir(startedAtMs: number): void;
  /**
   * Ahead of the clip's end: play() the next clip now to have it follow
   * without a gap (the engine queues it behind this one). Optional for engines
   * that cue otherwise.
   */
  onCue?(): void;
  /** The clip left air on its own: played out, or failed. Never called after stop(). */
  onEnd(result: ClipResult): void;
}

export interface ClipHandle {
  /** Freeze the output where it is; paused time must not count towards the clip. */
  pause(): void;
  resume(): void;
  /** Take the clip off air; resolves once it is gone. */
  stop(): Promise<void>;
}

export interface Engine {
  readonly name: string;
  /** Checks the output can be driven; rejects with a clear message otherwise. */
  start(): Promise<void>;
  /** Puts the clip on air after the clips already queued (at once when none); stop() takes one out. */
  play(clip: EngineClip, listener: ClipListener): ClipHandle;
  close(): Promise<void>;
}

/**
 * Where an engine reports what happens outside a clip's life: a lost server
 * connection and its recovery, a transport command the device refused.
 */
export interface EngineReporter {
  /** Operator-facing, secrets already removed: goes to the event log (ERROR) and the status errors. */
  error(message: string): void;
}

export class EngineError extends Error {
  override name = 'EngineError';
}
