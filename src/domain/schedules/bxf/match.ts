import type { BxfEvent, BxfProblem } from './parse.ts';

/*
 * Which asset each event of a BXF schedule plays: the project's asset whose
 * house ID is the event's HouseNumber, else the one whose file name is the
 * event's Content/Name. Pure: the assets are passed in.
 */

/** What matching needs of an asset of the channel's project. */
export interface AssetCandidate {
  id: string;
  houseId: string | null;
  filename: string;
  durationMs: number | null;
}

export interface MatchedEvent extends BxfEvent {
  assetId: string;
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(3))} s`;

/** Every event matched, or the problems of those that are not (all of them, not just the first). */
export function matchEvents(
  events: readonly BxfEvent[],
  assets: readonly AssetCandidate[],
): { matched: MatchedEvent[]; problems: BxfProblem[] } {
  const byHouseId = new Map<string, AssetCandidate>();
  const byName = new Map<string, AssetCandidate[]>();
  for (const asset of assets) {
    if (asset.houseId !== null) byHouseId.set(asset.houseId, asset);
    byName.set(asset.filename, [...(byName.get(asset.filename) ?? []), asset]);
  }
  const matched: MatchedEvent[] = [];
  const problems: BxfProblem[] = [];
  for (const event of events) {
    const problem = (reason: string) => problems.push({ eventId: event.eventId, index: event.index, reason });
    let asset = event.houseNumber === null ? undefined : byHouseId.get(event.houseNumber);
    if (!asset && event.name !== null) {
      const named = byName.get(event.name) ?? [];
      if (named.length > 1) {
        problem(
          `${event.houseNumber === null ? '' : `no asset has house ID "${event.houseNumber}", and `}` +
            `${named.length} assets are named "${event.name}": give the right one the house ID`,
        );
        continue;
      }
      asset = named[0];
    }
    if (!asset) {
      const wanted = [
        event.houseNumber === null ? null : `house ID "${event.houseNumber}"`,
        event.name === null ? null : `the name "${event.name}"`,
      ].filter(Boolean);
      problem(`no asset of the channel's project has ${wanted.join(' or ')}`);
      continue;
    }
    if (asset.durationMs !== null && event.inPointMs + event.durationMs > asset.durationMs) {
      problem(
        `plays ${seconds(event.durationMs)} from ${seconds(event.inPointMs)} into asset ${asset.id} ` +
          `("${asset.filename}"), which is ${seconds(asset.durationMs)} long`,
      );
      continue;
    }
    matched.push({ ...event, assetId: asset.id });
  }
  return { matched, problems };
}

/**
 * The events of a day's schedule still to start at `nowMs`, by the document's own
 * timeline: a Fixed event starts at its time, a soft one at its time or after the
 * event before it, the others after the event before it (the first at the start
 * the document gives it, else the day's start). What started before now is the
 * past or on air, which the channel keeps as it aired: the import leaves it alone.
 */
export function eventsAfter<E extends Pick<BxfEvent, 'trigger' | 'at' | 'plannedAt' | 'durationMs'>>(
  events: readonly E[],
  nowMs: number,
  dayStartMs: number,
): E[] {
  let end = events[0]?.plannedAt ? Date.parse(events[0].plannedAt) : dayStartMs;
  return events.filter((event) => {
    const at = event.at === null ? null : Date.parse(event.at);
    const start =
      at === null ? end : event.trigger === 'SOFT' ? Math.max(at, end) : event.trigger === 'HARD' ? at : end;
    end = start + event.durationMs;
    return start > nowMs;
  });
}
