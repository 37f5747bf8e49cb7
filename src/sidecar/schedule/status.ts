import type { ScheduleStatus, Status } from '../../protocol/sidecar-api.ts';
import { frameStartMs, type FrameRate } from '../../schedule/frames.ts';
import type { PlannedEvent, Segment } from '../../schedule/plan.ts';
import type { Airing } from './airing.ts';

/** What /status shows of the schedule, and of what it airs when it has the channel. */
export interface RunnerStatus {
  schedule: ScheduleStatus;
  current: Status['current'];
  next: Status['next'];
  playlistId: string | null;
}

export interface RunnerView {
  version: number;
  suspended: boolean;
  rate: FrameRate;
  now: number;
  /** Handed to the engine, in air order. */
  airings: readonly Airing[];
  /** The first event planned to start after now. */
  nextEvent: PlannedEvent | undefined;
  playlistIdOf: (eventId: string | null) => string | null;
  /** Events skipped on air, at the instant they were cut. */
  skipped: ReadonlyMap<string, number>;
}

const iso = (ms: number) => new Date(ms).toISOString();

function segmentRef(s: Segment) {
  return {
    eventId: s.eventId,
    kind: s.kind,
    itemId: s.clip?.itemId ?? null,
    clipName: s.clip?.clipName ?? null,
    plannedStartAt: iso(s.startMs),
    plannedEndAt: iso(s.endMs),
    fills: s.fills,
  };
}

export function runnerStatus(view: RunnerView): RunnerStatus {
  const { rate, now, airings, nextEvent } = view;
  // On air: the first airing that reached air (or a hold, which has no clip to reach it).
  const onAir = view.suspended
    ? undefined
    : airings.find((a) => a.live && (a.startedAtMs !== null || a.segment.kind === 'HOLD'));
  const after = onAir ? airings[airings.indexOf(onAir) + 1] : undefined;
  const cur = onAir?.segment.clip ?? null;
  const nxt = after?.segment.clip ?? null;
  const positionMs = (a: Airing) =>
    a.startedAtMs === null ? 0 : Math.max(0, frameStartMs(a.fromFrame, rate) - a.segment.startMs + now - a.startedAtMs);
  return {
    schedule: {
      version: view.version,
      suspended: view.suspended,
      onAir: onAir ? segmentRef(onAir.segment) : null,
      nextEvent: nextEvent
        ? { eventId: nextEvent.eventId, plannedStartAt: iso(frameStartMs(nextEvent.startFrame!, rate)) }
        : null,
      ...(view.skipped.size > 0 && {
        skipped: Object.fromEntries([...view.skipped].map(([id, ms]) => [id, iso(ms)])),
      }),
    },
    current:
      onAir && cur
        ? {
            itemId: cur.itemId,
            assetId: cur.assetId,
            clipName: cur.clipName,
            index: -1,
            startedAt: onAir.startedAtMs === null ? null : iso(onAir.startedAtMs),
            positionMs: positionMs(onAir),
            durationMs: onAir.segment.endMs - onAir.segment.startMs,
          }
        : null,
    next: nxt ? { itemId: nxt.itemId, assetId: nxt.assetId, clipName: nxt.clipName, index: -1 } : null,
    playlistId: onAir ? view.playlistIdOf(onAir.segment.eventId) : null,
  };
}
