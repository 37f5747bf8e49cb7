import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import type { SidecarEvent, SidecarEventInput } from '../protocol/sidecar-api.ts';

/** @defaultValue how many events stay in memory for readers */
export const EVENT_LOG_CAPACITY = 10_000;

export interface EventLogOptions {
  /** @defaultValue EVENT_LOG_CAPACITY */
  capacity?: number;
  /** Also append each event, with the epoch, as one JSON line here (best effort; survives restarts). */
  file?: string;
  now?: () => number;
}

/**
 * A UUIDv7-shaped id: the first 48 bits are the Unix time in milliseconds, so
 * later epochs sort after earlier ones as text; the rest is random.
 */
export function timeOrderedId(nowMs = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(Math.max(0, Math.floor(nowMs)) % 2 ** 48, 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The ordered, numbered record the control plane reads to write as-run rows.
 * Numbering starts at 1 with a fresh epoch each start, so a reader that sees a
 * new epoch knows to read from the start again; epochs sort by start time, so
 * the control plane can tell a stale page of an earlier run from a newer run.
 * Long polls wait on it.
 */
export class EventLog {
  readonly epoch: string;
  private readonly events: SidecarEvent[] = [];
  private seq = 0;
  private readonly waiters = new Set<() => void>();
  private readonly capacity: number;
  private readonly now: () => number;
  private writes: Promise<void> = Promise.resolve();
  private wakeScheduled: NodeJS.Immediate | null = null;

  constructor(private readonly options: EventLogOptions = {}) {
    this.capacity = options.capacity ?? EVENT_LOG_CAPACITY;
    this.now = options.now ?? Date.now;
    this.epoch = timeOrderedId(this.now());
  }

  get lastSeq(): number {
    return this.seq;
  }

  append(input: SidecarEventInput): SidecarEvent {
    const event = { ...input, seq: ++this.seq, at: new Date(this.now()).toISOString() } as SidecarEvent;
    this.events.push(event);
    if (this.events.length > this.capacity) this.events.splice(0, this.events.length - this.capacity);
    const file = this.options.file;
    if (file)
      this.writes = this.writes
        .then(() => appendFile(file, `${JSON.stringify({ epoch: this.epoch, ...event })}\n`))
        .catch(() => undefined);
    // Waiters answer once the current turn of the event loop is over: the
    // events a transport command appends together (item ended, state changed)
    // go out in one page, with the status as it stands after them, still
    // well within a frame.
    this.wakeScheduled ??= setImmediate(() => {
      this.wakeScheduled = null;
      for (const wake of [...this.waiters]) wake();
    });
    return event;
  }

  /** Events with seq > after, oldest first, at most `limit`. */
  after(after: number, limit = 1000): SidecarEvent[] {
    const first = this.events[0];
    if (!first || after >= this.seq) return [];
    const start = Math.max(0, after + 1 - first.seq);
    return this.events.slice(start, start + limit);
  }

  /**
   * Events after `after`, at once if there are some, else at the next append or
   * after waitMs. lastSeq is the seq to continue from: the last event returned
   * (events appended while the answer is written come in the next read).
   */
  wait(after: number, waitMs: number, signal?: AbortSignal): Promise<{ events: SidecarEvent[]; lastSeq: number }> {
    const page = () => {
      const events = this.after(after);
      return { events, lastSeq: events.at(-1)?.seq ?? this.seq };
    };
    const now = page();
    // A seq beyond ours comes from a previous epoch: answer at once so the reader sees the new epoch.
    if (now.events.length > 0 || after > this.seq || waitMs <= 0 || signal?.aborted) return Promise.resolve(now);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve(page());
      };
      const timer = setTimeout(done, waitMs);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Wakes every waiting reader (on shutdown) and waits for file writes. */
  async close(): Promise<void> {
    if (this.wakeScheduled) clearImmediate(this.wakeScheduled);
    this.wakeScheduled = null;
    for (const wake of [...this.waiters]) wake();
    await this.writes;
  }
}
