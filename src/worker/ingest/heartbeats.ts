import type { Sql } from '../../services/db.ts';
import type { Logger } from '../../services/logger.ts';

/** @defaultValue how often heartbeats of quiet channels are written: at most once a second per channel */
export const HEARTBEAT_FLUSH_MS = 1000;

/**
 * Heartbeats of channels whose sidecar answered with nothing new. Each answer
 * is a heartbeat, but writing each one would cost a statement per channel per
 * answer; instead the latest of each channel is kept and all are written in
 * one statement per flush. (A page with events writes its heartbeat in its own
 * transaction.) Only the sidecar the answer came from counts: a heartbeat for
 * a channel that moved on to another sidecar is dropped by the statement.
 */
export class HeartbeatWriter {
  private readonly pending = new Map<string, { ref: string; at: Date }>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    flushMs = HEARTBEAT_FLUSH_MS,
  ) {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  beat(channelId: string, sidecarRef: string, at: Date): void {
    this.pending.set(channelId, { ref: sidecarRef, at });
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const beats = [...this.pending];
    this.pending.clear();
    try {
      await this.sql.query(
        `UPDATE channels c SET last_heartbeat_at = b.at
           FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS b(id, ref, at)
          WHERE c.id = b.id AND c.sidecar_ref = b.ref AND (c.last_heartbeat_at IS NULL OR c.last_heartbeat_at < b.at)`,
        [beats.map(([id]) => id), beats.map(([, b]) => b.ref), beats.map(([, b]) => b.at)],
      );
    } catch (err) {
      // Kept for the next flush unless a newer one came meanwhile (the database may be restarting).
      for (const [id, beat] of beats) if (!this.pending.has(id)) this.pending.set(id, beat);
      this.log.warn({ err: (err as Error).message }, 'heartbeats not written');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
