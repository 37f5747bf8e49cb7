import { frameFrom, frameRateOf, frameStartMs, type FrameRate } from '../../schedule/frames.ts';
import type { Schedule } from '../../schedule/model.ts';
import { planSchedule, type Plan, type PlannedEvent, type Segment } from '../../schedule/plan.ts';

/**
 * The schedule a runner holds and what changes its plan besides the clock:
 * the takes of MANUAL events and the assets that failed at air time. Plans
 * with the pure planner from any frame, as the runner needs it.
 */
export class RunnerPlan {
  readonly rate: FrameRate;
  /** MANUAL events taken, at the instant they start. */
  readonly taken = new Map<string, number>();
  /** Events an operator skipped on air, at the instant they were cut. */
  readonly skipped = new Map<string, number>();
  /** Assets that failed at air time: their clips are planned as missing (filler instead). */
  readonly missing = new Set<string>();
  private eventsCache: { schedule: Schedule; key: string; events: PlannedEvent[] } | null = null;

  constructor(
    private current: Schedule,
    private readonly now: () => number,
    /** How far ahead of a frame to plan: the segment holding it must end inside (filler is trimmed at the edge). */
    private readonly lookaheadMs: number,
  ) {
    this.rate = frameRateOf(current.videoFormat);
  }

  get schedule(): Schedule {
    return this.current;
  }

  /** A new version; takes of events it no longer holds as MANUAL are forgotten. */
  replace(schedule: Schedule): void {
    this.current = schedule;
    for (const id of [...this.taken.keys()])
      if (!schedule.events.some((e) => e.eventId === id && e.trigger === 'MANUAL')) this.taken.delete(id);
    for (const id of [...this.skipped.keys()])
      if (!schedule.events.some((e) => e.eventId === id)) this.skipped.delete(id);
  }

  /** The plan around `frame`: every event, and the segments from the one holding `frame` on. */
  at(frame: number): Plan {
    const fromMs = frameStartMs(frame, this.rate);
    return planSchedule(this.current, this.rate, {
      window: { fromMs, toMs: fromMs + this.lookaheadMs },
      nowMs: this.now(),
      taken: this.taken,
      missingAssets: this.missing,
      skipped: this.skipped,
    });
  }

  /** The segment holding `frame`, and whether a HARD event, a take or a skip cuts on it (its frame is pinned). */
  segmentAt(frame: number): { segment: Segment; cuts: boolean } {
    const plan = this.at(frame);
    const segment = plan.segments.find((s) => s.startFrame <= frame && frame < s.endFrame)!;
    const cuts =
      plan.events.some(
        (e) => e.status === 'PLANNED' && e.timedFrame === frame && e.startFrame === frame && e.trigger !== 'SOFT',
      ) || [...this.skipped.values()].some((ms) => frameFrom(ms, this.rate) === frame);
    return { segment, cuts };
  }

  /**
   * Every event's planned times: the same until the schedule, a take or a
   * missing asset changes them, so a status read (every events page) does not
   * plan a long schedule again.
   */
  events(frame: number): PlannedEvent[] {
    const key = `${this.taken.size}/${this.missing.size}/${this.skipped.size}`;
    const cached = this.eventsCache;
    if (cached?.schedule === this.current && cached.key === key) return cached.events;
    const events = this.at(frame).events;
    this.eventsCache = { schedule: this.current, key, events };
    return events;
  }

  /** The playlist a segment airs for: its event's block, else none. */
  playlistIdOf(eventId: string | null): string | null {
    const content = this.current.events.find((e) => e.eventId === eventId)?.content;
    return content?.kind === 'BLOCK' ? content.playlistId : null;
  }
}
