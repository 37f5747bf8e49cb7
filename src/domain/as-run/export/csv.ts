import { isoTime } from '../../shared/iso-time.ts';
import type { ExportRow } from './read.ts';

/** RFC 4180: records end with CRLF, the header row included. */
const EOL = '\r\n';

export const CSV_COLUMNS = [
  'id',
  'channel_id',
  'channel_name',
  'playlist_id',
  'item_id',
  'asset_id',
  'clip_name',
  'started_at',
  'ended_at',
  'duration_ms',
  'status',
  // Added last: readers of the earlier columns by position are unaffected.
  'reason',
  // As-run against plan, after it for the same reason: empty for manual play.
  'schedule_event_id',
  'planned_start_at',
  'planned_end_at',
  'offset_ms',
  'fills',
] as const;

export const CSV_HEADER = CSV_COLUMNS.join(',') + EOL;

/**
 * A spreadsheet reads a cell that starts with one of these as a formula
 * (CSV/formula injection, OWASP "CSV Injection"): =, +, - and @, and tab or CR
 * which some applications strip before looking at the next character.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * Free text (channel and clip names, written by users) that would start a
 * formula gets a leading apostrophe, the common practice (OWASP): spreadsheets
 * show the text as typed and hide the apostrophe; a program parsing the file
 * sees the apostrophe and can strip it. Identifiers, times, numbers and the
 * status are written by onair and never start that way.
 */
export function neutralizeFormula(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** RFC 4180 field: quoted when it holds a comma, a quote, CR or LF; quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

const time = (date: Date | null) => (date ? isoTime(date) : '');

/** One record: times in ISO 8601 UTC with milliseconds; absent values are empty fields. */
export function csvRow(row: ExportRow): string {
  return (
    [
      row.id,
      row.channelId,
      neutralizeFormula(row.channelName),
      row.playlistId ?? '',
      row.itemId ?? '',
      row.assetId ?? '',
      neutralizeFormula(row.clipName),
      time(row.startedAt),
      time(row.endedAt),
      row.durationMs === null ? '' : String(row.durationMs),
      row.status,
      neutralizeFormula(row.reason ?? ''),
      row.scheduleEventId ?? '',
      time(row.plannedStartAt ?? null),
      time(row.plannedEndAt ?? null),
      row.plannedStartAt ? String(row.startedAt.getTime() - row.plannedStartAt.getTime()) : '',
      row.fills ?? '',
    ]
      .map(csvField)
      .join(',') + EOL
  );
}
