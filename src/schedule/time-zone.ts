/**
 * Local days in a channel's IANA time zone, with Intl alone (no time-zone
 * library: Intl carries the tz database in every Node build). A broadcast day
 * starts at a local time of day (06:00 by default) and ends at the same local
 * time the next day, so the day of a daylight-saving change lasts 23 or 25 hours.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The zone's offset from UTC at instant `ms`, in ms (+3 600 000 for BST). */
export function zoneOffsetMs(ms: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms)))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  // Intl gives whole seconds: compare with the instant's whole second.
  return asUtc - (ms - (((ms % 1000) + 1000) % 1000));
}

export interface LocalTime {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
  hour?: number;
  minute?: number;
  second?: number;
}

/**
 * The UTC instant of a local wall-clock time. A time the clocks skip (01:30 on
 * a spring-forward night in London) is taken as the same span after the jump
 * (02:30 BST); a time they pass twice (01:30 in October) as its first passing.
 * The same rule as Temporal's 'compatible' disambiguation.
 */
export function localToUtc(local: LocalTime, timeZone: string): number {
  const wall = Date.UTC(local.year, local.month - 1, local.day, local.hour ?? 0, local.minute ?? 0, local.second ?? 0);
  // The offsets a day either side: a change of offset lies between them (none is closer than days apart).
  const before = zoneOffsetMs(wall - 86_400_000, timeZone);
  const after = zoneOffsetMs(wall + 86_400_000, timeZone);
  const viaBefore = wall - before;
  const viaAfter = wall - after;
  const fitsBefore = zoneOffsetMs(viaBefore, timeZone) === before;
  const fitsAfter = zoneOffsetMs(viaAfter, timeZone) === after;
  if (fitsBefore && fitsAfter) return Math.min(viaBefore, viaAfter); // passed twice: the first
  if (fitsBefore) return viaBefore;
  if (fitsAfter) return viaAfter;
  return viaBefore; // skipped: the old offset lands the same span after the jump
}

export interface Window {
  /** First instant in it (ms since the Unix epoch, UTC). */
  fromMs: number;
  /** First instant after it. */
  toMs: number;
}

/** `YYYY-MM-DD` */
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** `HH:MM` or `HH:MM:SS` */
const TIME = /^(\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * The broadcast day named `date` (its local calendar date) in `timeZone`: from
 * `dayStart` local time that date to `dayStart` the next.
 * @defaultValue dayStart '06:00'
 */
export function broadcastDay(date: string, timeZone: string, dayStart = '06:00'): Window {
  const d = DATE.exec(date);
  const t = TIME.exec(dayStart);
  if (!d) throw new RangeError(`not a date (YYYY-MM-DD): ${date}`);
  if (!t || Number(t[1]) > 23 || Number(t[2]) > 59 || Number(t[3] ?? 0) > 59)
    throw new RangeError(`not a time of day (HH:MM[:SS]): ${dayStart}`);
  const time = { hour: Number(t[1]), minute: Number(t[2]), second: Number(t[3] ?? 0) };
  const [year, month, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
  // The next calendar date, through UTC (no zone has a day without a date).
  const next = new Date(Date.UTC(year, month - 1, day + 1));
  return {
    fromMs: localToUtc({ year, month, day, ...time }, timeZone),
    toMs: localToUtc(
      { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate(), ...time },
      timeZone,
    ),
  };
}
