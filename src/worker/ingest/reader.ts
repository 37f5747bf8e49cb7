import { setTimeout as sleep } from 'node:timers/promises';
import { applyEventsPage, type AsRunRecord } from '../../domain/as-run-record.ts';
import { EngineSnapshots, engineState, toWire, unreachable, type EngineState } from '../../domain/engine-status.ts';
import type { EventsPage } from '../../protocol/sidecar-api.ts';
import type { Services } from '../../services/index.ts';
import type { SidecarTarget } from '../../services/sidecar-client.ts';
import type { HeartbeatWriter } from './heartbeats.ts';

export type ReaderServices = Pick<Services, 'db' | 'sql' | 'log' | 'pubsub' | 'sidecars'>;

/** A running channel as discovery found it. */
export interface ReaderChannel {
  id: string;
  projectId: string | null;
  sidecarRef: string;
  target: SidecarTarget;
  /** The position recorded when the reader started. */
  epoch: string | null;
  seq: number;
}

export interface ReaderOptions {
  waitMs: number;
  retryMs: number;
  snapshots: EngineSnapshots;
  heartbeats: HeartbeatWriter;
  /** Called when the reader ends by itself (the channel moved on to another sidecar). */
  onEnd?: () => void;
}

/** What a subscriber sees change (not the position within the item, which moves all the time). */
const visible = (s: EngineState | null) =>
  s &&
  JSON.stringify([s.reachable, s.state, s.playlistId, s.loop, s.current?.itemId, s.current?.startedAt.getTime(), s.nextItemId]);

/**
 * Reads one channel's sidecar event log, one long poll after another, and
 * turns each page into as-run rows, the channel's position and heartbeat, and
 * the engine status on the event bus. One request at a time: what the
 * sidecars see depends on the number of channels only.
 */
export class ChannelReader {
  private readonly abort = new AbortController();
  private epoch: string | null;
  private seq: number;
  private projectId: string | null;
  /** The latest state read (kept in the snapshot), and what subscribers were last told. */
  private last: EngineState | null = null;
  private published: string | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly services: ReaderServices,
    readonly channel: ReaderChannel,
    private readonly options: ReaderOptions,
  ) {
    this.epoch = channel.epoch;
    this.seq = channel.seq;
    this.projectId = channel.projectId;
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => {
      this.services.log.error({ channelId: this.channel.id, err: (err as Error).message }, 'event reader failed');
    });
  }

  /** Stops at once (abandoning a poll in flight) and waits for the page being applied, if any. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const { id } = this.channel;
    this.last = await this.options.snapshots.load(id).catch(() => null);
    this.published = visible(this.last);
    // The first poll answers at once: a fresh heartbeat and status for a channel just taken over.
    let waitMs = 0;
    let fromStart = false;
    while (!this.stopped) {
      const after = fromStart || this.epoch === null ? 0 : this.seq;
      let page: EventsPage;
      try {
        page = await this.services.sidecars.events(this.channel.target, after, waitMs, this.abort.signal);
      } catch {
        if (this.stopped) return;
        await this.unreachable();
        await sleep(this.options.retryMs, undefined, { signal: this.abort.signal }).catch(() => {});
        continue;
      }
      const receivedAt = new Date();
      waitMs = this.options.waitMs;
      fromStart = false;
      if (this.epoch !== null && page.epoch !== this.epoch && after > 0) {
        // The sidecar restarted: its new log is read from the start, at once.
        fromStart = true;
        waitMs = 0;
        continue;
      }
      // The status is the sidecar's own word, not the database's: it goes out before the page's
      // transaction (which takes milliseconds), so a change reaches subscribers within a frame.
      // A stop publishes its final status after the sidecar has exited, so after this one.
      if (page.status) this.publishState(engineState(id, page.status, receivedAt));
      const quiet = page.events.length === 0 && page.epoch === this.epoch && page.lastSeq <= this.seq;
      if (quiet) {
        this.options.heartbeats.beat(id, this.channel.sidecarRef, receivedAt);
        continue;
      }
      try {
        // The abort does not reach here: a page read is applied whole even while stopping.
        const applied = await applyEventsPage(this.services.db, { channelId: id, sidecarRef: this.channel.sidecarRef, after, page, receivedAt });
        if (applied.outcome === 'moved') {
          this.abort.abort();
          this.options.onEnd?.();
          return;
        }
        this.epoch = applied.epoch;
        this.seq = applied.seq;
        this.projectId = applied.projectId;
        if (applied.outcome === 'refetch') waitMs = 0;
        if (applied.outcome === 'stale') {
          this.services.log.warn({ channelId: id, epoch: page.epoch, recorded: applied.epoch }, 'the sidecar answers from an epoch older than the one recorded');
          await sleep(this.options.retryMs, undefined, { signal: this.abort.signal }).catch(() => {});
          continue;
        }
        if (applied.missed > 0) this.services.log.warn({ channelId: id, missed: applied.missed }, 'events lost before they were read (sidecar log full)');
        this.publishRows(applied.rows);
      } catch (err) {
        // The database may be restarting: the same page is read again.
        this.services.log.warn({ channelId: id, err: (err as Error).message }, 'events page not applied');
        await sleep(this.options.retryMs, undefined, { signal: this.abort.signal }).catch(() => {});
      }
    }
  }

  private publishRows(rows: AsRunRecord[]): void {
    for (const entry of rows) this.services.pubsub.publish('asRun', { projectId: this.projectId, entry });
  }

  /**
   * Published when something a subscriber sees changed; the snapshot is saved
   * at every answer, so its position is as fresh as the heartbeat (failover
   * resumes from it).
   */
  private publishState(state: EngineState): void {
    this.last = state;
    const seen = visible(state);
    if (seen !== this.published) {
      this.published = seen;
      this.services.pubsub.publish('engineStatus', this.channel.id, { projectId: this.projectId, status: toWire(state) });
    }
    this.options.snapshots.save(state).catch((err: Error) => this.services.log.warn({ channelId: this.channel.id, err: err.message }, 'engine snapshot not saved'));
  }

  /** Published once per outage, and only while the channel still runs this sidecar (a stop kills it on purpose). */
  private async unreachable(): Promise<void> {
    if (this.last?.reachable === false) return;
    try {
      const [row] = await this.services.sql.query<{ status: string; sidecarRef: string | null }>(
        `SELECT status::text AS status, sidecar_ref AS "sidecarRef" FROM channels WHERE id = $1::uuid`,
        [this.channel.id],
      );
      if (this.stopped || row?.status !== 'RUNNING' || row.sidecarRef !== this.channel.sidecarRef) return;
    } catch {
      return;
    }
    this.services.log.warn({ channelId: this.channel.id }, 'sidecar not answering');
    this.publishState(unreachable(this.last, this.channel.id));
  }
}
