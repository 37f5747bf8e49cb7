import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { Trigger } from '../../../schedule/model.ts';
import { attrOf, type ChannelClock, childOf, durationMs, instantOf, smpteOffsetMs, textOf } from './bxf-time.ts';

/*
 * A SMPTE ST 2021 (BXF) schedule message read into the events a channel's
 * schedule takes. Structure per the BXF schemas SMPTE publishes
 * (github.com/SMPTE/st2021-4: bxfschema.xsd, schedule.xsd, scheduledevent.xsd,
 * eventdata.xsd, contentmetadata.xsd, bxftypes.xsd) and its "Schedule Use Case.xml":
 *
 *   BxfMessage / BxfData / Schedule                 -- one channel's schedule
 *     ScheduledEvent / ScheduleElements             -- one event each (or the ScheduledEvent's own)
 *       EventData                                   -- EventId/EventId, PrimaryEvent | NonPrimaryEvent | MacroEvent,
 *                                                      StartDateTime, LengthOption/Duration, StartMode
 *       Content                                     -- ContentId/HouseNumber, Name, Media/MediaLocation/SOM
 *
 * StartMode maps to the trigger: Fixed → HARD (cut at the time, to the frame);
 * Fixed with StartDateTime nominalFlag="true" (BXF: "the start time is not an
 * exact value and may be variable") → SOFT (at the time, or after the event
 * before it, whichever is later); Follow → FOLLOW; Manual → MANUAL. External
 * (a start by another device) has no counterpart and is refused. Secondary
 * events (NonPrimaryEvent: graphics, keys, triggers), macros and comments are not
 * played by onair: they are counted and left out, as are program and break headers
 * that carry no content. Pure: no I/O, no clock.
 */

/** A primary event as the schedule takes it. */
export interface BxfEvent {
  /** EventData/EventId/EventId, as written (urn:uuid:…). */
  eventId: string;
  /** 1-based position among the document's events, secondary ones included. */
  index: number;
  trigger: Trigger;
  /** The start of a HARD or SOFT event (RFC 3339, UTC, ms); null for FOLLOW and MANUAL. */
  at: string | null;
  /** The start the document gives any event (its StartDateTime), held to only by HARD and SOFT; null when unreadable. */
  plannedAt: string | null;
  /** How long the event airs (LengthOption). */
  durationMs: number;
  /** Where in the clip it starts (Media/MediaLocation/SOM), 0 without one. */
  inPointMs: number;
  houseNumber: string | null;
  /** Content/Name: the clip's name, matched when no asset has the house number. */
  name: string | null;
}

/** Something that keeps the document, or one event of it, from being imported. */
export interface BxfProblem {
  /** The event's id; null for the document as a whole or an event without one. */
  eventId: string | null;
  /** The event's 1-based position; null for the document. */
  index: number | null;
  reason: string;
}

export interface BxfSchedule {
  /** The broadcast day the timed events name (YYYY-MM-DD); null when none is timed. */
  broadcastDate: string | null;
  events: BxfEvent[];
  /** Secondary events, macros, comments and empty headers, left out. */
  ignored: number;
  problems: BxfProblem[];
}

/** The longest event a schedule plans (a clip's bound in the sidecar protocol). */
export const MAX_EVENT_MS = 86_400_000;
/** A day of 2,000 events is about 3 MB of BXF; far more is not a day's schedule. */
export const MAX_EVENTS = 10_000;

const BXF_NAMESPACE = /\sxmlns(?::[\w.-]+)?\s*=\s*["']http:\/\/smpte-ra\.org\/schemas\/2021\/\d{4}\/BXF["']/;
const REPEATED = new Set([
  'Schedule',
  'ScheduledEvent',
  'ScheduleElements',
  'Content',
  'MultiContent',
  'Name',
  'Media',
  'MediaLocation',
]);

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // BXF's namespace changes with every edition (2008 … 2023); its element names do not.
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (name) => REPEATED.has(name),
});

const documentProblem = (reason: string): BxfSchedule => ({
  broadcastDate: null,
  events: [],
  ignored: 0,
  problems: [{ eventId: null, index: null, reason }],
});

const list = (node: unknown): unknown[] => (Array.isArray(node) ? node : node === undefined ? [] : [node]);

/** Reads a BXF schedule message; never throws: what cannot be read is in `problems`. */
export function parseBxfSchedule(document: string, clock: ChannelClock): BxfSchedule {
  // Entities declared in a DTD are the classic XML bomb; BXF messages have none.
  if (/<!DOCTYPE/i.test(document)) return documentProblem('a BXF message has no DOCTYPE; this one declares one');
  const valid = XMLValidator.validate(document);
  if (valid !== true)
    return documentProblem(`not well-formed XML (line ${valid.err.line}, column ${valid.err.col}): ${valid.err.msg}`);
  let root: Record<string, unknown>;
  try {
    root = xml.parse(document);
  } catch (err) {
    return documentProblem(`not readable XML: ${(err as Error).message}`);
  }
  const message = root.BxfMessage;
  if (!message || typeof message !== 'object') return documentProblem('not a BXF message: its root is not BxfMessage');
  const start = /<([\w.-]+:)?BxfMessage\b[^>]*>/.exec(document)?.[0] ?? '';
  if (!BXF_NAMESPACE.test(start))
    return documentProblem('not a BXF message: BxfMessage is not in a SMPTE ST 2021 namespace');
  const data = childOf(message, 'BxfData');
  const action = attrOf(data, 'action');
  if (action !== null && action !== 'add' && action !== 'replace')
    return documentProblem(`BxfData action "${action}" is not a schedule to import (add or replace)`);
  const schedules = list(childOf(data, 'Schedule'));
  if (schedules.length !== 1)
    return documentProblem(
      schedules.length === 0
        ? 'the message holds no Schedule'
        : `the message holds ${schedules.length} schedules; import one channel's schedule at a time`,
    );
  const schedule = schedules[0];
  const type = attrOf(schedule, 'type');
  if (type !== null && type !== 'Primary') return documentProblem(`Schedule type "${type}" is not a Primary schedule`);

  // Each ScheduleElements is an event; a ScheduledEvent without them is one by itself.
  const elements = list(childOf(schedule, 'ScheduledEvent')).flatMap((scheduled) => {
    const inner = list(childOf(scheduled, 'ScheduleElements'));
    return inner.length > 0 ? inner : [scheduled];
  });
  if (elements.length > MAX_EVENTS)
    return documentProblem(`the schedule holds ${elements.length} events; at most ${MAX_EVENTS} are imported at once`);

  const result: BxfSchedule = { broadcastDate: null, events: [], ignored: 0, problems: [] };
  const dates = new Set<string>();
  const ids = new Set<string>();
  elements.forEach((element, i) => {
    const read = readEvent(element, i + 1, clock);
    if (read === 'ignored') result.ignored++;
    else if ('reason' in read) result.problems.push(read);
    else {
      if (ids.has(read.event.eventId))
        result.problems.push({
          eventId: read.event.eventId,
          index: i + 1,
          reason: 'its EventId is used by an event before it',
        });
      ids.add(read.event.eventId);
      if (read.broadcastDate) dates.add(read.broadcastDate);
      result.events.push(read.event);
    }
  });
  // Timed events in air order: a Fixed time before an earlier one's would make the order mean two things.
  let lastTimed: BxfEvent | null = null;
  for (const event of result.events) {
    if (event.at === null) continue;
    if (lastTimed && Date.parse(event.at) <= Date.parse(lastTimed.at!))
      result.problems.push({
        eventId: event.eventId,
        index: event.index,
        reason: `its start ${event.at} is not after that of ${lastTimed.eventId} (${lastTimed.at}), a timed event before it`,
      });
    else lastTimed = event;
  }
  if (dates.size > 1)
    result.problems.push({
      eventId: null,
      index: null,
      reason: `the events name ${dates.size} broadcast days (${[...dates].sort().join(', ')}); import one day at a time`,
    });
  result.broadcastDate = dates.size === 1 ? [...dates][0] : null;
  if (elements.length === 0)
    result.problems.push({ eventId: null, index: null, reason: 'the schedule holds no event' });
  return result;
}

type EventRead = 'ignored' | BxfProblem | { event: BxfEvent; broadcastDate: string | null };

function readEvent(element: unknown, index: number, clock: ChannelClock): EventRead {
  const data = childOf(element, 'EventData');
  if (data === undefined) return 'ignored'; // content or private information alone: nothing to air
  const eventType = attrOf(data, 'eventType');
  const secondary =
    childOf(data, 'PrimaryEvent') === undefined ||
    eventType === 'NonPrimary' ||
    eventType === 'Comment' ||
    eventType === 'Macro';
  if (secondary) return 'ignored';
  const contents = [...list(childOf(element, 'Content')), ...list(childOf(element, 'MultiContent'))];
  if (contents.length === 0 && (eventType === 'Primary-ProgramHeader' || eventType === 'Primary-BreakHeader'))
    return 'ignored';

  const rawId = textOf(childOf(childOf(data, 'EventId'), 'EventId'))?.trim() || null;
  const problem = (reason: string): BxfProblem => ({ eventId: rawId, index, reason });
  if (rawId === null) return problem('has no EventId (EventData/EventId/EventId)');
  if (rawId.length > 200) return problem('its EventId is longer than 200 characters');

  const mode = textOf(childOf(data, 'StartMode'))?.trim() ?? 'Follow'; // the schema's default
  const start = childOf(data, 'StartDateTime');
  let trigger: Trigger;
  if (mode === 'Fixed') trigger = attrOf(start, 'nominalFlag') === 'true' ? 'SOFT' : 'HARD';
  else if (mode === 'Follow') trigger = 'FOLLOW';
  else if (mode === 'Manual') trigger = 'MANUAL';
  else if (mode === 'External') return problem('StartMode External (started by another device) is not supported');
  else return problem(`StartMode "${mode}" is not Fixed, Follow, Manual or External`);

  // Every event has a StartDateTime; only a timed one is held to it, but each names its day.
  let at: number | null = null;
  let plannedAt: number | null = null;
  let broadcastDate: string | null = null;
  if (start !== undefined) {
    const instant = instantOf(start, clock, 'StartDateTime');
    if (!instant.ok && trigger !== 'FOLLOW' && trigger !== 'MANUAL') return problem(instant.reason);
    if (instant.ok) {
      broadcastDate = instant.value.broadcastDate;
      plannedAt = instant.value.ms;
      if (trigger === 'HARD' || trigger === 'SOFT') at = instant.value.ms;
    }
  } else if (trigger === 'HARD' || trigger === 'SOFT') return problem('a Fixed event has no StartDateTime');

  const length = childOf(data, 'LengthOption');
  let duration: number;
  if (childOf(length, 'Duration') !== undefined) {
    const read = durationMs(childOf(length, 'Duration'), clock, 'Duration');
    if (!read.ok) return problem(read.reason);
    duration = read.value;
  } else if (childOf(length, 'EndDateTime') !== undefined && at !== null) {
    const end = instantOf(childOf(length, 'EndDateTime'), clock, 'EndDateTime');
    if (!end.ok) return problem(end.reason);
    duration = end.value.ms - at;
  } else return problem('has no length (LengthOption/Duration, or EndDateTime for a Fixed event)');
  if (duration <= 0) return problem('its length is zero or negative');
  if (duration > MAX_EVENT_MS) return problem('is longer than a day');

  if (contents.length === 0) return problem('has no Content: nothing to play');
  if (contents.length > 1) return problem(`has ${contents.length} Content elements; onair plays one clip per event`);
  const content = contents[0];
  const contentId = childOf(content, 'ContentId');
  const houseNumber = textOf(childOf(contentId, 'HouseNumber'))?.trim() || null;
  const name = textOf(list(childOf(content, 'Name'))[0])?.trim() || null;
  if (houseNumber === null && name === null) return problem('its Content has neither a HouseNumber nor a Name');

  let inPointMs = 0;
  const location = list(childOf(list(childOf(content, 'Media'))[0], 'MediaLocation'))[0];
  const som = childOf(location, 'SOM');
  if (som !== undefined) {
    const read = smpteOffsetMs(som, clock, 'SOM');
    if (!read.ok) return problem(read.reason);
    inPointMs = read.value;
  }

  return {
    event: {
      eventId: rawId,
      index,
      trigger,
      at: at === null ? null : new Date(at).toISOString(),
      plannedAt: plannedAt === null ? null : new Date(plannedAt).toISOString(),
      durationMs: duration,
      inPointMs,
      houseNumber,
      name,
    },
    broadcastDate,
  };
}
