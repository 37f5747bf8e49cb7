import { durationFrames, frameFrom, frameStartMs, type FrameRate } from '../../../src/schedule/frames.ts';
import type { RunnerClock } from '../../../src/sidecar/schedule/clock.ts';
import type { ClipHandle, ClipListener, Engine, EngineClip } from '../../../src/sidecar/engines/engine.ts';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A virtual wall clock: time moves only when the test runs it, and timers fire
 * in time order (ties in the order they were set), with promises settled after
 * each, so a simulated day runs in a second with no real waiting.
 */
export class VirtualClock implements RunnerClock {
  private timers: Timer[] = [];
  private seq = 0;
  constructor(private t: number) {}

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): unknown {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return timer;
  }

  cancel(timer: unknown): void {
    (timer as Timer).cancelled = true;
  }

  /** Runs every timer due up to `until` in order, then sets the clock to `until`. */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: Timer | undefined;
      for (const t of this.timers) if (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
      if (!next || next.at > until) break;
      next.cancelled = true;
      this.t = Math.max(this.t, next.at);
      next.fn();
      await settle();
    }
    this.t = Math.max(this.t, until);
    await settle();
  }
}

/** Lets pending promise callbacks run (the runner's serial commands). */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What the output showed: a clip's frames [startFrame, endFrame). */
export interface OutputSpan {
  itemId: string;
  file: string;
  startFrame: number;
  /** Its last frame's end, a tail under the next clip's transition included. */
  endFrame: number;
  inPointMs: number;
  /** Frames it came in under its transition, over the clip before it (whose span runs that far past its start). */
  transitionFrames: number;
}

interface Entry {
  clip: EngineClip;
  listener: ClipListener;
  frames: number;
  span: OutputSpan | null;
  timers: unknown[];
  /** The timer of its handover to the next clip (its end, less the queued clip's transition). */
  handover: unknown;
  done: boolean;
}

/**
 * A playout device run by the virtual clock. It stands in for the real engine
 * (ffmpeg, CasparCG) only in the schedule runner's simulated-day test, where a
 * day of real playout cannot run: it plays whole frames at the channel's rate,
 * queues clips back to back (a queued clip with a transition takes air that
 * long before the one on air runs out, which ends there, its tail airing
 * under the transition, as EngineClip says), asks for the next clip
 * `cueLeadMs` before a clip ends, starts a timed clip (startAtMs) on its frame cutting what plays, and
 * refuses a file it cannot open (named in `missingFiles`) as soon as it is
 * handed over, as an engine that opens its files ahead does. Every frame it
 * outputs is recorded in `output`.
 */
export class VirtualDevice implements Engine {
  readonly name = 'virtual';
  readonly output: OutputSpan[] = [];
  private current: Entry | null = null;
  private queue: Entry[] = [];
  /** The clip that handed over to the current one and still airs under its transition. */
  private tail: OutputSpan | null = null;

  constructor(
    private readonly clock: RunnerClock,
    private readonly rate: FrameRate,
    private readonly missingFiles: ReadonlySet<string> = new Set(),
    private readonly cueLeadMs = 2000,
  ) {}

  /** How much later than asked the next timed start reaches air (an engine still starting); once. */
  timedLateMs = 0;

  /** Files that fail this long after they reach air (a decoder error mid-clip). */
  readonly failOnAir = new Map<string, number>();

  async start(): Promise<void> {}
  async close(): Promise<void> {}

  play(clip: EngineClip, listener: ClipListener): ClipHandle {
    const entry: Entry = {
      clip,
      listener,
      frames: durationFrames(clip.durationMs, this.rate),
      span: null,
      timers: [],
      handover: null,
      done: false,
    };
    if ([...this.missingFiles].some((f) => clip.file.endsWith(f))) {
      entry.timers.push(this.clock.after(0, () => this.finish(entry, { ok: false, message: 'No such file' })));
    } else if (clip.startAtMs !== undefined) {
      const late = this.timedLateMs;
      this.timedLateMs = 0;
      entry.timers.push(this.clock.after(clip.startAtMs + late - this.clock.now(), () => this.cutTo(entry, late)));
    } else if (!this.current && this.queue.length === 0) this.begin(entry, frameFrom(this.clock.now(), this.rate));
    else {
      this.queue.push(entry);
      if (this.current && this.queue.length === 1) this.armHandover(this.current);
    }
    return {
      pause: () => undefined,
      resume: () => undefined,
      stop: async () => this.stop(entry),
    };
  }

  /** A timed start: what plays is cut on this frame, and what was queued before it never airs. */
  private cutTo(entry: Entry, lateMs: number): void {
    const frame = frameFrom(entry.clip.startAtMs! + lateMs, this.rate);
    const cut = this.current;
    this.endTail(frame);
    // As the engines do (EngineClip.startAtMs): the clip on air ends TRUNCATED, those queued before SKIPPED.
    if (cut) this.finish(cut, { ok: true, endedAtMs: frameStartMs(frame, this.rate), cut: 'TRUNCATED' }, frame);
    for (const q of this.queue.splice(0)) this.finish(q, { ok: true, cut: 'SKIPPED' });
    this.begin(entry, frame);
  }

  private begin(entry: Entry, frame: number, transition = 0): void {
    if (entry.done) return;
    this.current = entry;
    entry.span = {
      itemId: entry.clip.itemId,
      file: entry.clip.file,
      startFrame: frame,
      endFrame: frame + entry.frames,
      inPointMs: entry.clip.inPointMs,
      transitionFrames: transition,
    };
    this.output.push(entry.span);
    const endMs = frameStartMs(frame + entry.frames, this.rate);
    const now = this.clock.now();
    entry.listener.onAir(frameStartMs(frame, this.rate));
    const failAfter = [...this.failOnAir].find(([f]) => entry.clip.file.endsWith(f))?.[1];
    if (failAfter !== undefined && frameStartMs(frame, this.rate) + failAfter < endMs) {
      entry.timers.push(
        this.clock.after(frameStartMs(frame, this.rate) + failAfter - now, () => {
          const at = frameFrom(this.clock.now(), this.rate);
          this.finish(entry, { ok: false, message: 'decoder error' }, at);
          const next = this.queue.shift();
          if (next) this.begin(next, at);
        }),
      );
    }
    entry.timers.push(this.clock.after(endMs - this.cueLeadMs - now, () => entry.listener.onCue?.()));
    this.armHandover(entry);
  }

  /** Sets when `entry` hands over: at its end, less the transition of the clip queued behind it. */
  private armHandover(entry: Entry): void {
    const span = entry.span!;
    if (entry.handover) this.clock.cancel(entry.handover);
    const next = this.queue[0];
    const wanted =
      next && next.clip.transition !== 'CUT'
        ? Math.round((next.clip.transitionMs * this.rate.num) / (1000 * this.rate.den))
        : 0;
    const frame = Math.max(span.endFrame - wanted, frameFrom(this.clock.now(), this.rate), span.startFrame + 1);
    const transition = span.endFrame - frame;
    const atMs = frameStartMs(frame, this.rate);
    entry.handover = this.clock.after(atMs - this.clock.now(), () => {
      this.finish(entry, { ok: true, endedAtMs: atMs });
      const queued = this.queue.shift();
      this.tail = transition > 0 ? span : null;
      if (queued) this.begin(queued, frame, transition);
    });
    entry.timers.push(entry.handover);
  }

  /** A cut takes the tail of the clip before off air too. */
  private endTail(frame: number): void {
    if (this.tail && this.tail.endFrame > frame) this.tail.endFrame = Math.max(this.tail.startFrame, frame);
    this.tail = null;
  }

  private finish(entry: Entry, result: Parameters<ClipListener['onEnd']>[0], cutFrame?: number): void {
    if (entry.done) return;
    entry.done = true;
    for (const t of entry.timers) this.clock.cancel(t);
    if (this.current === entry) this.current = null;
    if (entry.span && cutFrame !== undefined) entry.span.endFrame = cutFrame;
    entry.listener.onEnd(result);
  }

  private stop(entry: Entry): void {
    if (entry.done) return;
    entry.done = true;
    for (const t of entry.timers) this.clock.cancel(t);
    this.queue = this.queue.filter((q) => q !== entry);
    if (this.current === entry) {
      this.current = null;
      const frame = frameFrom(this.clock.now(), this.rate);
      if (entry.span) entry.span.endFrame = Math.min(entry.span.endFrame, frame);
      this.endTail(frame);
      const next = this.queue.shift();
      if (next) this.begin(next, frame);
    }
  }
}
