import type { Db } from '../services/db.ts';
import type { Logger } from '../services/logger.ts';

/**
 * Records API token use without a write per request: uses are collected in
 * memory and written as one UPDATE per interval, and a token already written
 * within the interval is not queued again.
 */
export class TokenUsageRecorder {
  private pending = new Set<string>();
  private lastWritten = new Map<string, number>();
  private timer: NodeJS.Timeout;
  /** The write under way, so a flush that finds nothing pending still waits for it. */
  private writing: Promise<void> = Promise.resolve();

  /** @param intervalMs how often pending uses are written. @defaultValue 30000 */
  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly intervalMs = 30_000,
  ) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  touch(tokenId: string): void {
    const written = this.lastWritten.get(tokenId);
    if (written !== undefined && Date.now() - written < this.intervalMs) return;
    this.pending.add(tokenId);
  }

  /** Writes what is pending; resolves once every use touched before the call is in the database. */
  flush(): Promise<void> {
    if (this.pending.size === 0) return this.writing;
    const ids = [...this.pending];
    this.pending.clear();
    const now = Date.now();
    for (const id of ids) this.lastWritten.set(id, now);
    this.writing = this.writing.then(() => this.write(ids));
    return this.writing;
  }

  private async write(ids: string[]): Promise<void> {
    try {
      await this.db.$executeRaw`UPDATE api_tokens SET last_used_at = now() WHERE id = ANY(${ids}::uuid[])`;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not record token use');
    }
    if (this.lastWritten.size > 10_000) this.lastWritten.clear();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
