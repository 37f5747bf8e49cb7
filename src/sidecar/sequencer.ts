import { join } from 'node:path';
import type { EndedHow, LoadPlaylist, PlayoutState, PlaylistItem, Status } from '../protocol/sidecar-api.ts';
import type { ClipHandle, ClipResult, Engine } from './engines/engine.ts';
import type { EventLog } from './event-log.ts';

/** A transport command the current state does not allow (HTTP 409). */
export class StateConflictError extends Error {
  override name = 'StateConflictError';
}

export interface SequencerOptions {
  engine: Engine;
  log: EventLog;
  mediaDir: string;
  channelId: string;
  now?: () => number;
  /** @defaultValue 20: engine errors kept for /status */
  keepErrors?: number;
}

interface OnAir {
  index: number;
  item: PlaylistItem;
  offsetMs: number;
  handle: ClipHandle | null;
  startedAtMs: number | null;
  pausedTotalMs: number;
  pausedSinceMs: number | null;
  /** Cleared when the item leaves air, so late engine callbacks are ignored. */
  live: boolean;
  /** The next item, already handed to the engine to follow without a gap (see onCue). */
  cued: OnAir | null;
  /** For a cued item: the item it follows. */
  after: OnAir | null;
}

/**
 * Playlist order, loop, skip, pause and end of list, driving one engine and
 * turning its callbacks into events. Transport commands run one at a time;
 * engine callbacks are synchronous and check that their item is still live.
 */
export class Sequencer {
  private state: PlayoutState = 'IDLE';
  private playlist: LoadPlaylist | null = null;
  private current: OnAir | null = null;
  private failuresInARow = 0;
  private readonly errors: { at: string; message: string }[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly o: SequencerOptions) {
    this.now = o.now ?? Date.now;
  }

  get playoutState(): PlayoutState {
    return this.state;
  }

  load(playlist: LoadPlaylist): Promise<void> {
    return this.serial(async () => {
      if (this.current) await this.takeOff('TRUNCATED');
      this.playlist = playlist;
      this.failuresInARow = 0;
      const start = playlist.startAt ?? { index: 0, offsetMs: 0 };
      this.startItem(start.index, start.offsetMs);
    });
  }

  pause(): Promise<void> {
    return this.serial(async () => {
      const cur = this.current;
      if (this.state !== 'PLAYING' || !cur) throw new StateConflictError(`cannot pause when ${this.state}`);
      cur.handle?.pause();
      cur.pausedSinceMs = this.now();
      this.setState('PAUSED');
    });
  }

  resume(): Promise<void> {
    return this.serial(async () => {
      const cur = this.current;
      if (this.state !== 'PAUSED' || !cur) throw new StateConflictError(`cannot resume when ${this.state}`);
      cur.handle?.resume();
      if (cur.pausedSinceMs !== null) cur.pausedTotalMs += this.now() - cur.pausedSinceMs;
      cur.pausedSinceMs = null;
      this.setState('PLAYING');
    });
  }

  /** Ends the current item SKIPPED and plays the next (or stops at the end of a list that does not loop). */
  skip(): Promise<void> {
    return this.serial(async () => {
      const cur = this.current;
      if ((this.state !== 'PLAYING' && this.state !== 'PAUSED') || !cur) throw new StateConflictError(`cannot skip when ${this.state}`);
      const cued = cur.cued;
      await this.takeOff('SKIPPED', { keepCued: true });
      if (cued) {
        // Already queued in the engine: it goes on air at the next frame.
        this.current = cued;
        cued.after = null;
        this.setState('PLAYING');
      } else this.advance(cur.index);
    });
  }

  /** Ends the current item TRUNCATED and stops. */
  stop(): Promise<void> {
    return this.serial(async () => {
      if (this.state !== 'PLAYING' && this.state !== 'PAUSED') throw new StateConflictError(`cannot stop when ${this.state}`);
      await this.takeOff('TRUNCATED');
      this.setState('STOPPED');
    });
  }

  /** Stops playout if running (shutdown); never throws. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (!this.current) return;
      await this.takeOff('TRUNCATED');
      this.setState('STOPPED');
    }).catch(() => undefined);
  }

  status(): Omit<Status, 'channelId' | 'engine'> {
    const cur = this.current;
    const items = this.playlist?.items ?? [];
    const nextIndex = cur ? this.nextIndex(cur.index) : null;
    const ref = (index: number) => ({ index, itemId: items[index].itemId, assetId: items[index].assetId, clipName: items[index].clipName });
    return {
      state: this.state,
      playlistId: this.playlist?.playlistId ?? null,
      loop: this.playlist?.loop ?? false,
      current: cur
        ? {
            ...ref(cur.index),
            startedAt: cur.startedAtMs === null ? null : new Date(cur.startedAtMs).toISOString(),
            positionMs: Math.round(cur.offsetMs + this.airedMs(cur, this.now())),
            durationMs: cur.item.durationMs,
          }
        : null,
      next: nextIndex === null ? null : ref(nextIndex),
      epoch: this.o.log.epoch,
      lastSeq: this.o.log.lastSeq,
      errors: [...this.errors],
    };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private setState(state: PlayoutState): void {
    if (state === this.state) return;
    this.state = state;
    this.o.log.append({ kind: 'STATE_CHANGED', state });
  }

  private nextIndex(index: number): number | null {
    const n = this.playlist?.items.length ?? 0;
    if (index + 1 < n) return index + 1;
    return this.playlist?.loop && n > 0 ? 0 : null;
  }

  private airedMs(cur: OnAir, at: number): number {
    if (cur.startedAtMs === null) return 0;
    const pausedNow = cur.pausedSinceMs === null ? 0 : at - cur.pausedSinceMs;
    return Math.max(0, at - cur.startedAtMs - cur.pausedTotalMs - pausedNow);
  }

  private startItem(index: number, offsetMs: number): void {
    this.current = this.prepare(index, offsetMs, null);
    this.setState('PLAYING');
  }

  /** Hands an item to the engine (after what it already plays, for a cued one). */
  private prepare(index: number, offsetMs: number, after: OnAir | null): OnAir {
    const item = this.playlist!.items[index];
    const cur: OnAir = {
      index, item, offsetMs, handle: null, startedAtMs: null, pausedTotalMs: 0, pausedSinceMs: null, live: true, cued: null, after,
    };
    const clip = {
      itemId: item.itemId,
      file: join(this.o.mediaDir, item.mediaPath),
      inPointMs: (item.inPointMs ?? 0) + offsetMs,
      durationMs: item.durationMs - offsetMs,
      transition: item.transition,
      transitionMs: item.transitionMs,
    };
    try {
      cur.handle = this.o.engine.play(clip, {
        onAir: (startedAtMs) => this.onAir(cur, startedAtMs),
        onCue: () => this.onCue(cur),
        onEnd: (result) => this.onEnd(cur, result),
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      queueMicrotask(() => this.onEnd(cur, { ok: false, message }));
    }
    return cur;
  }

  /** The engine wants the next item now, to play it without a gap. */
  private onCue(cur: OnAir): void {
    if (!cur.live || this.current !== cur || cur.cued) return;
    const next = this.nextIndex(cur.index);
    if (next !== null) cur.cued = this.prepare(next, 0, cur);
  }

  private onAir(cur: OnAir, startedAtMs: number): void {
    if (!cur.live || cur.startedAtMs !== null) return;
    cur.startedAtMs = startedAtMs;
    this.o.log.append({ kind: 'ITEM_ON_AIR', ...this.itemRef(cur.item), startedAt: new Date(startedAtMs).toISOString() });
  }

  private onEnd(cur: OnAir, result: ClipResult): void {
    if (!cur.live) return;
    if (cur.after) {
      // A cued item failed before its turn: log it, and cue the one after it.
      this.failuresInARow++;
      const message = result.ok ? 'ended before its turn' : result.message;
      this.error(`item ${cur.item.itemId} (${cur.item.clipName}) failed: ${message}`);
      this.ended(cur, 'FAILED');
      const before = cur.after;
      before.cued = null;
      cur.after = null;
      const next = this.nextIndex(cur.index);
      if (next !== null && before.live && this.failuresInARow < (this.playlist?.items.length ?? 0)) {
        before.cued = this.prepare(next, 0, before);
      }
      return;
    }
    if (result.ok) {
      this.failuresInARow = 0;
      this.ended(cur, 'PLAYED', result.endedAtMs ?? this.now());
    } else {
      this.failuresInARow++;
      this.error(`item ${cur.item.itemId} (${cur.item.clipName}) failed: ${result.message}`);
      this.ended(cur, 'FAILED');
      // A playlist whose every item fails would otherwise spin forever.
      if (this.failuresInARow >= (this.playlist?.items.length ?? 0)) {
        this.error('every item in the playlist failed: stopping');
        void this.dropCued(cur);
        this.setState('STOPPED');
        return;
      }
    }
    this.advance(cur.index, cur.cued);
  }

  private advance(fromIndex: number, cued: OnAir | null = null): void {
    if (cued?.live) {
      // Queued in the engine already: it is on air from this very frame.
      cued.after = null;
      this.current = cued;
      return;
    }
    const next = this.nextIndex(fromIndex);
    if (next === null) this.setState('STOPPED');
    else this.startItem(next, 0);
  }

  /**
   * Takes the current item off air (stopping the engine) and records how it
   * ended; the item cued behind it goes too unless `keepCued` (skip).
   */
  private async takeOff(how: EndedHow, { keepCued = false } = {}): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    const endedAtMs = this.now();
    cur.live = false;
    if (!keepCued) await this.dropCued(cur);
    try {
      await cur.handle?.stop();
    } catch (err) {
      this.error(`stopping ${cur.item.itemId}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.ended(cur, how, endedAtMs);
  }

  /** Withdraws the item cued behind `cur`: it never aired, so it leaves no event. */
  private async dropCued(cur: OnAir): Promise<void> {
    const cued = cur.cued;
    if (!cued) return;
    cur.cued = null;
    cued.live = false;
    await cued.handle?.stop().catch(() => undefined);
  }

  private ended(cur: OnAir, how: EndedHow, endedAtMs = this.now()): void {
    cur.live = false;
    if (this.current === cur) this.current = null;
    this.o.log.append({
      kind: 'ITEM_ENDED',
      ...this.itemRef(cur.item),
      startedAt: cur.startedAtMs === null ? null : new Date(cur.startedAtMs).toISOString(),
      endedAt: new Date(endedAtMs).toISOString(),
      durationMs: Math.round(this.airedMs(cur, endedAtMs)),
      how,
    });
  }

  private itemRef(item: PlaylistItem) {
    return { itemId: item.itemId, assetId: item.assetId, playlistId: this.playlist!.playlistId, clipName: item.clipName };
  }

  private error(message: string): void {
    this.errors.push({ at: new Date(this.now()).toISOString(), message });
    if (this.errors.length > (this.o.keepErrors ?? 20)) this.errors.shift();
    this.o.log.append({ kind: 'ERROR', message });
  }
}
