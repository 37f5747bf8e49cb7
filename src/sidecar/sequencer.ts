import { join } from 'node:path';
import {
  advanceInPlaylist,
  type EndedHow,
  type LoadPlaylist,
  type PlayoutState,
  type PlaylistItem,
  type Status,
  type UpdatePlaylist,
} from '../protocol/sidecar-api.ts';
import type { Alarms } from './alarms.ts';
import type { ClipHandle, ClipResult, Engine } from './engines/engine.ts';
import { framesLostReason } from './engines/engine.ts';
import type { EventLog } from './event-log.ts';

/** A transport command the current state does not allow (HTTP 409). */
export class StateConflictError extends Error {
  override name = 'StateConflictError';
  /**
   * @param code @defaultValue 'CONFLICT'; 'STALE' for an edit older than what is loaded.
   * @param eventId the schedule event the refusal is about (sent with the 409, so an operator's console can name it).
   */
  constructor(
    message: string,
    readonly code: 'CONFLICT' | 'STALE' = 'CONFLICT',
    readonly eventId?: string,
  ) {
    super(message);
  }
}

export interface SequencerOptions {
  engine: Engine;
  log: EventLog;
  mediaDir: string;
  channelId: string;
  now?: () => number;
  /** @defaultValue 20: engine errors kept for /status */
  keepErrors?: number;
  /** Where MEDIA_MISSING and PLAYOUT_STOPPED are raised, and /status reads the alarms up. */
  alarms?: Alarms;
  /** A playlist that does not loop played to its end (a suspended schedule comes back then). */
  onListEnd?: () => void;
  /**
   * How far ahead of the load an anchored load (a resume) puts its first item
   * on air, timed: time for the engine to open the file, so that the item
   * reaches air at the instant its offset is true. @defaultValue 500
   */
  resumeLeadMs?: number;
}

interface OnAir {
  /** Its position in the playlist; for an item an edit removed, the position it had. */
  index: number;
  /** False once an edit removed it from the playlist (it still finishes). */
  listed: boolean;
  /** The engine asked for the item after it (onCue): an edit re-cues what follows. */
  cueAsked: boolean;
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
  /** Order in which items were handed to the engine (see mediaFailedGen). */
  gen: number;
}

/** Set while the schedule takes the channel back: nothing more is cued, and the item on air ends at the cut. */
interface HandBack {
  atMs: number;
}

/**
 * Playlist order, loop, skip, pause and end of list, driving one engine and
 * turning its callbacks into events. Transport commands run one at a time;
 * engine callbacks are synchronous and check that their item is still live.
 */
export class Sequencer {
  private state: PlayoutState = 'IDLE';
  private playlist: LoadPlaylist | null = null;
  /** Revision of the list in `playlist` (load or edit), when the control plane gave one. */
  private version: number | null = null;
  private current: OnAir | null = null;
  private failuresInARow = 0;
  private readonly errors: { at: string; message: string }[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;
  private gens = 0;
  /** The gen of the last item whose media failed: MEDIA_MISSING clears once an item handed over after it plays out. */
  private mediaFailedGen = -1;
  private handBackAt: HandBack | null = null;

  constructor(private readonly o: SequencerOptions) {
    this.now = o.now ?? Date.now;
  }

  get playoutState(): PlayoutState {
    return this.state;
  }

  load(playlist: LoadPlaylist): Promise<void> {
    return this.serial(async () => {
      this.handBackAt = null;
      const start = this.startPoint(playlist);
      if (this.current) await this.takeOff('TRUNCATED', { reason: 'another playlist was loaded' });
      this.o.alarms?.clear('PLAYOUT_STOPPED');
      this.playlist = playlist;
      this.version = playlist.version ?? null;
      this.failuresInARow = 0;
      this.startItem(start.index, start.offsetMs, start.atMs);
    });
  }

  /**
   * Where a load starts: `startAt`, moved on by the time since `anchorAt` when
   * the load is anchored (a resume: the list is where it would be had it kept
   * playing). Read as playout starts, after whatever held the load up; an
   * anchored one airs timed at `atMs`, resumeLeadMs ahead, where the list is then.
   */
  private startPoint(playlist: LoadPlaylist): { index: number; offsetMs: number; atMs?: number } {
    const start = playlist.startAt ?? { index: 0, offsetMs: 0 };
    if (!playlist.anchorAt) return start;
    const atMs = this.now() + (this.o.resumeLeadMs ?? 500);
    const sinceMs = Math.max(0, atMs - Date.parse(playlist.anchorAt));
    const durations = playlist.items.map((i) => i.durationMs);
    const at = advanceInPlaylist(durations, playlist.loop, start.index, start.offsetMs + sinceMs);
    if (!at)
      throw new StateConflictError(
        `playlist ${playlist.playlistId} would have ended ${Math.round(sinceMs / 1000)} s after ${playlist.anchorAt}`,
      );
    return { ...at, atMs };
  }

  /**
   * PUT /playlist: the playlist on air was edited. The item on air finishes
   * untouched (as loaded); what follows it comes from the new list: the item
   * after it when it is still listed, else the item at the position it had.
   * An item already cued behind it (prerolled by the engine) is withdrawn and
   * the new one cued instead when they differ; an identical one stays cued.
   */
  update(edit: UpdatePlaylist): Promise<void> {
    return this.serial(async () => {
      const cur = this.current;
      const playlist = this.playlist;
      if (!playlist || !cur || (this.state !== 'PLAYING' && this.state !== 'PAUSED')) {
        throw new StateConflictError(`playlist ${edit.playlistId} is not on air (playout is ${this.state})`);
      }
      if (playlist.playlistId !== edit.playlistId) {
        throw new StateConflictError(`playlist ${edit.playlistId} is not on air (${playlist.playlistId} is)`);
      }
      if (edit.version !== undefined && this.version !== null && edit.version < this.version) {
        throw new StateConflictError(
          `version ${edit.version} is older than the version on air (${this.version})`,
          'STALE',
        );
      }
      this.playlist = { playlistId: playlist.playlistId, loop: edit.loop ?? playlist.loop, items: edit.items };
      if (edit.version !== undefined) this.version = edit.version;
      const at = edit.items.findIndex((i) => i.itemId === cur.item.itemId);
      if (at >= 0) cur.index = at;
      cur.listed = at >= 0;
      const next = this.followingIndex(cur);
      if (cur.startedAtMs !== null) this.prefetchNext(cur);
      const cued = cur.cued;
      if (cued) {
        if (next !== null && sameClip(cued.item, edit.items[next])) {
          cued.index = next;
          cued.listed = true;
        } else if (this.handoverInMs(cur, cued) < (this.o.engine.cueLockMs ?? 0)) {
          // Too close to the handover to withdraw it for sure: it airs as cued, and the edit
          // applies from the item after it (what follows it is read from the new list).
          const listedAt = edit.items.findIndex((i) => i.itemId === cued.item.itemId);
          cued.listed = listedAt >= 0;
          cued.index = listedAt >= 0 ? listedAt : (next ?? edit.items.length);
        } else await this.dropCued(cur);
      }
      // The engine already asked for what follows: cue the new next now (it may have ended meanwhile).
      if (cur.live && this.current === cur && cur.cueAsked && !cur.cued && next !== null)
        cur.cued = this.prepare(next, 0, cur);
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
      if ((this.state !== 'PLAYING' && this.state !== 'PAUSED') || !cur)
        throw new StateConflictError(`cannot skip when ${this.state}`);
      const cued = cur.cued;
      await this.takeOff('SKIPPED', { keepCued: true, reason: null });
      if (cued) {
        // Already queued in the engine: it goes on air at the next frame.
        this.current = cued;
        cued.after = null;
        this.setState('PLAYING');
      } else this.advance(this.followingIndex(cur));
    });
  }

  /** Ends the current item TRUNCATED and stops. */
  stop(): Promise<void> {
    return this.serial(async () => {
      if (this.state !== 'PLAYING' && this.state !== 'PAUSED')
        throw new StateConflictError(`cannot stop when ${this.state}`);
      await this.takeOff('TRUNCATED', { reason: 'stopped by the operator' });
      this.setState('STOPPED');
    });
  }

  /**
   * The schedule takes the channel back at `atMs` (its clip is handed with a
   * timed start that cuts this one): the item cued behind the one on air is
   * withdrawn, nothing more is cued, and playout stops when the item leaves air.
   */
  handBack(atMs: number): Promise<void> {
    return this.serial(async () => {
      const cur = this.current;
      if (!cur || (this.state !== 'PLAYING' && this.state !== 'PAUSED')) return;
      this.handBackAt = { atMs };
      await this.dropCued(cur);
    });
  }

  /** The schedule's clip reached air at `atMs`: the manual item it cut ends there, TRUNCATED. */
  handedBack(atMs: number): Promise<void> {
    return this.serial(async () => {
      if (!this.handBackAt) return;
      this.handBackAt = null;
      const cur = this.current;
      if (cur) {
        cur.live = false;
        // The engine cut it already; stop() only makes sure it is gone.
        await cur.handle?.stop().catch(() => undefined);
        this.ended(cur, 'TRUNCATED', atMs, 'the schedule took the channel back');
      }
      this.setState('STOPPED');
    });
  }

  /** Stops playout if running (shutdown); never throws. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (!this.current) return;
      await this.takeOff('TRUNCATED', { reason: 'the sidecar is shutting down' });
      this.setState('STOPPED');
    }).catch(() => undefined);
  }

  status(): Omit<Status, 'channelId' | 'engine'> {
    const cur = this.current;
    const items = this.playlist?.items ?? [];
    const cued = cur?.cued?.live ? cur.cued : null;
    const nextIndex = cur && !cued ? this.followingIndex(cur) : null;
    const ref = (index: number) => ({
      index,
      itemId: items[index].itemId,
      assetId: items[index].assetId,
      clipName: items[index].clipName,
    });
    return {
      state: this.state,
      playlistId: this.playlist?.playlistId ?? null,
      loop: this.playlist?.loop ?? false,
      current: cur
        ? {
            // The item as it airs (an edit does not change it); index -1 once an edit removed it.
            itemId: cur.item.itemId,
            assetId: cur.item.assetId,
            clipName: cur.item.clipName,
            index: cur.listed ? cur.index : -1,
            startedAt: cur.startedAtMs === null ? null : new Date(cur.startedAtMs).toISOString(),
            positionMs: Math.round(cur.offsetMs + this.airedMs(cur, this.now())),
            durationMs: cur.item.durationMs,
          }
        : null,
      next: cued
        ? {
            index: cued.listed ? cued.index : -1,
            itemId: cued.item.itemId,
            assetId: cued.item.assetId,
            clipName: cued.item.clipName,
          }
        : nextIndex === null
          ? null
          : ref(nextIndex),
      epoch: this.o.log.epoch,
      lastSeq: this.o.log.lastSeq,
      errors: [...this.errors],
      ...(this.o.alarms ? { alarms: this.o.alarms.list(), counters: this.o.alarms.counters() } : {}),
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

  /** The position after `cur`'s; an item removed by an edit is followed by what now holds its position. */
  private followingIndex(cur: OnAir): number | null {
    return this.nextIndex(cur.listed ? cur.index : cur.index - 1);
  }

  /** How long until `cued` takes over from `cur` (its transition starts before `cur`'s end). */
  private handoverInMs(cur: OnAir, cued: OnAir): number {
    const left = cur.item.durationMs - cur.offsetMs - this.airedMs(cur, this.now());
    return left - (cued.item.transition === 'CUT' ? 0 : cued.item.transitionMs);
  }

  private airedMs(cur: OnAir, at: number): number {
    if (cur.startedAtMs === null) return 0;
    const pausedNow = cur.pausedSinceMs === null ? 0 : at - cur.pausedSinceMs;
    return Math.max(0, at - cur.startedAtMs - cur.pausedTotalMs - pausedNow);
  }

  /** `atMs`: a timed start (EngineClip.startAtMs); absent, at once. */
  private startItem(index: number, offsetMs: number, atMs?: number): void {
    this.current = this.prepare(index, offsetMs, null, atMs);
    this.setState('PLAYING');
  }

  /**
   * The engine looks into the file of the item that follows `cur` now, ahead
   * of need (see Engine.prefetch): a skip may put it on air before it is cued.
   */
  private prefetchNext(cur: OnAir): void {
    const next = this.followingIndex(cur);
    const item = next === null ? null : this.playlist?.items[next];
    if (item) this.o.engine.prefetch?.([join(this.o.mediaDir, item.mediaPath)]);
  }

  /** Hands an item to the engine (after what it already plays, for a cued one). */
  private prepare(index: number, offsetMs: number, after: OnAir | null, startAtMs?: number): OnAir {
    const item = this.playlist!.items[index];
    const cur: OnAir = {
      index,
      listed: true,
      cueAsked: false,
      item,
      offsetMs,
      handle: null,
      startedAtMs: null,
      pausedTotalMs: 0,
      pausedSinceMs: null,
      live: true,
      cued: null,
      after,
      gen: this.gens++,
    };
    const clip = {
      itemId: item.itemId,
      file: join(this.o.mediaDir, item.mediaPath),
      inPointMs: (item.inPointMs ?? 0) + offsetMs,
      durationMs: item.durationMs - offsetMs,
      transition: item.transition,
      transitionMs: item.transitionMs,
      ...(startAtMs === undefined ? {} : { startAtMs }),
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
    if (!cur.live || this.current !== cur || cur.cued || this.handBackAt) return;
    cur.cueAsked = true;
    const next = this.followingIndex(cur);
    if (next !== null) cur.cued = this.prepare(next, 0, cur);
  }

  private onAir(cur: OnAir, startedAtMs: number): void {
    if (!cur.live || cur.startedAtMs !== null) return;
    cur.startedAtMs = startedAtMs;
    this.o.log.append({
      kind: 'ITEM_ON_AIR',
      ...this.itemRef(cur.item),
      startedAt: new Date(startedAtMs).toISOString(),
    });
    this.prefetchNext(cur);
  }

  private onEnd(cur: OnAir, result: ClipResult): void {
    if (!cur.live) return;
    if (!result.ok && result.fatal) {
      this.stopFor(cur, result.message);
      return;
    }
    if (cur.after) {
      // A cued item failed before its turn: log it, and cue the one after it.
      this.failuresInARow++;
      const message = result.ok ? 'ended before its turn' : result.message;
      this.mediaFailed(cur, message);
      this.ended(cur, 'FAILED', this.now(), message);
      const before = cur.after;
      before.cued = null;
      cur.after = null;
      const next = this.followingIndex(cur);
      if (next !== null && before.live && this.failuresInARow < (this.playlist?.items.length ?? 0)) {
        before.cued = this.prepare(next, 0, before);
      }
      return;
    }
    if (this.handBackAt && this.current === cur) {
      // Cut by the schedule's clip (or played out just before it): playout is the schedule's now.
      const endedAtMs = result.ok ? (result.endedAtMs ?? this.now()) : this.now();
      const cut = endedAtMs < (cur.startedAtMs ?? endedAtMs) + cur.item.durationMs - cur.offsetMs - 1;
      const how = result.ok ? (cut ? 'TRUNCATED' : 'PLAYED') : 'FAILED';
      const reason = result.ok
        ? cut
          ? 'the schedule took the channel back'
          : framesLostReason(result)
        : result.message;
      this.ended(cur, how, endedAtMs, reason);
      this.handBackAt = null;
      this.setState('STOPPED');
      return;
    }
    if (result.ok) {
      this.failuresInARow = 0;
      if (cur.gen > this.mediaFailedGen) this.o.alarms?.clear('MEDIA_MISSING');
      this.ended(cur, 'PLAYED', result.endedAtMs ?? this.now(), framesLostReason(result));
    } else {
      this.failuresInARow++;
      this.mediaFailed(cur, result.message);
      this.ended(cur, 'FAILED', this.now(), result.message);
      // A playlist whose every item fails would otherwise spin forever.
      if (this.failuresInARow >= (this.playlist?.items.length ?? 0)) {
        const why = 'every item in the playlist failed: stopping';
        this.error(why);
        this.o.alarms?.raise('PLAYOUT_STOPPED', why);
        void this.dropCued(cur);
        this.setState('STOPPED');
        return;
      }
    }
    this.advance(this.followingIndex(cur), cur.cued);
  }

  /** An item's clip could not be played (missing, unreadable, refused): ERROR and MEDIA_MISSING naming it. */
  private mediaFailed(cur: OnAir, message: string): void {
    const what = `item ${cur.item.itemId} (${cur.item.clipName}) failed: ${message}`;
    this.error(what);
    this.mediaFailedGen = Math.max(this.mediaFailedGen, cur.gen);
    this.o.alarms?.raise('MEDIA_MISSING', what);
  }

  /**
   * The engine cannot play any more (an output that cannot be restarted):
   * the item on air ends TRUNCATED (FAILED if it never aired) with the reason,
   * and playout stops with PLAYOUT_STOPPED up until the next load.
   */
  private stopFor(cur: OnAir, message: string): void {
    const head = cur.after ? null : cur;
    if (!head) return;
    void this.dropCued(head);
    this.error(`playout stopped: ${message}`);
    this.ended(head, head.startedAtMs === null ? 'FAILED' : 'TRUNCATED', this.now(), message);
    this.o.alarms?.raise('PLAYOUT_STOPPED', message);
    this.setState('STOPPED');
  }

  /** `next`: the position that follows (null: the end of a list that does not loop). */
  private advance(next: number | null, cued: OnAir | null = null): void {
    if (cued?.live) {
      // Queued in the engine already: it is on air from this very frame.
      cued.after = null;
      this.current = cued;
      return;
    }
    if (next === null) {
      this.setState('STOPPED');
      this.o.onListEnd?.();
    } else this.startItem(next, 0);
  }

  /**
   * Takes the current item off air (stopping the engine) and records how it
   * ended; the item cued behind it goes too unless `keepCued` (skip).
   */
  private async takeOff(how: EndedHow, { keepCued = false, reason = null as string | null } = {}): Promise<void> {
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
    this.ended(cur, how, endedAtMs, reason);
  }

  /** Withdraws the item cued behind `cur`: it never aired, so it leaves no event. */
  private async dropCued(cur: OnAir): Promise<void> {
    const cued = cur.cued;
    if (!cued) return;
    cur.cued = null;
    cued.live = false;
    await cued.handle?.stop().catch(() => undefined);
  }

  private ended(cur: OnAir, how: EndedHow, endedAtMs = this.now(), reason: string | null = null): void {
    cur.live = false;
    if (this.current === cur) this.current = null;
    this.o.log.append({
      kind: 'ITEM_ENDED',
      ...this.itemRef(cur.item),
      startedAt: cur.startedAtMs === null ? null : new Date(cur.startedAtMs).toISOString(),
      endedAt: new Date(endedAtMs).toISOString(),
      durationMs: Math.round(this.airedMs(cur, endedAtMs)),
      how,
      reason,
    });
  }

  private itemRef(item: PlaylistItem) {
    return {
      itemId: item.itemId,
      assetId: item.assetId,
      playlistId: this.playlist!.playlistId,
      clipName: item.clipName,
    };
  }

  private error(message: string): void {
    this.errors.push({ at: new Date(this.now()).toISOString(), message });
    if (this.errors.length > (this.o.keepErrors ?? 20)) this.errors.shift();
    this.o.log.append({ kind: 'ERROR', message });
  }
}

/** Whether a cued item would play exactly as `next` asks (then it stays prerolled). */
function sameClip(a: PlaylistItem, b: PlaylistItem): boolean {
  const keys = [
    'itemId',
    'assetId',
    'clipName',
    'mediaPath',
    'inPointMs',
    'outPointMs',
    'durationMs',
    'transition',
    'transitionMs',
  ] as const;
  return keys.every((k) => a[k] === b[k]);
}
