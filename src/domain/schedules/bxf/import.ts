import { badInput, ErrorCode, OnairError } from '../../../errors.ts';
import { frameRateOf } from '../../../schedule/frames.ts';
import { broadcastDay } from '../../../schedule/time-zone.ts';
import { requireChannel } from '../../channels/channels.ts';
import type { DomainContext } from '../../shared/context.ts';
import { scheduleView } from '../schedule-snapshot.ts';
import { replaceScheduleEvents } from '../schedule-replace.ts';
import { eventsAfter, type MatchedEvent, matchEvents } from './match.ts';
import { type BxfProblem, parseBxfSchedule } from './parse.ts';

/*
 * A day's schedule from the traffic system (a BXF schedule message) into a
 * channel's schedule, all or nothing: every event is read and matched to an
 * asset first, and any that cannot be is reported and nothing changes. Then, in
 * one schedule change (replaceScheduleEvents: locked, validated, versioned,
 * published), the day's events still to start are replaced by the document's
 * events still to start. What has aired and the event on air stay as they
 * are, and so do the events of other days. Re-importing a day after traffic
 * changed it updates its future the same way.
 */

export interface BxfImportReport {
  /** True when the schedule was changed; false when `problems` says why not. */
  imported: boolean;
  /** The broadcast day the document is for (YYYY-MM-DD), when it could be read. */
  broadcastDate: string | null;
  /** Primary events read from the document. */
  eventsRead: number;
  /** Secondary events, macros, comments and empty headers, left out. */
  eventsIgnored: number;
  /** The document's events written: those still to start. */
  eventsImported: number;
  /** The channel's events of the day removed for them (not yet started). */
  eventsReplaced: number;
  /** The schedule's version after the import. */
  version: number | null;
  problems: BxfProblem[];
}

/** Imports the day a BXF schedule message holds into a channel's schedule (EDITOR). */
export async function importBxfSchedule(
  ctx: DomainContext,
  rawChannelId: string,
  document: string,
): Promise<BxfImportReport> {
  const channel = await requireChannel(ctx, 'channelId', rawChannelId, 'EDITOR');
  const view = await scheduleView(ctx.db, channel);
  const clock = { rate: frameRateOf(channel.videoFormat), timeZone: view.timeZone, dayStart: view.dayStart };
  const read = parseBxfSchedule(document, clock);
  const report: BxfImportReport = {
    imported: false,
    broadcastDate: read.broadcastDate,
    eventsRead: read.events.length,
    eventsIgnored: read.ignored,
    eventsImported: 0,
    eventsReplaced: 0,
    version: null,
    problems: read.problems,
  };
  // Unreadable events and unmatched ones are reported together, so that one answer lists them all.
  const houseNumbers = read.events.flatMap((e) => (e.houseNumber === null ? [] : [e.houseNumber]));
  const names = read.events.flatMap((e) => (e.name === null ? [] : [e.name]));
  const assets =
    read.events.length === 0
      ? []
      : await ctx.db.asset.findMany({
          where: { projectId: channel.projectId, OR: [{ houseId: { in: houseNumbers } }, { filename: { in: names } }] },
          select: { id: true, houseId: true, filename: true, durationMs: true },
        });
  const { matched, problems } = matchEvents(read.events, assets);
  if (read.problems.length > 0 || problems.length > 0)
    return { ...report, problems: [...read.problems, ...problems].sort(byPlace) };
  if (read.broadcastDate === null)
    return fail(report, 'no event names its broadcast day (StartDateTime/SmpteDateTime broadcastDate)');

  const day = broadcastDay(read.broadcastDate, view.timeZone, view.dayStart);
  const now = Date.now();
  if (day.toMs <= now) return fail(report, `broadcast day ${read.broadcastDate} is over: there is nothing to import`);
  const incoming = eventsAfter(matched, now, day.fromMs);
  try {
    const committed = await replaceScheduleEvents(ctx, channel.id, day, incoming.map(fieldsOf));
    return {
      ...report,
      imported: true,
      eventsImported: committed.value.added.length,
      eventsReplaced: committed.value.removed.length,
      version: committed.version,
    };
  } catch (err) {
    // A new event the schedule refuses (`events.<i>.<field>`): that event of the document, and why.
    const field = err instanceof OnairError ? /^events\.(\d+)/.exec(String(err.extensions.field ?? '')) : null;
    if (field && err instanceof OnairError && err.extensions.code === ErrorCode.BAD_USER_INPUT) {
      const event = incoming[Number(field[1])];
      // Checked under the schedule's lock: an untimed event left first has nothing before it to follow.
      const reason =
        err.extensions.field === `${field[0]}.trigger` && event.at === null
          ? `the first event to import starts ${event.trigger === 'MANUAL' ? 'when taken' : 'after the event before it'}, and the schedule has none before it: give it a Fixed start`
          : err.message.slice(String(err.extensions.field).length + 2);
      return { ...report, problems: [{ eventId: event.eventId, index: event.index, reason }] };
    }
    // The schedule as a whole refused (its own checks name its new rows, which the caller never sees).
    if (err instanceof OnairError && err.extensions.field === 'events')
      throw badInput('document', err.message.slice('events: '.length));
    throw err;
  }
}

/** A document's event as a schedule event: a clip of its asset from its SOM, for its length. */
const fieldsOf = (event: MatchedEvent) => ({
  trigger: event.trigger,
  at: event.at === null ? null : new Date(event.at),
  assetId: event.assetId,
  inPointMs: event.inPointMs === 0 ? null : event.inPointMs,
  outPointMs: event.inPointMs + event.durationMs,
});

/** The document's problems first, then each event's in document order. */
const byPlace = (a: BxfProblem, b: BxfProblem) => (a.index ?? 0) - (b.index ?? 0);

const fail = (report: BxfImportReport, reason: string): BxfImportReport => ({
  ...report,
  problems: [{ eventId: null, index: null, reason }],
});
