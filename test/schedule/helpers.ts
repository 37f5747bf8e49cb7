import type { Segment, Plan } from '../../src/schedule/plan.ts';
import type { ScheduleClip, ScheduleEvent } from '../../src/schedule/model.ts';

/** A clip of `ms` milliseconds (an asset of the same name). */
export function clip(name: string, ms: number, assetId = `asset-${name}`): ScheduleClip {
  return {
    itemId: `item-${name}`,
    assetId,
    clipName: name,
    mediaPath: `media/${name}.mxf`,
    durationMs: ms,
    transition: 'CUT',
    transitionMs: 0,
  };
}

export const minutes = (m: number) => m * 60_000;

export function event(
  eventId: string,
  trigger: ScheduleEvent['trigger'],
  content: ScheduleClip | ScheduleClip[],
  at?: number,
): ScheduleEvent {
  return {
    eventId,
    trigger,
    ...(at === undefined ? {} : { at: new Date(at).toISOString() }),
    content: Array.isArray(content)
      ? { kind: 'BLOCK', playlistId: `pl-${eventId}`, clips: content }
      : { kind: 'CLIP', clip: content },
  };
}

/** What a user checks of any plan: its segments follow each other with no gap and no overlap, over the whole window. */
export function tilingFaults(plan: Plan): string[] {
  const faults: string[] = [];
  const s = plan.segments;
  if (s.length === 0) return ['no segments'];
  if (s[0].startFrame > plan.fromFrame)
    faults.push(`window starts at ${plan.fromFrame}, first segment at ${s[0].startFrame}`);
  if (s.at(-1)!.endFrame < plan.toFrame)
    faults.push(`window ends at ${plan.toFrame}, last segment at ${s.at(-1)!.endFrame}`);
  s.forEach((seg, i) => {
    if (seg.endFrame <= seg.startFrame) faults.push(`segment ${i} is empty`);
    if (i > 0 && s[i - 1].endFrame !== seg.startFrame)
      faults.push(`segment ${i - 1} ends at ${s[i - 1].endFrame}, ${i} starts at ${seg.startFrame}`);
  });
  return faults;
}

export const segmentsOf = (plan: Plan, eventId: string): Segment[] =>
  plan.segments.filter((s) => s.eventId === eventId);
export const plannedEvent = (plan: Plan, eventId: string) => plan.events.find((e) => e.eventId === eventId)!;
