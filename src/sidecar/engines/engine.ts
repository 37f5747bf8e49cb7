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
  /**
   * How the clip takes over from the clip before it when it is queued behind
   * it. With a transition other than CUT and transitionMs > 0, it takes air
   * transitionMs (in whole frames) before the clip on air runs out, fewer
   * frames if less is left: the transition overlaps the outgoing clip's last
   * frames. A timed start is no such handover: the ffmpeg engine cuts to one
   * whatever its transition (the schedule sends them as CUT). The outgoing clip's onEnd (ok,
   * no `cut`: its tail airs under the transition) and the incoming clip's
   * onAir come at that same frame, so an item's slot is its duration less
   * the next item's transition. CasparCG renders the transitions itself;
   * the ffmpeg engine renders MIX as a crossfade and WIPE, PUSH and SLIDE as
   * an edge moving in from the left (ffmpeg/mix.ts).
   */
  transition: 'CUT' | 'MIX' | 'PUSH' | 'WIPE' | 'SLIDE';
  transitionMs: number;
  /**
   * A timed start (a schedule's HARD event, or a take): the clip reaches air at
   * this wall-clock instant (epoch ms, a frame boundary of the channel), cutting
   * whatever plays then, instead of following the clips queued. The engine
   * prepares it ahead (ffmpeg opens and probes the file, CasparCG loads it in
   * the background), so play() should come a few seconds early; onAir reports
   * the instant it really reached air. Absent: after the clips already queued.
   *
   * In the queue, a timed clip marks a point: the clips queued before it are
   * cut at its instant (the one on air then ends with `cut: 'TRUNCATED'`, the
   * ones that had not aired yet with `cut: 'SKIPPED'`, neither a failure),
   * and the clips queued after it follow it. Clips before it that end earlier
   * play out as usual, and the output then holds until the instant. An
   * instant already past when play() is called cuts at once (the next frame)
   * and onAir says when that was. A timed start takes air even while paused.
   */
  startAtMs?: number;
}

/**
 * endedAtMs: when the clip's last frame finished its time on the output, if the
 * engine knows it better than "now".
 */
export type ClipResult =
  | {
      ok: true;
      endedAtMs?: number;
      /**
       * A timed start (EngineClip.startAtMs) cut this clip: TRUNCATED, it was
       * on air and left at endedAtMs, before its end; SKIPPED, it was queued
       * before the timed clip and never aired (no onAir came). Absent: it
       * played to its end.
       */
      cut?: 'TRUNCATED' | 'SKIPPED';
      /**
       * Frames the output lost for good while the clip aired (playout fell
       * behind real time by more than the engine makes up): the output was
       * that much short of the wall clock. Its as-run entry says so.
       */
      framesLost?: number;
    }
  | {
      ok: false;
      message: string;
      /**
       * The engine cannot play anything any more (an output that cannot be
       * restarted at all): the sequencer stops rather than try the next item.
       */
      fatal?: boolean;
    };

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
  /**
   * How long before the handover to a queued clip (the end of the clip on air,
   * less the queued clip's transition) withdrawing that clip (stop()) is no
   * longer certain to keep it off air: the device may have swapped already
   * without the engine knowing yet. An edit of the playlist on air within this
   * window leaves the queued clip to air. @defaultValue 0 (withdrawal is exact)
   */
  readonly cueLockMs?: number;
  /**
   * The output's first frame at or after `ms` (epoch ms): where a timed start
   * due then reaches air. An output on its own clock (a CasparCG channel)
   * makes its frames off the epoch's grid. Null while the engine cannot tell
   * yet; absent, the epoch's grid.
   */
  frameAtOrAfter?(ms: number): number | null;
  /** Checks the output can be driven; rejects with a clear message otherwise. */
  start(): Promise<void>;
  /** Puts the clip on air after the clips already queued (at once when none); stop() takes one out. */
  play(clip: EngineClip, listener: ClipListener): ClipHandle;
  /**
   * Files about to be played (the item after the one that went on air, or
   * after an edit): an engine that must look into a file before it can play
   * it (ffmpeg probes it) does so now, in the background, so that a clip put
   * on air without notice (skip) is not held up by it. Optional; never throws.
   */
  prefetch?(files: string[]): void;
  close(): Promise<void>;
}

/**
 * Where an engine reports what happens outside a clip's life: a lost server
 * connection and its recovery, a transport command the device refused.
 */
export interface EngineReporter {
  /** Operator-facing, secrets already removed: goes to the event log (ERROR) and the status errors. */
  error(message: string): void;
  /** Raises an alarm (ALARM_RAISED at once; a second raise only updates its message). */
  raise?(kind: EngineAlarm, message: string): void;
  /** Clears an alarm that is up (ALARM_CLEARED); nothing when it is not. */
  clear?(kind: EngineAlarm): void;
  /** Adds to a fault counter shown in /status. */
  count?(name: 'outputReconnects' | 'framesDropped', n?: number): void;
}

/** The alarms an engine raises itself; MEDIA_MISSING and PLAYOUT_STOPPED are the sequencer's. */
export type EngineAlarm = 'OUTPUT_LOST' | 'ENGINE_BEHIND';

export class EngineError extends Error {
  override name = 'EngineError';
}

/** The operator's words for frames an engine lost for good while an item aired: its as-run reason. */
export function framesLostReason(result: ClipResult): string | null {
  const n = result.ok ? (result.framesLost ?? 0) : 0;
  return n > 0 ? `${n} frame${n === 1 ? '' : 's'} lost: playout fell behind real time` : null;
}
