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
