import type { SidecarTarget } from '../../services/sidecar-client.ts';
import { pushSchedule, type SchedulePushDeps } from './schedule-push.ts';

/**
 * The second path of a committed schedule version to its sidecar
 * (docs/schedule.md, "Delivery"): the process that committed an edit pushes
 * it at once; if that process died before it sent, or its push failed, a
 * worker that reads the channel's events finds the version here within a
 * second and sends it.
 *
 * Every 400 ms, one indexed query lists the schedules committed in the last
 * minute (older lags are caught by checkScheduleAcknowledged, which compares
 * each sidecar's status with the database every 10 s). A version newer than
 * the one this process knows the sidecar runs is checked against the
 * sidecar's own status, once the committing process has had time to push it,
 * and pushed if the sidecar still runs an older one. Two processes may push
 * the same version: each push reads the schedule afresh and the sidecar
 * takes a version only if it is newer than its own (the same one again
 * changes nothing, an older one is STALE), so the newest always wins.
 */

/**
 * @defaultValue how often a worker looks for committed versions its sidecars may lack: the
 * period, the grace and the push together well inside the second an edit has to reach its
 * sidecar (one indexed read of the last minute's commits, a few rows)
 */
export const SCHEDULE_SWEEP_MS = 400;

/**
 * @defaultValue how long after its commit a version is left to the process
 * that committed it, whose push takes milliseconds (a second push would be
 * answered "nothing changes", but costs a read of the whole schedule)
 */
export const SCHEDULE_GRACE_MS = 250;

/** How far back the sweep looks, in seconds: a commit's row carries its transaction's start. */
const SWEEP_WINDOW_S = 60;

export class ScheduleDelivery {
  /** Per channel read here, the newest version known to run on its sidecar (or detached there). */
  private readonly delivered = new Map<string, number>();
  /** Channels with a delivery due or under way: one at a time each. */
  private readonly busy = new Set<string>();
  private closed = false;

  constructor(
    private readonly deps: SchedulePushDeps,
    /** The channels whose events this process reads, with their sidecars. */
    private readonly channels: () => ReadonlyMap<string, SidecarTarget>,
  ) {}

  /** One sweep: the query (none while this process reads no channel), then a delivery per lagging channel. */
  async sweep(): Promise<void> {
    const read = this.channels();
    for (const id of this.delivered.keys()) if (!read.has(id)) this.delivered.delete(id);
    if (read.size === 0 || this.closed) return;
    const rows = await this.deps.db.$queryRaw<{ channel_id: string; version: number; age_ms: number }[]>`
      SELECT channel_id::text, version,
             (extract(epoch FROM clock_timestamp() - updated_at) * 1000)::int AS age_ms
        FROM schedules WHERE updated_at > now() - make_interval(secs => ${SWEEP_WINDOW_S})`;
    for (const row of rows) {
      const id = row.channel_id;
      const target = read.get(id);
      if (!target || this.busy.has(id) || (this.delivered.get(id) ?? -1) >= row.version) continue;
      this.busy.add(id);
      const timer = setTimeout(
        () => void this.deliver(id, target, row.version).finally(() => this.busy.delete(id)),
        Math.max(0, SCHEDULE_GRACE_MS - row.age_ms),
      );
      timer.unref();
    }
  }

  close(): void {
    this.closed = true;
  }

  private async deliver(channelId: string, target: SidecarTarget, version: number): Promise<void> {
    if (this.closed) return;
    // The sidecar's word first: usually the committing process delivered it, and nothing is read or sent.
    // A sidecar that does not answer is left to the next sweep (and the reader's alarms).
    const status = await this.deps.sidecars.status(target).catch(() => null);
    if (!status || this.closed) return;
    const running = status.schedule?.version ?? null;
    if (running !== null && running >= version) {
      this.delivered.set(channelId, running);
      return;
    }
    const outcome = await pushSchedule(this.deps, channelId);
    if (outcome !== 'failed') {
      this.delivered.set(channelId, version);
      this.deps.log.info({ channelId, version, outcome }, 'schedule version delivered by the sweep');
    }
  }
}
