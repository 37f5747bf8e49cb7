// Date.prototype.toISOString goes through V8's date cache on every call; an
// as-run page formats 200 instants, and a CSV export millions. Instants of one
// UTC day share their first 11 characters, so those are kept per day and only
// the time of day is built each time.

const DAY_MS = 86_400_000;
/** toISOString's plain form (four-digit years) covers 0000-01-01 to 9999-12-31. */
const MIN_MS = -62_167_219_200_000;
const MAX_MS = 253_402_300_800_000;
const MAX_DAYS_KEPT = 512;

const dayPrefixes = new Map<number, string>();

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/** The instant as `Date.prototype.toISOString` writes it (`2026-11-25T20:15:00.000Z`). */
export function isoTime(instant: Date | number): string {
  const ms = typeof instant === 'number' ? instant : instant.getTime();
  if (!(ms >= MIN_MS && ms < MAX_MS) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    if (dayPrefixes.size >= MAX_DAYS_KEPT) dayPrefixes.clear();
    prefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    dayPrefixes.set(day, prefix);
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  return `${prefix}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${pad3(rest - seconds * 1000)}Z`;
}

/** RFC 3339 with an explicit offset: a local time without a zone is ambiguous on air. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|([+-])(\d{2}):(\d{2}))$/i;

/**
 * The instant an RFC 3339 date-time with a time zone names, or null when it
 * names none. Strict where `Date.parse` is lenient: 2026-02-30 does not roll
 * over into March, hours run to 23, minutes and seconds to 59, offsets to 23:59.
 * The DateTime scalar and the as-run export both parse with it.
 */
export function parseRfc3339(value: string): Date | null {
  const m = RFC3339.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second = 0] = m.slice(1, 7).map((part) => Number(part ?? 0));
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return null;
  if (m[9] && (Number(m[10]) > 23 || Number(m[11]) > 59)) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
