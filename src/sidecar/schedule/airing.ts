import { join } from 'node:path';
import type { EndedHow, ScheduleAiring, SidecarEventInput } from '../../protocol/sidecar-api.ts';
import { frameStartMs, type FrameRate } from '../../schedule/frames.ts';
import type { Segment } from '../../schedule/plan.ts';
import type { ClipHandle, ClipResult, EngineClip } from '../engines/engine.ts';
import { framesLostReason } from '../engines/engine.ts';

/**
 * A segment of the plan handed to the engine: from `fromFrame` (its first
 * frame, or later when joined in progress) to its planned end.
 */
export interface Airing {
  segment: Segment;
  /** The schedule version that planned it. */
  version: number;
  /** The frame it starts on air: the segment's first, or the frame a join starts at. */
  fromFrame: number;
  /** Handed with a timed start (a HARD event, a take, a join), not queued behind the clip before it. */
  timed: boolean;
  handle: ClipHandle | null;
  startedAtMs: number | null;
  /** Cleared when it leaves air or is withdrawn, so late engine callbacks are ignored. */
  live: boolean;
  /** A take or a hand-back cut it before its planned end: it ends TRUNCATED. */
  cut: boolean;
  /** The engine asked for the clip after it (onCue). */
  cueAsked: boolean;
  /**
   * A timed start that reached air later than its frame (an engine still
   * starting): it would end as late, so the segment after it is handed timed
   * to its planned frame, cutting the rest, rather than queued behind it.
   */
  late: boolean;
  /** How an operator's command ended it, and why (a skip: SKIPPED, "skipped by an operator"). */
  endedBy?: { how: EndedHow; reason: string };
}

/** The playlist id of what a schedule airs: the block's playlist, else one per schedule (clips and filler). */
export const SCHEDULE_PLAYLIST_ID = 'schedule';

/** What the engine plays for an airing: the clip from the frame it joins at, for the rest of the segment. */
export function engineClip(airing: Airing, rate: FrameRate, mediaDir: string): EngineClip {
  const { segment, fromFrame } = airing;
  const clip = segment.clip!;
  const startMs = frameStartMs(fromFrame, rate);
  // Seek and length from frame instants, so a join lands on the frame the plan says is on air.
  const seekMs = startMs - frameStartMs(segment.startFrame, rate);
  // A joined or cut-to clip starts with a cut: its transition belongs to its planned start.
  const transition = !airing.timed && fromFrame === segment.startFrame ? segment.transitionFrames : 0;
  return {
    itemId: clip.itemId,
    file: join(mediaDir, clip.mediaPath),
    inPointMs: (clip.inPointMs ?? 0) + seekMs,
    // To the end of its tail, which airs under the next clip's transition: the engine starts that one its
    // transition's length before this one runs out, on the frame the plan ends this segment.
    durationMs: frameStartMs(segment.endFrame + segment.tailFrames, rate) - startMs,
    transition: transition > 0 ? clip.transition : 'CUT',
    transitionMs: transition > 0 ? frameStartMs(segment.startFrame + transition, rate) - startMs : 0,
    ...(airing.timed ? { startAtMs: startMs } : {}),
  };
}

/** The schedule fields of ITEM_ON_AIR and ITEM_ENDED, for as-run against plan. */
export function airingRef(airing: Airing, playlistIdOf: (eventId: string | null) => string | null) {
  const { segment } = airing;
  const clip = segment.clip!;
  const schedule: ScheduleAiring = {
    version: airing.version,
    eventId: segment.eventId,
    plannedStartAt: new Date(segment.startMs).toISOString(),
    plannedEndAt: new Date(segment.endMs).toISOString(),
    fills: segment.fills,
  };
  return {
    itemId: clip.itemId,
    assetId: clip.assetId,
    // Filler airs for no playlist of its own: it names its event's block, else the schedule.
    playlistId: (segment.kind === 'CLIP' ? playlistIdOf(segment.eventId) : null) ?? SCHEDULE_PLAYLIST_ID,
    clipName: clip.clipName,
    schedule,
  };
}

/**
 * ITEM_ENDED of an airing that left air at `endMs`: TRUNCATED when the plan
 * ends it before its clip (a HARD event, filler trimmed to an event's frame),
 * a take or a hand-back cut it, it started late (the segment after it, pinned
 * to its frame, cut its end), or it left air over a frame early and over a
 * frame short of its length. An output on its own ticks (a CasparCG channel)
 * may take a timed start on the tick before its frame and dates a start or an
 * end to about a tick: what follows on from such a start whole leaves air a
 * frame early, or two as reported, having played all of it.
 */
export function itemEnded(
  airing: Airing,
  result: ClipResult,
  endMs: number,
  rate: FrameRate,
  playlistIdOf: (eventId: string | null) => string | null,
  reason?: string,
): SidecarEventInput {
  const plannedEnd = frameStartMs(airing.segment.endFrame, rate);
  const frameMs = frameStartMs(1, rate) || 1;
  const lengthMs = plannedEnd - frameStartMs(airing.fromFrame, rate);
  const early =
    endMs < plannedEnd - frameMs && (airing.startedAtMs === null || endMs - airing.startedAtMs < lengthMs - frameMs);
  let how: EndedHow = 'PLAYED';
  if (!result.ok) how = 'FAILED';
  // From the plan and the times, not the engine's `cut`: an engine can call a clip that ended on its planned frame cut.
  else if (airing.endedBy) how = airing.endedBy.how;
  else if (airing.segment.truncated || airing.cut || airing.late || early) how = 'TRUNCATED';
  return {
    kind: 'ITEM_ENDED',
    ...airingRef(airing, playlistIdOf),
    startedAt: airing.startedAtMs === null ? null : new Date(airing.startedAtMs).toISOString(),
    endedAt: new Date(endMs).toISOString(),
    durationMs: airing.startedAtMs === null ? 0 : Math.max(0, Math.round(endMs - airing.startedAtMs)),
    how,
    reason: reason ?? (result.ok ? (airing.endedBy?.reason ?? framesLostReason(result)) : result.message),
  };
}

/** Whether two plans air the same thing from `frame`: an airing already handed may stay. */
export function sameAiring(a: Segment, b: Segment): boolean {
  return (
    sameClipRun(a, b) &&
    a.endFrame === b.endFrame &&
    a.transitionFrames === b.transitionFrames &&
    a.tailFrames === b.tailFrames
  );
}

/**
 * Whether two plans play the same clip the same way, whatever transition
 * follows it: the engine has the same clip to play (to the end of its tail),
 * so one on air stays, only its handover to the next moving.
 */
export function sameClipRun(a: Segment, b: Segment): boolean {
  return (
    a.kind === b.kind &&
    a.startFrame === b.startFrame &&
    a.endFrame + a.tailFrames === b.endFrame + b.tailFrames &&
    a.eventId === b.eventId &&
    a.fills === b.fills &&
    a.clip?.itemId === b.clip?.itemId &&
    a.clip?.mediaPath === b.clip?.mediaPath &&
    a.clip?.inPointMs === b.clip?.inPointMs
  );
}
