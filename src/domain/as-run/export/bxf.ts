import { VIDEO_FORMATS, msToFrames } from '../../../protocol/video-formats.ts';
import type { ExportChannel, ExportRow, ExportWindow } from './read.ts';
import { isoTime } from '../../shared/iso-time.ts';
import { frameAt, frameRateOf } from '../../../schedule/frames.ts';
import { formatTimeCode, frameTimeCode, timeCodeDayFrames } from '../../../schedule/time-code.ts';

/*
 * SMPTE ST 2021 BXF as-run messages, written as text chunks.
 *
 * Structure and values follow the BXF 7.0 schemas published by SMPTE for
 * ST 2021-4 (github.com/SMPTE/st2021-4, tag bxf-7.0: schema/bxfschema.xsd,
 * schedule.xsd, asrun.xsd, bxftypes.xsd, eventdata.xsd, contentmetadata.xsd)
 * and the repository's "usecases/Asrun Use Case.xml":
 *
 *   BxfMessage (id, dateTime, messageType, origin, originType, userName, destination)
 *     BxfData action="add"
 *       Schedule type="Primary" scheduleId   -- one per channel: a Schedule holds one Channel
 *         Channel                            -- pmcp:ChannelType (ATSC PMCP 3.1)
 *         AsRun / BasicAsRun                 -- one per as-run entry, oldest first
 *           AsRunEventId/EventId             -- urn:uuid:<entry id>
 *           Content/ContentId/HouseNumber    -- the asset id; Content/Name: the clip name
 *           AsRunDetail: Status (AsRunStatusType), Type, StartDateTime, Duration, EventNotes
 *           PrivateInformation               -- the entry as onair stores it (exact times)
 *
 * The namespace is BXF 7.0's (2019); 8.x moved to .../2021/2022 and .../2021/2023
 * without changing these elements. Real as-run messages in the field (2008 and
 * 2017 namespaces) have the same shape and mark themselves with RP 2021-9's
 * usage extension attribute (ext:usage="AsRun"), which is written here too.
 */

export const BXF_NAMESPACE = 'http://smpte-ra.org/schemas/2021/2019/BXF';
export const BXF_EXTENSION_NAMESPACE = 'http://smpte-ra.org/schemas/2021/2019/BXF/Extension';
export const PMCP_NAMESPACE = 'http://www.atsc.org/XMLSchemas/pmcp/2007/3.1';
/** onair's own elements and attributes, where BXF allows any (PrivateInformation, extension attributes). */
export const ONAIR_NAMESPACE = 'urn:onair:as-run:1';

/** What identifies one message. Passed in so that the formatting stays a pure function. */
export interface BxfMessageInfo {
  /** A fresh UUID (BxfMessage/@id must be unique). */
  id: string;
  /** When the message was made. */
  dateTime: Date;
  /** Who asked for it (BxfMessage/@userName, 1 to 255 characters). */
  userName: string;
}

/** The device name and type onair sends as (BxfMessage/@origin, @originType) and the usual receiver. */
export const BXF_ORIGIN = 'onair';
export const BXF_ORIGIN_TYPE = 'Automation';
export const BXF_DESTINATION = 'Traffic';

/** AsRunStatusType (bxftypes.xsd) for each way an entry can end. */
export const BXF_STATUS = {
  PLAYED: 'Aired Without Discrepancy',
  SKIPPED: 'Aired with Duration Discrepancy',
  TRUNCATED: 'Aired with Duration Discrepancy',
  FAILED: 'Did not air',
} as const;
/** An entry still on air when the message was made: how it ends is not known yet. */
export const BXF_STATUS_NOT_ENDED = 'Unknown';

/** EventNotes: BXF has one status for "cut short"; the note keeps onair's distinction. */
const NOTE = {
  PLAYED: null,
  SKIPPED: 'Skipped: cut short by an operator.',
  TRUNCATED: 'Truncated: cut short by a stop or a failure of the channel.',
  FAILED: 'Failed: could not be put to air.',
} as const;
const NOTE_PASSED =
  'Skipped: the schedule passed it (a MANUAL event not taken, or overrun by a HARD event); it never aired.';
const NOTE_NOT_ENDED = 'On air when this message was made: its end and duration are not known yet.';

// Characters XML 1.0 cannot carry at all (C0 controls but tab, LF, CR; U+FFFE/F; lone surrogates).
const NOT_XML =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };
const ATTR_ESCAPES: Record<string, string> = {
  ...TEXT_ESCAPES,
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#9;',
  '\n': '&#10;',
};

/** Element content. CR is a character reference: a parser would turn a literal one into LF. */
export function xmlText(value: string): string {
  return value.replace(NOT_XML, '\uFFFD').replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c]);
}

/** Attribute value (double-quoted). Whitespace is referenced so that attribute normalization keeps it. */
export function xmlAttr(value: string): string {
  return value.replace(NOT_XML, '\uFFFD').replace(/[&<>"'\t\n\r]/g, (c) => ATTR_ESCAPES[c]);
}

/** How times are written in SMPTE time code for a channel's video format. */
export interface FrameClock {
  /** frameRate attribute (e.g. 25, 29.97, 59.94); null when the format is unknown. */
  frameRate: string | null;
  /** Frames counted per second in time code labels (25, 30, 60...). */
  nominal: number;
  /** ';' marks drop-frame time code (29.97 and 59.94 frames per second), ':' the rest. */
  separator: ':' | ';';
  videoFormat: string | null;
}

export function frameClock(videoFormat: string): FrameClock {
  const format = VIDEO_FORMATS.get(videoFormat);
  if (!format) return { frameRate: null, nominal: 25, separator: ':', videoFormat: null };
  const rate = format.timeScale / format.duration;
  const nominal = Math.round(rate);
  const dropFrame = format.duration === 1001 && nominal % 30 === 0;
  return { frameRate: String(Number(rate.toFixed(3))), nominal, separator: dropFrame ? ';' : ':', videoFormat };
}

const DAY_MS = 86_400_000;

/**
 * The label of the frame on air `ms` after 00:00:00:00 (a time of day, or a
 * length), counted as src/schedule/time-code.ts counts labels, so that the
 * schedule import reads back the same frame. Drop-frame labels are a frame
 * count, not clock time: at 29.97 they fall 2.6 frames (5.2 at 59.94) short of
 * the clock by the end of a day, whose last frames keep the day's last label
 * (time code is jammed back to 00:00:00;00 at midnight).
 */
export function smpteTimeCode(ms: number, clock: FrameClock): string {
  const rate = clock.videoFormat ? frameRateOf(clock.videoFormat) : { num: clock.nominal, den: 1 };
  const dropFrame = clock.separator === ';';
  const frame = Math.min(frameAt(ms, rate), timeCodeDayFrames(rate, dropFrame) - 1);
  return formatTimeCode(frameTimeCode(frame, rate, dropFrame));
}

const rateAttr = (clock: FrameClock) => (clock.frameRate ? ` frameRate="${clock.frameRate}"` : '');

/**
 * SmpteDateTime in UTC: broadcastDate is the UTC date and utcStartofBroadcastDay
 * says so, so a receiver in any time zone reads the same instant.
 */
export function bxfStartDateTime(startedAt: Date, clock: FrameClock): string {
  const t = startedAt.getTime();
  const date = startedAt.toISOString().slice(0, 10);
  const ofDay = ((t % DAY_MS) + DAY_MS) % DAY_MS;
  return (
    `<StartDateTime><SmpteDateTime broadcastDate="${date}" utcStartofBroadcastDay="${date}T00:00:00Z"${rateAttr(clock)}>` +
    `<SmpteTimeCode>${smpteTimeCode(ofDay, clock)}</SmpteTimeCode></SmpteDateTime></StartDateTime>`
  );
}

/** SmpteDuration with the exact frame count; a day or more does not fit time code (hours 00-23): xs:duration then. */
export function bxfDuration(ms: number, clock: FrameClock): string {
  if (ms >= DAY_MS) return `<Duration><UtcDuration>PT${ms / 1000}S</UtcDuration></Duration>`;
  const frames = clock.videoFormat ? ` framecount="${msToFrames(ms, clock.videoFormat)}"` : '';
  return `<Duration><SmpteDuration${rateAttr(clock)}${frames}><SmpteTimeCode>${smpteTimeCode(ms, clock)}</SmpteTimeCode></SmpteDuration></Duration>`;
}

/** How long the entry aired: as recorded, else from its end; null while it has not ended. */
function airedMs(row: ExportRow): number | null {
  if (row.durationMs !== null) return row.durationMs;
  return row.endedAt ? Math.max(0, row.endedAt.getTime() - row.startedAt.getTime()) : null;
}

/** The first 255 characters (BxfMessage/@userName's limit), never empty. */
function userNameOf(name: string): string {
  const chars = Array.from(name.trim()).slice(0, 255).join('');
  return chars || BXF_ORIGIN;
}

/** The XML declaration, BxfMessage and BxfData start tags. */
export function bxfHeader(message: BxfMessageInfo): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<BxfMessage xmlns="${BXF_NAMESPACE}" xmlns:pmcp="${PMCP_NAMESPACE}" xmlns:ext="${BXF_EXTENSION_NAMESPACE}" xmlns:onair="${ONAIR_NAMESPACE}"` +
    ` id="urn:uuid:${message.id}" dateTime="${message.dateTime.toISOString()}" messageType="Information"` +
    ` origin="${BXF_ORIGIN}" originType="${BXF_ORIGIN_TYPE}" userName="${xmlAttr(userNameOf(message.userName))}"` +
    ` destination="${BXF_DESTINATION}" ext:usage="AsRun">\n` +
    '<BxfData action="add">\n'
  );
}

export const BXF_FOOTER = '</BxfData>\n</BxfMessage>\n';

/**
 * A channel's Schedule start tag and its Channel. PMCP's shortName is a PSIP
 * short name (7 characters); the full name is pmcp:Name, the id an onair attribute.
 */
export function bxfScheduleStart(channel: ExportChannel, window: ExportWindow, scheduleId: string): string {
  const shortName = Array.from(channel.name.trim()).slice(0, 7).join('') || BXF_ORIGIN;
  const bounds =
    (window.from ? ` scheduleStart="${window.from.toISOString()}"` : '') +
    (window.to ? ` scheduleEnd="${window.to.toISOString()}"` : '');
  return (
    `<Schedule type="Primary" scheduleId="urn:uuid:${scheduleId}"${bounds}>\n` +
    `<Channel type="digital_television" shortName="${xmlAttr(shortName)}" onair:channelId="${channel.id}">` +
    `<pmcp:Name>${xmlText(channel.name)}</pmcp:Name></Channel>\n`
  );
}

export const BXF_SCHEDULE_END = '</Schedule>\n';

const eventNotes = (notes: (string | null)[]) => {
  const written = notes.filter((n): n is string => n !== null);
  return written.length
    ? `<EventNotes>${written.map((n) => `<EventNote>${xmlText(n)}</EventNote>`).join('')}</EventNotes>`
    : '';
};

const optionalAttr = (name: string, value: string | number | null) =>
  value === null ? '' : ` ${name}="${xmlAttr(String(value))}"`;

const FILL_NOTE = {
  GAP: 'filler in a gap of the schedule',
  MISSING: 'filler in place of a scheduled clip that could not air',
  MANUAL: 'filler while a MANUAL event held',
} as const;

/**
 * What a schedule aired, against its plan: the planned start as time code and
 * how far off the actual start was, in frames and milliseconds, and why filler
 * aired. BXF's as-run carries actual times only; the note says it to a reader
 * and PrivateInformation keeps the exact values.
 */
export function planNote(row: ExportRow, clock: FrameClock): string | null {
  if (!row.plannedStartAt) return null;
  const offsetMs = row.startedAt.getTime() - row.plannedStartAt.getTime();
  const frameMs = 1000 / clock.nominal;
  const frames = Math.round(offsetMs / frameMs);
  const ofDay = ((row.plannedStartAt.getTime() % DAY_MS) + DAY_MS) % DAY_MS;
  const how =
    frames === 0
      ? 'on its frame'
      : `${Math.abs(frames)} frame(s) ${frames > 0 ? 'late' : 'early'} (${offsetMs > 0 ? '+' : ''}${offsetMs} ms)`;
  const fill = row.fills ? `; ${FILL_NOTE[row.fills]}` : '';
  return `Against plan: planned ${row.plannedStartAt.toISOString().slice(0, 10)} ${smpteTimeCode(ofDay, clock)} UTC, started ${how}${fill}.`;
}

/**
 * A SKIPPED row the control plane wrote for an event the schedule passed (it
 * never aired: as-run-skipped.ts writes it with no length, its planned span
 * empty), told apart from an airing an operator's skip cut short (a clip that
 * aired, from manual play or the schedule: "Aired with Duration Discrepancy").
 */
export function passedBySchedule(row: ExportRow): boolean {
  return (
    row.status === 'SKIPPED' &&
    !!row.plannedStartAt &&
    row.plannedEndAt?.getTime() === row.plannedStartAt.getTime() &&
    !airedMs(row)
  );
}

/** One entry: AsRun/BasicAsRun, on one line. */
export function bxfAsRun(row: ExportRow, clock: FrameClock): string {
  const aired = airedMs(row);
  const ended = row.endedAt !== null || row.durationMs !== null;
  const notEnded = !ended && row.status !== 'FAILED';
  const passed = passedBySchedule(row);
  const status = notEnded ? BXF_STATUS_NOT_ENDED : passed ? BXF_STATUS.FAILED : BXF_STATUS[row.status];
  const note = notEnded ? NOTE_NOT_ENDED : passed ? NOTE_PASSED : NOTE[row.status];
  // The content id is required: without an asset, the clip name stands in as an alternate id.
  const contentId = row.assetId
    ? `<HouseNumber>${xmlText(row.assetId)}</HouseNumber>`
    : `<AlternateId idType="ClipName">${xmlText(row.clipName)}</AlternateId>`;
  return (
    '<AsRun><BasicAsRun>' +
    `<AsRunEventId><EventId>urn:uuid:${row.id}</EventId></AsRunEventId>` +
    `<Content><ContentId>${contentId}</ContentId><Name>${xmlText(row.clipName)}</Name></Content>` +
    `<AsRunDetail><Status>${status}</Status><Type>Primary</Type>` +
    bxfStartDateTime(row.startedAt, clock) +
    bxfDuration(aired ?? 0, clock) +
    eventNotes([note, planNote(row, clock)]) +
    '</AsRunDetail>' +
    '<PrivateInformation><onair:AsRunEntry' +
    optionalAttr('id', row.id) +
    optionalAttr('channelId', row.channelId) +
    optionalAttr('playlistId', row.playlistId) +
    optionalAttr('itemId', row.itemId) +
    optionalAttr('assetId', row.assetId) +
    optionalAttr('startedAt', isoTime(row.startedAt)) +
    optionalAttr('endedAt', row.endedAt ? isoTime(row.endedAt) : null) +
    optionalAttr('durationMs', row.durationMs) +
    optionalAttr('status', row.status) +
    optionalAttr('reason', row.reason ?? null) +
    optionalAttr('scheduleEventId', row.scheduleEventId ?? null) +
    optionalAttr('plannedStartAt', row.plannedStartAt ? isoTime(row.plannedStartAt) : null) +
    optionalAttr('plannedEndAt', row.plannedEndAt ? isoTime(row.plannedEndAt) : null) +
    optionalAttr('offsetMs', row.plannedStartAt ? row.startedAt.getTime() - row.plannedStartAt.getTime() : null) +
    optionalAttr('fills', row.fills ?? null) +
    '/></PrivateInformation>' +
    '</BasicAsRun></AsRun>\n'
  );
}
