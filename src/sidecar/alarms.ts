import type { Alarm, AlarmKind, Status } from '../protocol/sidecar-api.ts';
import type { EventLog } from './event-log.ts';

export type CounterName = keyof NonNullable<Status['counters']>;

/**
 * The alarms this sidecar has up now, and its fault counters. An alarm is
 * raised once (ALARM_RAISED in the event log, at once) and cleared once
 * (ALARM_CLEARED); raising it again while it is up only updates the message
 * /status shows, so a fault that repeats does not flood the log.
 */
export class Alarms {
  private readonly up = new Map<AlarmKind, Alarm>();
  private readonly counts: Record<CounterName, number> = { outputReconnects: 0, framesDropped: 0 };

  constructor(
    private readonly log: EventLog,
    private readonly now: () => number = Date.now,
  ) {}

  raise(kind: AlarmKind, message: string): void {
    const current = this.up.get(kind);
    if (current) {
      current.message = message;
      return;
    }
    this.up.set(kind, { kind, message, since: new Date(this.now()).toISOString() });
    this.log.append({ kind: 'ALARM_RAISED', alarm: kind, message });
  }

  clear(kind: AlarmKind): void {
    if (!this.up.delete(kind)) return;
    this.log.append({ kind: 'ALARM_CLEARED', alarm: kind });
  }

  isUp(kind: AlarmKind): boolean {
    return this.up.has(kind);
  }

  count(name: CounterName, n = 1): void {
    this.counts[name] += n;
  }

  list(): Alarm[] {
    return [...this.up.values()].map((a) => ({ ...a }));
  }

  counters(): Record<CounterName, number> {
    return { ...this.counts };
  }
}
