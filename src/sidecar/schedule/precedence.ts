import { frameFrom } from '../../schedule/frames.ts';
import type { RunnerPlan } from './planner.ts';

/** Manual play (the sequencer) as the runner sees it: the precedence of docs/schedule.md. */
export interface ManualPlay {
  /** A playlist is on air (playing or paused). */
  active(): boolean;
  /** The schedule takes the channel back at `atMs`: manual play cues nothing more; its item on air is cut then. */
  handBack(atMs: number): Promise<void>;
  /** The schedule's first clip reached air at `atMs`: the manual item it cut ends there. */
  handedBack(atMs: number): Promise<void>;
}

/**
 * While suspended: the frame of the next HARD event far enough ahead to be
 * handed (`leadMs`), where the schedule takes the channel back; null: none.
 */
export function hardResumeFrame(plan: RunnerPlan, now: number, leadMs: number): number | null {
  const soonest = frameFrom(now + leadMs, plan.rate);
  const hard = plan
    .at(frameFrom(now, plan.rate))
    .events.find((e) => e.trigger === 'HARD' && e.status === 'PLANNED' && e.startFrame! >= soonest);
  return hard ? hard.startFrame! : null;
}
