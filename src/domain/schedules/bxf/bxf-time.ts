import type { FrameRate } from '../../../schedule/frames.ts';
import { broadcastDay, localToUtc, type Window, zoneOffsetMs } from '../../../schedule/time-zone.ts';
import {
  frameRateFromDecimal,
  parseTimeCode,
  type Read,
  timeCodeFrames,
  timeCodeMs,
} from '../../../schedule/time-code.ts';
import { framesToMs } from '../../../schedule/frames.ts';

/*
 * BXF's times (bxftypes.xsd: BxfDateTime, BxfDuration, BxfSmpteTime) as instants
 * and ms, at the channel's clock.
 *
 * A SmpteDateTime is a time of day on a broadcast day: `broadcastDate` names the
 * day, and the time code is the station's clock time in the channel's time zone
 * (a label before the day's start time belongs to the next calendar date, as
 * 02:00 does in a day running 06:00 to 06:00). That is how traffic systems write
 * a day's log; `utcStartofBroadcastDay`, when given, must agree with the
 * channel's own day, which catches a channel set to the wrong zone or day start.
 */

/** The channel's clock a document is read against. */
export interface ChannelClock {
  /** The channel's frame rate: time code without a frameRate attribute counts in it. */
  rate: FrameRate;
  /** IANA time zone of the channel's broadcast days. */
  timeZone: string;
  /** Local time a broadcast day starts, HH:MM[:SS]. */
  dayStart: string;
}

/** An element's text: fast-xml-parser gives a string, or an object with #text when it has attributes. */
export function textOf(node: unknown): string | null {
  if (typeof node === 'string') return node;
  if (typeof node === 'number') return String(node);
  if (node && typeof node === 'object' && '#text' in node) return textOf((node as Record<string, unknown>)['#text']);
  return null;
}

export const attrOf = (node: unknown, name: string): string | null =>
  node && typeof node === 'object' ? textOf((node as Record<string, unknown>)[`@_${name}`]) : null;

export const childOf = (node: unknown, name: string): unknown =>
  node && typeof node === 'object' ? (node as Record<string, unknown>)[name] : undefined;

/** The rate time code in `node` (a BxfSmpteTime) counts in: its frameRate, else the channel's. */
function rateOf(node: unknown, clock: ChannelClock): Read<FrameRate> {
  const given = attrOf(node, 'frameRate');
  if (given === null) return { ok: true, value: clock.rate };
  const rate = frameRateFromDecimal(given);
  return rate ? { ok: true, value: rate } : { ok: false, reason: `frameRate "${given}" is not a frame rate` };
}

/** A BxfSmpteTime as an offset in ms (a SOM, a duration): framecount when given, else its time code. */
export function smpteOffsetMs(node: unknown, clock: ChannelClock, what: string): Read<number> {
  const rate = rateOf(node, clock);
  if (!rate.ok) return { ok: false, reason: `${what}: ${rate.reason}` };
  const count = attrOf(node, 'framecount');
  if (count !== null) {
    if (!/^\d{1,9}$/.test(count.trim())) return { ok: false, reason: `${what}: framecount "${count}" is not a count` };
    return { ok: true, value: framesToMs(Number(count), rate.value) };
  }
  const text = textOf(childOf(node, 'SmpteTimeCode'));
  if (text === null) return { ok: false, reason: `${what} has no SmpteTimeCode` };
  const tc = parseTimeCode(text);
  const ms = tc.ok ? timeCodeMs(tc.value, rate.value) : tc;
  return ms.ok ? ms : { ok: false, reason: `${what}: ${ms.reason}` };
}

const XS_DURATION = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** A BxfDuration (SmpteDuration or UtcDuration, an xs:duration of days, hours, minutes, seconds) in ms. */
export function durationMs(node: unknown, clock: ChannelClock, what: string): Read<number> {
  const smpte = childOf(node, 'SmpteDuration');
  if (smpte !== undefined) return smpteOffsetMs(smpte, clock, what);
  const utc = textOf(childOf(node, 'UtcDuration'));
  if (utc === null) return { ok: false, reason: `${what} has neither SmpteDuration nor UtcDuration` };
  const m = XS_DURATION.exec(utc.trim());
  if (!m || utc.trim() === 'P' || utc.trim().endsWith('T'))
    return { ok: false, reason: `${what}: "${utc}" is not a duration of days, hours, minutes and seconds` };
  const [d, h, min] = [m[1], m[2], m[3]].map((v) => Number(v ?? 0));
  return { ok: true, value: Math.round(((d * 24 + h) * 60 + min) * 60_000 + Number(m[4] ?? 0) * 1000) };
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

// A day's events share their broadcast day: computed once (each costs Intl look-ups).
const days = new Map<string, Window>();
function dayOf(date: string, clock: ChannelClock): Window {
  const key = `${date}|${clock.timeZone}|${clock.dayStart}`;
  let day = days.get(key);
  if (!day) {
    if (days.size >= 256) days.clear();
    day = broadcastDay(date, clock.timeZone, clock.dayStart);
    days.set(key, day);
  }
  return day;
}
const TIME_OF_DAY = /^(\d{2}):(\d{2})(?::(\d{2}))?$/;

/** A BxfDateTime (SmpteDateTime or UtcDateTime) as an instant, with the broadcast date it names. */
export function instantOf(
  node: unknown,
  clock: ChannelClock,
  what: string,
): Read<{ ms: number; broadcastDate: string }> {
  const utc = childOf(node, 'UtcDateTime');
  if (utc !== undefined) {
    const text = textOf(utc)?.trim() ?? '';
    // xs:dateTime with a zone: without one, the instant is not known.
    if (
      !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text) ||
      Number.isNaN(Date.parse(text))
    )
      return { ok: false, reason: `${what}: UtcDateTime "${text}" is not a date and time with a zone` };
    const ms = Date.parse(text);
    return { ok: true, value: { ms, broadcastDate: broadcastDateOf(ms, clock) } };
  }
  const smpte = childOf(node, 'SmpteDateTime');
  if (smpte === undefined) return { ok: false, reason: `${what} has neither SmpteDateTime nor UtcDateTime` };
  const date = attrOf(smpte, 'broadcastDate')?.trim() ?? '';
  const d = DATE.exec(date);
  if (!d || Number.isNaN(Date.parse(`${date}T00:00:00Z`)))
    return { ok: false, reason: `${what}: broadcastDate "${date}" is not a date (YYYY-MM-DD)` };
  const day = dayOf(date, clock);
  const declared = attrOf(smpte, 'utcStartofBroadcastDay');
  if (declared !== null && Date.parse(declared) !== day.fromMs)
    return {
      ok: false,
      reason:
        `${what}: utcStartofBroadcastDay ${declared} is not the start of the channel's broadcast day ${date} ` +
        `(${new Date(day.fromMs).toISOString()}: ${clock.dayStart} in ${clock.timeZone})`,
    };
  const rate = rateOf(smpte, clock);
  if (!rate.ok) return { ok: false, reason: `${what}: ${rate.reason}` };
  const text = textOf(childOf(smpte, 'SmpteTimeCode'));
  if (text === null) return { ok: false, reason: `${what} has no SmpteTimeCode` };
  const tc = parseTimeCode(text);
  const frames = tc.ok ? timeCodeFrames(tc.value, rate.value) : tc;
  if (!frames.ok) return { ok: false, reason: `${what}: ${frames.reason}` };
  const ofDay = framesToMs(frames.value, rate.value);
  // Before the day's start time: the early hours of the next calendar date.
  const t = TIME_OF_DAY.exec(clock.dayStart)!;
  const dayStartMs = ((Number(t[1]) * 60 + Number(t[2])) * 60 + Number(t[3] ?? 0)) * 1000;
  const calendar = new Date(Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]) + (ofDay < dayStartMs ? 1 : 0)));
  const seconds = Math.floor(ofDay / 1000);
  const ms =
    localToUtc(
      {
        year: calendar.getUTCFullYear(),
        month: calendar.getUTCMonth() + 1,
        day: calendar.getUTCDate(),
        hour: Math.floor(seconds / 3600),
        minute: Math.floor(seconds / 60) % 60,
        second: seconds % 60,
      },
      clock.timeZone,
    ) +
    (ofDay % 1000);
  return { ok: true, value: { ms, broadcastDate: date } };
}

/** The broadcast day an instant falls in: the local date of the instant less the day's start time. */
export function broadcastDateOf(ms: number, clock: ChannelClock): string {
  const t = TIME_OF_DAY.exec(clock.dayStart)!;
  const dayStartMs = ((Number(t[1]) * 60 + Number(t[2])) * 60 + Number(t[3] ?? 0)) * 1000;
  const local = ms + zoneOffsetMs(ms, clock.timeZone);
  return new Date(local - dayStartMs).toISOString().slice(0, 10);
}
