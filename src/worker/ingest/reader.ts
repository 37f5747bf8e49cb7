import { setTimeout as sleep } from 'node:timers/promises';
import { announceAlarms, clearAlarm, raiseAlarm, type AlarmChange } from '../../domain/channels/alarms.ts';
import { applyEventsPage, type AsRunRecord, type PageApplied } from '../../domain/as-run/as-run-record.ts';
import { publishChannelEvent } from '../../domain/channels/channel-events.ts';
import { markMissingMedia } from '../../domain/media/staging/missing.ts';
import { checkScheduleAcknowledged } from '../../domain/schedules/schedule-push.ts';
import {
  type EngineSnapshots,
  engineState,
  toWire,
  unreachable,
  type EngineState,
} from '../../domain/channels/engine-status.ts';
import type { EventsPage, Status } from '../../protocol/sidecar-api.ts';
import type { Services } from '../../services/index.ts';
import type { SidecarTarget } from '../../services/sidecar-client.ts';
import type { HeartbeatWriter } from './heartbeats.ts';

export type ReaderServices = Pick<
  Services,
  'db' | 'sql' | 'log' | 'pubsub' | 'sidecars' | 'metrics' | 'queues' | 'config'
>;

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
  /** How long a sidecar may leave a health check unanswered while a poll waits (see HUNG_MS). */
  hungMs?: number;
}

/**
 * @defaultValue while a poll of the event log waits (up to EVENTS_WAIT_MS), the
 * sidecar is asked GET /healthz every second and must answer within this: a
 * sidecar that is hung (SIGSTOPped, wedged), not dead, raises
 * SIDECAR_UNREACHABLE within about 2.5 s rather than at the poll's timeout.
 * Failover still waits for HEARTBEAT_TIMEOUT_MS, so a sidecar that is only
 * starved of CPU for a moment is told about, not killed.
 */
export const HUNG_MS = 1500;
const PROBE_EVERY_MS = 1000;

/** What a subscriber sees change (not the position within the item, which moves all the time). */
const visible = (s: EngineState | null) =>
  s &&
  JSON.stringify([
    s.reachable,
    s.state,
    s.playlistId,
    s.loop,
    s.current?.itemId,
    s.current?.startedAt.getTime(),
    s.nextItemId,
    s.schedule ?? null,
  ]);

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
  /** Whether SIDECAR_UNREACHABLE is up; null: not known (another reader may have raised it). */
  private unreachableUp: boolean | null = null;
  /** The sidecar's counter totals last counted into the metrics, by epoch. */
  private counted: { epoch: string; outputReconnects: number; framesDropped: number } | null = null;

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
      const stopWatching = this.watchWhilePolling();
      try {
        page = await this.services.sidecars.events(this.channel.target, after, waitMs, this.abort.signal);
      } catch {
        if (this.stopped) return;
        await this.unreachable();
        await sleep(this.options.retryMs, undefined, { signal: this.abort.signal }).catch(() => {});
        continue;
      } finally {
        stopWatching();
      }
      const receivedAt = new Date();
      if (this.unreachableUp !== false) await this.reachable(receivedAt);
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
      if (page.status) {
        this.publishState(engineState(id, page.status, receivedAt));
        this.countTotals(page.epoch, page.status);
        // Not awaited: a version behind is pushed again beside the poll, never in its way.
        void checkScheduleAcknowledged(this.services, id, this.projectId, page.status.schedule?.version ?? null);
      }
      const quiet = page.events.length === 0 && page.epoch === this.epoch && page.lastSeq <= this.seq;
      if (quiet) {
        this.options.heartbeats.beat(id, this.channel.sidecarRef, receivedAt);
        continue;
      }
      try {
        // The abort does not reach here: a page read is applied whole even while stopping.
        const applied = await applyEventsPage(this.services.db, {
          channelId: id,
          sidecarRef: this.channel.sidecarRef,
          after,
          page,
          receivedAt,
        });
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
          this.services.log.warn(
            { channelId: id, epoch: page.epoch, recorded: applied.epoch },
            'the sidecar answers from an epoch older than the one recorded',
          );
          await sleep(this.options.retryMs, undefined, { signal: this.abort.signal }).catch(() => {});
          continue;
        }
        if (applied.missed > 0)
          this.services.log.warn(
            { channelId: id, missed: applied.missed },
            'events lost before they were read (sidecar log full)',
          );
        this.publishRows(applied.rows);
        this.announce(applied);
      } catch (err) {
        // The database may be restarting: the same page is read again.
        this.services.log.warn({ channelId: id, err: (err as Error).message }, 'events page not applied');
        await sleep(this.options.retryMs, undefined, { signal: this.abort.signal }).catch(() => {});
      }
    }
  }

  /** After the page committed: its alarms, the channel's errorMessage, and media found missing at air time. */
  private announce(applied: PageApplied): void {
    const { id } = this.channel;
    announceAlarms(this.services, this.projectId, applied.alarms);
    if (applied.errorMessage !== undefined) {
      if (applied.errorMessage !== null)
        this.services.log.error({ channelId: id, reason: applied.errorMessage }, 'playout stopped by a fault');
      publishChannelEvent(this.services, {
        kind: 'UPDATED',
        channelId: id,
        projectId: this.projectId,
        message: applied.errorMessage,
      });
    }
    const missing = applied.alarms.some((a) => a.kind === 'MEDIA_MISSING' && a.change === 'RAISED');
    if (applied.failedAssetIds.length > 0 || missing) {
      // Only READY assets whose file is really gone move; the rest stay as they are.
      markMissingMedia(
        this.services,
        missing && applied.failedAssetIds.length === 0 ? undefined : applied.failedAssetIds,
      ).catch((err: Error) => this.services.log.warn({ channelId: id, err: err.message }, 'missing media not marked'));
    }
  }

  /**
   * The sidecar's totals into this process's counters. A reader counts from
   * the totals it first sees (another process counted those before a
   * takeover); a new epoch (the sidecar restarted) counts from zero, so a
   * counter never goes down.
   */
  private countTotals(epoch: string, status: Status): void {
    const totals = status.counters;
    if (!totals) return;
    const last = this.counted;
    if (last) {
      const base = last.epoch === epoch ? last : { outputReconnects: 0, framesDropped: 0 };
      const channel = this.channel.id;
      const reconnects = totals.outputReconnects - base.outputReconnects;
      const dropped = totals.framesDropped - base.framesDropped;
      if (reconnects > 0) this.services.metrics.channelOutputReconnects.inc({ channel }, reconnects);
      if (dropped > 0) this.services.metrics.channelFramesDropped.inc({ channel }, dropped);
    }
    this.counted = { epoch, outputReconnects: totals.outputReconnects, framesDropped: totals.framesDropped };
  }

  /**
   * While a poll waits, the sidecar is checked every PROBE_EVERY_MS: no answer
   * within HUNG_MS is SIDECAR_UNREACHABLE (the poll itself is left to run: its
   * answer, when the sidecar wakes up, is read as usual); an answer again
   * clears it. Returns the function that stops the checks.
   */
  private watchWhilePolling(): () => void {
    const hungMs = this.options.hungMs ?? HUNG_MS;
    let watching = true;
    let timer: NodeJS.Timeout | undefined;
    const check = async () => {
      const alive = await this.services.sidecars.ping(this.channel.target, hungMs, this.abort.signal);
      if (!watching || this.stopped) return;
      if (!alive) await this.unreachable();
      else if (this.unreachableUp !== false) await this.reachable(new Date());
      if (watching) timer = setTimeout(() => void check(), PROBE_EVERY_MS);
    };
    timer = setTimeout(() => void check(), PROBE_EVERY_MS);
    return () => {
      watching = false;
      clearTimeout(timer);
    };
  }

  /** The sidecar answered: SIDECAR_UNREACHABLE, if up, is cleared. */
  private async reachable(at: Date): Promise<void> {
    try {
      const change = await clearAlarm(this.services.db, this.channel.id, 'SIDECAR_UNREACHABLE', at);
      this.unreachableUp = false;
      if (change) announceAlarms(this.services, this.projectId, [change]);
    } catch (err) {
      this.services.log.warn(
        { channelId: this.channel.id, err: (err as Error).message },
        'SIDECAR_UNREACHABLE not cleared',
      );
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
      this.services.pubsub.publish('engineStatus', this.channel.id, {
        projectId: this.projectId,
        status: toWire(state),
      });
    }
    this.options.snapshots
      .save(state)
      .catch((err: Error) =>
        this.services.log.warn({ channelId: this.channel.id, err: err.message }, 'engine snapshot not saved'),
      );
  }

  /** Published once per outage, and only while the channel still runs this sidecar (a stop kills it on purpose). */
  private async unreachable(): Promise<void> {
    if (this.last?.reachable === false && this.unreachableUp === true) return;
    try {
      const [row] = await this.services.sql.query<{ status: string; sidecarRef: string | null }>(
        `SELECT status::text AS status, sidecar_ref AS "sidecarRef" FROM channels WHERE id = $1::uuid`,
        [this.channel.id],
      );
      if (this.stopped || row?.status !== 'RUNNING' || row.sidecarRef !== this.channel.sidecarRef) return;
    } catch {
      return;
    }
    if (this.last?.reachable !== false) {
      this.services.log.warn({ channelId: this.channel.id }, 'sidecar not answering');
      this.publishState(unreachable(this.last, this.channel.id));
    }
    await this.raiseUnreachable();
  }

  private async raiseUnreachable(): Promise<void> {
    if (this.unreachableUp === true) return;
    let change: AlarmChange | null;
    try {
      change = await raiseAlarm(
        this.services.db,
        this.channel.id,
        'SIDECAR_UNREACHABLE',
        `the sidecar ${this.channel.sidecarRef} does not answer`,
      );
    } catch (err) {
      this.services.log.warn(
        { channelId: this.channel.id, err: (err as Error).message },
        'SIDECAR_UNREACHABLE not raised',
      );
      return;
    }
    this.unreachableUp = true;
    if (change) announceAlarms(this.services, this.projectId, [change]);
  }
}
