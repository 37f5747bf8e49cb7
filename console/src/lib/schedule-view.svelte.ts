import {
  ScheduleDayViewDocument,
  ScheduleNowAndNextDocument,
  ScheduleSettingsDocument,
  ScheduleTakeDocument,
  ScheduleViewAsRunDocument,
  ScheduleViewChangedDocument,
  type ScheduleAsRunFragment,
  type ScheduleDayViewQuery,
  type ScheduleNowFragment,
  type ScheduleViewEventFragment,
  type WallChannelFragment,
} from '../gql/graphql.ts';
import type { Api } from './api.ts';
import { broadcastDateOf, dayWindow } from './schedule-time.ts';

type Schedule = NonNullable<ScheduleDayViewQuery['channel']>['schedule'];
export type ScheduleDay = Schedule['day'];

/** A row of the day view: an event as planned, or filler (or black) between events. */
export type DayRow =
  | { kind: 'event'; event: ScheduleViewEventFragment; clip: string; actual: ScheduleAsRunFragment | null }
  | { kind: 'gap'; start: string; end: string; fills: string | null; alarm: boolean };

// An as-run entry counts as an event's actual start when it began this close before its planned
// start (a take, an early join), or any time before its planned end.
const EARLY_START_ALLOWANCE_MS = 10 * 60_000;
const NOW_READ_INTERVAL_MS = 250;

/**
 * One channel's schedule for one broadcast day: the day as the API plans it, now and next (read
 * again whenever what airs changes), and the as-run of the day's window for actual start times.
 * Kept live by scheduleChanged (the day read again) and the channel's asRun.
 */
export class ScheduleViewState {
  channel = $state<WallChannelFragment | null>(null);
  schedule = $state<Schedule | null>(null);
  now = $state<ScheduleNowFragment | null>(null);
  asRun = $state<ScheduleAsRunFragment[]>([]);
  /** The broadcast day shown; null until the channel's zone is known (then today's). */
  date = $state<string | null>(null);
  missing = $state(false);
  loadError = $state<string | null>(null);
  /** Date.now() of the animation frame being drawn; countdowns read it. */
  clock = $state(Date.now());

  private readonly stops: (() => void)[] = [];
  private frame = 0;
  private reading = 0;
  private nowInFlight = false;
  /** The day's read under way from a change (scheduleChanged, as-run), and whether another is due after it. */
  private rereading: Promise<void> | null = null;
  private rereadAgain = false;
  /** As-run entries that already had the day read again: an entry arrives when it starts and again when it ends. */
  private readonly rereadFor = new Set<string>();
  /** No re-read of now and next before this (Date.now()): a server clock behind the page's asks again at most this often. */
  private nowReadAfter = 0;
  /** The day shown is today's, not one picked: at its end the next day is shown. */
  private followsToday = true;

  constructor(
    private readonly api: Api,
    readonly channelId: string,
  ) {}

  /** When now-and-next is next due to change: the end of the segment on air, the next event's or HARD start. */
  get nowChangesAt(): number | null {
    const n = this.now;
    if (!n) return null;
    const times = [n.segment?.end, n.nextEvent?.plannedStart, n.nextHardEvent?.time, n.event?.plannedEnd]
      .filter((t): t is string => typeof t === 'string')
      .map(Date.parse)
      .filter((t) => t > Date.parse(n.at));
    return times.length > 0 ? Math.min(...times) : null;
  }

  /** Events in air order, with the filler between them where the plan has some. */
  get rows(): DayRow[] {
    const day = this.schedule?.day;
    if (!day) return [];
    const clips = new Map<string, string>();
    for (const s of day.segments)
      if (s.kind === 'CLIP' && s.eventId && s.clipIndex === 0 && s.clipName) clips.set(s.eventId, s.clipName);
    const gaps = mergedGaps(day);
    const used = new Set<string>();
    const rows: DayRow[] = [];
    let g = 0;
    for (const event of day.events) {
      if (event.plannedStart) {
        const start = Date.parse(event.plannedStart);
        while (g < gaps.length && Date.parse(gaps[g].start) < start) rows.push(gaps[g++]);
      }
      const clip =
        event.event?.asset?.filename ?? clips.get(event.eventId) ?? event.event?.playlist?.name ?? '(removed)';
      const actual = this.actualStart(event, clip, event.event?.asset?.id ?? null, used);
      if (actual) used.add(actual.id);
      rows.push({ kind: 'event', event, clip, actual });
    }
    rows.push(...gaps.slice(g));
    return rows;
  }

  start(): void {
    const variables = { channelId: this.channelId };
    this.stops.push(
      this.api.subscribe(ScheduleViewChangedDocument, variables, {
        next: () => void this.reread(),
        error: () => {
          this.missing = true;
        },
      }),
      this.api.subscribe(ScheduleViewAsRunDocument, variables, {
        next: ({ asRun }) => this.applyAsRun(asRun),
      }),
    );
    void this.load();
    const tick = () => {
      this.clock = Date.now();
      const due = this.nowChangesAt;
      if (due !== null && this.clock >= due && this.clock >= this.nowReadAfter) void this.readNow();
      const day = this.schedule?.day;
      if (this.followsToday && day && this.clock >= Date.parse(day.to) && this.date === day.date) {
        this.date = null;
        void this.load();
      }
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  stop(): void {
    cancelAnimationFrame(this.frame);
    for (const stop of this.stops.splice(0)) stop();
  }

  /** Shows another broadcast day (YYYY-MM-DD). */
  show(date: string): void {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || date === this.date) return;
    const schedule = this.schedule;
    this.followsToday = schedule !== null && date === broadcastDateOf(Date.now(), schedule.timeZone, schedule.dayStart);
    this.date = date;
    void this.load();
  }

  /**
   * Takes a MANUAL event that holds (an operator's confirmed action), then reads the day again: a
   * take moves the plan (the event airs from now, those after it follow on) without a new version
   * of the schedule, so no scheduleChanged tells of it.
   */
  async take(eventId: string): Promise<void> {
    await this.api.request(ScheduleTakeDocument, { channelId: this.channelId, eventId });
    await this.load();
  }

  /**
   * Reads the day again after a change: one read at a time, and at most one more after it, however
   * many changes came meanwhile (an import or a playlist edit publishes a burst of them).
   */
  reread(): Promise<void> {
    if (this.rereading) {
      this.rereadAgain = true;
      return this.rereading;
    }
    const run = async () => {
      do {
        this.rereadAgain = false;
        await this.load();
      } while (this.rereadAgain);
      this.rereading = null;
    };
    this.rereading = run();
    return this.rereading;
  }

  /** Reads the day shown (today's at first), now and next, and the as-run of its window. */
  async load(): Promise<void> {
    const reading = ++this.reading;
    try {
      let settings = this.schedule;
      if (!settings) {
        const { channel } = await this.api.request(ScheduleSettingsDocument, { id: this.channelId });
        if (!channel) {
          this.missing = true;
          return;
        }
        settings = channel.schedule as Schedule;
      }
      const date = this.date ?? broadcastDateOf(Date.now(), settings.timeZone, settings.dayStart);
      const window = dayWindow(date, settings.timeZone, settings.dayStart);
      const { channel } = await this.api.request(ScheduleDayViewDocument, {
        id: this.channelId,
        date,
        from: new Date(window.fromMs).toISOString(),
        to: new Date(window.toMs).toISOString(),
      });
      // A later read (another day picked, another change) answers for the page.
      if (reading !== this.reading) return;
      this.loadError = null;
      if (!channel) {
        this.missing = true;
        return;
      }
      const { schedule, asRun, ...rest } = channel;
      // The zone or the day's start changed (SETTINGS_CHANGED): the day and window were those of the
      // old ones. Read again with the new ones (today's day in them, unless a day was picked).
      if (schedule.timeZone !== settings.timeZone || schedule.dayStart !== settings.dayStart) {
        this.schedule = schedule;
        if (this.followsToday) this.date = null;
        return this.load();
      }
      this.channel = rest;
      this.date = date;
      this.schedule = schedule;
      this.now = schedule.nowAndNext;
      const read = asRun.edges.map((e) => e.node);
      const pushed = this.asRun.filter((e) => !read.some((r) => r.id === e.id) && inDay(e, schedule.day));
      this.asRun = [...read, ...pushed];
    } catch (err) {
      if (reading === this.reading) this.loadError = (err as Error).message;
    }
  }

  /** Reads now and next again (what airs changed at a boundary). */
  private async readNow(): Promise<void> {
    if (this.nowInFlight) return;
    this.nowInFlight = true;
    this.nowReadAfter = Date.now() + NOW_READ_INTERVAL_MS;
    try {
      const { channel } = await this.api.request(ScheduleNowAndNextDocument, { id: this.channelId });
      if (channel) this.now = channel.schedule.nowAndNext;
    } catch {
      // The next frame asks again.
    } finally {
      this.nowInFlight = false;
    }
  }

  private applyAsRun(entry: ScheduleAsRunFragment): void {
    if (!this.schedule || !inDay(entry, this.schedule.day)) return;
    this.asRun = [...this.asRun.filter((e) => e.id !== entry.id), entry];
    // What aired (or was passed) against a plan that says otherwise: the plan shown is out of date
    // (an event passed by a HARD start is SKIPPED now, a held one was taken). Read once per entry:
    // the API's plan may keep disagreeing (it plans from the schedule, the as-run is the sidecar's).
    if (this.rereadFor.has(entry.id) || !contradicts(entry, this.schedule.day)) return;
    this.rereadFor.add(entry.id);
    void this.reread();
  }

  /**
   * The as-run entry of the event's first airing: the first recorded for it (by its schedule event),
   * else, for entries that do not name one, the one of its first clip nearest its planned start.
   */
  private actualStart(
    event: ScheduleViewEventFragment,
    clip: string,
    assetId: string | null,
    used: Set<string>,
  ): ScheduleAsRunFragment | null {
    const named = this.asRun
      .filter((e) => e.scheduleEventId === event.eventId && e.fills !== 'MANUAL')
      .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    if (named.length > 0) return named[0];
    if (!event.plannedStart || !event.plannedEnd) return null;
    const planned = Date.parse(event.plannedStart);
    const end = Date.parse(event.plannedEnd);
    let best: ScheduleAsRunFragment | null = null;
    for (const entry of this.asRun) {
      if (used.has(entry.id) || entry.scheduleEventId) continue;
      if (assetId ? entry.assetId !== assetId : entry.clipName !== clip) continue;
      const started = Date.parse(entry.startedAt);
      if (started < planned - EARLY_START_ALLOWANCE_MS || started >= end) continue;
      if (!best || Math.abs(started - planned) < Math.abs(Date.parse(best.startedAt) - planned)) best = entry;
    }
    return best;
  }
}

/** Whether an as-run entry naming an event of the day tells of another outcome than the plan's status. */
function contradicts(entry: ScheduleAsRunFragment, day: ScheduleDay): boolean {
  if (!entry.scheduleEventId || entry.fills) return false;
  const event = day.events.find((e) => e.eventId === entry.scheduleEventId);
  if (!event) return false;
  const passed = entry.status === 'SKIPPED' && entry.endedAt === entry.startedAt;
  return passed ? event.status !== 'SKIPPED' : event.status !== 'PLANNED';
}

function inDay(entry: ScheduleAsRunFragment, day: ScheduleDay): boolean {
  const t = Date.parse(entry.startedAt);
  return t >= Date.parse(day.from) && t < Date.parse(day.to);
}

/**
 * Filler (or black) not standing in for an event, consecutive segments as one, within the day
 * (the plan gives the segments crossing the day's edges whole).
 */
function mergedGaps(day: ScheduleDay): Extract<DayRow, { kind: 'gap' }>[] {
  const gaps: Extract<DayRow, { kind: 'gap' }>[] = [];
  const later = (a: string, b: string) => (Date.parse(a) >= Date.parse(b) ? a : b);
  const earlier = (a: string, b: string) => (Date.parse(a) <= Date.parse(b) ? a : b);
  for (const s of day.segments) {
    if (s.kind === 'CLIP' || s.eventId) continue;
    const [start, end] = [later(s.start, day.from), earlier(s.end, day.to)];
    if (Date.parse(start) >= Date.parse(end)) continue;
    const last = gaps.at(-1);
    if (last && last.end === start && last.alarm === s.alarm) last.end = end;
    else gaps.push({ kind: 'gap', start, end, fills: s.fills ?? null, alarm: s.alarm });
  }
  return gaps;
}
