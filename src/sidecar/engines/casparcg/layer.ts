import { isAbsolute, relative, sep } from 'node:path';
import { EngineError, type ClipHandle, type ClipListener, type EngineClip } from '../engine.ts';
import { amcp, msToTicks, quote, ticksToMs, type ClipCue, type LayerAddress, type TickRate } from './commands.ts';
import { AmcpUnavailable } from './connection.ts';
import { FrameClock } from './frame-clock.ts';
import type { ChannelSnapshot, ProducerState } from './info.ts';
import { observe, shows, type TrackedClip } from './timing.ts';

/**
 * The clips queued for one CasparCG layer: the model of what should play,
 * the AMCP it takes (PLAY the first, LOADBG … AUTO the next as soon as the
 * first is on air), what INFO samples say happened to them, and how the model
 * catches up with the present after the server was out of reach.
 *
 * A timed start (EngineClip.startAtMs) is loaded in the background without
 * AUTO (LOADBG) as soon as nothing queued before it can still reach air by
 * then (an armed clip that would start at or after the instant is replaced:
 * it would never air), and a PLAY of the background is sent at the moment
 * frame-clock.ts computes, so the channel takes it on the instant's tick.
 * The clip on air then ends TRUNCATED, the clips queued before the timed one
 * SKIPPED; the clip queued after it is armed behind it as usual. An instant
 * already past is a PLAY of the clip at once.
 */

export interface LayerPlayerOptions {
  at: LayerAddress;
  rate: TickRate;
  /** The media volume as the sidecar sees it: clip names are paths relative to it. */
  mediaDir: string;
  now: () => number;
  /** Sends one command (rejects with AmcpError, or AmcpUnavailable). */
  send: (command: string) => Promise<unknown>;
  /** Whether commands may go out now (connected, started, not catching up). */
  canSend: () => boolean;
  connected: () => boolean;
  report: (message: string) => void;
  /** A clip played but not seen on the layer by then has failed. */
  onAirTimeoutMs: number;
}

interface Slot extends TrackedClip {
  clip: EngineClip;
  listener: ClipListener;
  seekTicks: number;
  lengthTicks: number;
  transitionTicks: number;
  /**
   * What the server was told: nothing yet, PLAY (foreground), LOADBG AUTO
   * (armed), or LOADBG without AUTO (a timed start waiting for its PLAY).
   */
  sent: 'none' | 'play' | 'armed' | 'loaded';
  /** A timed start not yet sent to air (epoch ms); null once it is, or for a clip that follows. */
  startAtMs: number | null;
  /** Its timed PLAY (or the wake-up before it). */
  timer: NodeJS.Timeout | null;
  /** A timed start cut it while on air: it ends TRUNCATED. */
  cut: boolean;
  gone: boolean;
  pausedAtMs: number | null;
  /** Seen on the layer since its last PLAY: only then can it be "lost". */
  seenOnLayer: boolean;
  /** When its last PLAY was acknowledged (the on-air timeout counts from it). */
  playedAtMs: number | null;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export class LayerPlayer {
  private queue: Slot[] = [];
  /** The layer may show something of ours: CLEAR it when the queue empties. */
  private layerInUse = false;
  private previousName: string | null = null;
  private previousForeground: ProducerState | null = null;
  private readonly layer: string;
  /** The channel's ticks and the command latency, from the INFO samples. */
  readonly clock: FrameClock;
  /** A resumed clip's new playback, for the clock (its frames count from another tick). */
  private readonly playbacks = new WeakMap<Slot, object>();

  constructor(private readonly o: LayerPlayerOptions) {
    this.layer = `${o.at.channel}-${o.at.layer}`;
    this.clock = new FrameClock(ticksToMs(1, o.rate));
  }

  /** The clip on air (or due), for messages. */
  get current(): { itemId: string; name: string } | null {
    const cur = this.queue[0];
    return cur ? { itemId: cur.clip.itemId, name: cur.name } : null;
  }

  add(clip: EngineClip, listener: ClipListener): ClipHandle {
    const name = this.clipName(clip.file);
    quote(name); // refuses names AMCP cannot carry, before anything is queued
    const { rate } = this.o;
    const lengthTicks = Math.max(1, msToTicks(clip.durationMs, rate));
    const seekTicks = msToTicks(clip.inPointMs, rate);
    const slot: Slot = {
      clip,
      listener,
      name,
      seekTicks,
      lengthTicks,
      transitionTicks: clip.transition === 'CUT' ? 0 : msToTicks(clip.transitionMs, rate),
      baseSec: ticksToMs(seekTicks, rate) / 1000,
      lengthMs: ticksToMs(lengthTicks, rate),
      tickMs: ticksToMs(1, rate),
      onAir: false,
      anchorMs: null,
      armedSeen: false,
      sent: 'none',
      gone: false,
      pausedAtMs: null,
      seenOnLayer: false,
      playedAtMs: null,
      startAtMs: clip.startAtMs ?? null,
      timer: null,
      cut: false,
    };
    this.queue.push(slot);
    this.afterChange();
    return { pause: () => this.pause(slot), resume: () => this.resume(slot), stop: () => this.stop(slot) };
  }

  /** Forgets every clip (the engine closes); returns whether the layer may still show one. */
  clear(): boolean {
    for (const slot of this.queue) {
      slot.gone = true;
      this.clearTimer(slot);
    }
    this.queue = [];
    return this.layerInUse;
  }

  /** After any change: send what is due; an empty queue leaves an empty layer. */
  afterChange(): void {
    this.pump();
    if (this.queue.length === 0 && this.layerInUse && this.o.canSend()) {
      this.layerInUse = false;
      this.o.send(amcp.clear(this.o.at)).catch((err: Error) => this.o.report(`CasparCG: ${err.message}`));
    }
  }

  // --- commands ------------------------------------------------------------

  private clipName(file: string): string {
    const rel = relative(this.o.mediaDir, file);
    if (!rel || rel.startsWith('..') || isAbsolute(rel)) throw new EngineError(`${file} is not on the media volume`);
    return rel.split(sep).join('/');
  }

  private cue(slot: Slot, offsetTicks = 0): ClipCue {
    // A clip put back mid-way comes in with a cut: its transition already happened.
    const fresh = offsetTicks === 0 && !slot.onAir;
    return {
      name: slot.name,
      seekTicks: slot.seekTicks + offsetTicks,
      lengthTicks: slot.lengthTicks - offsetTicks,
      transition: fresh ? slot.clip.transition : 'CUT',
      transitionTicks: fresh ? slot.transitionTicks : 0,
    };
  }

  /**
   * Sends what the model needs and the server has not been told: PLAY the
   * first clip, arm the next, load a timed start and time its PLAY.
   */
  private pump(): void {
    if (!this.o.canSend()) return;
    const t = this.queue.findIndex((slot) => slot.startAtMs !== null);
    const timed = t >= 0 ? this.queue[t] : null;
    if (timed && timed.sent === 'none' && this.clock.sendAt(timed.startAtMs!) <= this.o.now()) {
      // Its instant is (as good as) past: it goes on air at once, with its clip.
      this.cutTo(timed, false);
      return;
    }
    const fg = this.queue[0];
    if (fg && fg.sent === 'none' && fg.startAtMs === null) void this.playSlot(fg);
    if (timed && timed.sent === 'none' && this.mayLoad(t)) this.loadTimed(timed);
    const bg = this.queue[1];
    const doomed = timed !== null && bg !== undefined && bg !== timed && this.startsTooLate(bg, timed);
    // The timed clip holds the server's background until its PLAY: a LOADBG AUTO now would replace it.
    const backgroundTaken = timed?.sent === 'loaded';
    if (
      fg?.onAir &&
      fg.sent !== 'none' &&
      bg &&
      bg.sent === 'none' &&
      bg.startAtMs === null &&
      !doomed &&
      !backgroundTaken
    ) {
      bg.sent = 'armed';
      bg.armedSeen = false;
      this.o.send(amcp.loadNext(this.o.at, this.cue(bg))).catch((err: Error) => this.commandFailed(bg, err));
    }
  }

  /**
   * Whether `slot` (second in the queue) would only reach air at or after the
   * timed clip's instant: the clip on air ends (less slot's transition) then
   * or later, or is paused. It never airs, so the timed clip takes its place
   * in the background.
   */
  private startsTooLate(slot: Slot, timed: Slot): boolean {
    const fg = this.queue[0];
    if (!fg?.onAir || fg.anchorMs === null) return false;
    if (fg.pausedAtMs !== null) return true;
    return fg.anchorMs + fg.lengthMs - ticksToMs(slot.transitionTicks, this.o.rate) >= timed.startAtMs!;
  }

  /** Whether the timed clip at `index` may go into the background now: nothing before it would air there first. */
  private mayLoad(index: number): boolean {
    if (index === 0) return true;
    const fg = this.queue[0];
    if (!fg.onAir || fg.sent === 'none') return false;
    return index === 1 || this.startsTooLate(this.queue[1], this.queue[index]);
  }

  /** LOADBG without AUTO (replacing a clip armed that would never air), then its PLAY on time. */
  private loadTimed(timed: Slot): void {
    for (const slot of this.queue) if (slot !== timed && slot.sent === 'armed') slot.sent = 'none';
    timed.sent = 'loaded';
    timed.armedSeen = false;
    this.layerInUse = true;
    this.o.send(amcp.loadBackground(this.o.at, this.cue(timed))).catch((err: Error) => this.commandFailed(timed, err));
    this.timePlay(timed);
  }

  /**
   * Sets the timer of the timed PLAY: a wake-up shortly before, then the
   * PLAY at the moment computed then (the clock's estimate keeps improving).
   */
  private timePlay(timed: Slot): void {
    this.clearTimer(timed);
    const wait = this.clock.sendAt(timed.startAtMs!) - this.o.now();
    const fire = () => {
      timed.timer = null;
      if (timed.gone || timed.sent !== 'loaded' || timed.startAtMs === null) return;
      // Unreachable now: after the reconnection the catch-up re-sends what is due (the instant past: PLAY at once).
      if (!this.o.canSend()) return;
      this.cutTo(timed, true);
    };
    timed.timer = wait > 300 ? setTimeout(() => this.timePlay(timed), wait - 250) : setTimeout(fire, Math.max(0, wait));
  }

  private clearTimer(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
  }

  /**
   * The timed clip goes to air now: `fromBackground`, with a PLAY of the
   * background it was loaded in; else with a PLAY of the clip. The clip on
   * air stays in the model until the server shows the timed one (then it
   * ends TRUNCATED); the others before it are SKIPPED at once.
   */
  private cutTo(timed: Slot, fromBackground: boolean): void {
    this.clearTimer(timed);
    this.catchUpHandover();
    const index = this.queue.indexOf(timed);
    const before = this.queue.slice(0, index);
    const onAir = before[0]?.onAir && before[0].sent !== 'none' ? before[0] : null;
    const skipped = before.filter((slot) => slot !== onAir);
    for (const slot of skipped) {
      this.remove(slot);
    }
    timed.startAtMs = null;
    if (onAir) {
      onAir.cut = true;
      timed.sent = 'armed';
    } else timed.sent = 'play';
    timed.seenOnLayer = false;
    timed.playedAtMs = null;
    this.layerInUse = true;
    const command = fromBackground ? amcp.playBackground(this.o.at) : amcp.play(this.o.at, this.cue(timed));
    this.o.send(command).then(
      () => void (timed.playedAtMs = this.o.now()),
      (err: Error) => this.commandFailed(timed, err),
    );
    for (const slot of skipped) slot.listener.onEnd({ ok: true, cut: 'SKIPPED' });
  }

  /**
   * The clip armed behind the one on air is due to have swapped in already
   * (by the anchor and the length, before this command can arrive) though no
   * INFO sample has shown it yet: the server made that swap on its own, so it
   * aired; hand over at the tick it was due, rather than count it as never aired.
   */
  private catchUpHandover(): void {
    const [fg, next] = this.queue;
    if (!fg?.onAir || fg.anchorMs === null || fg.pausedAtMs !== null || next?.sent !== 'armed') return;
    const handover = Math.round(fg.anchorMs + fg.lengthMs - ticksToMs(next.transitionTicks, this.o.rate));
    if (handover <= this.o.now() + this.clock.latencyMs) this.handOver(fg, next, handover);
  }

  /** Resolves once the server answered the PLAY (or LOAD): null when it took it, else the error (already dealt with). */
  private playSlot(slot: Slot): Promise<Error | null> {
    // An item already on air (the server lost it) comes back where the wall clock says it is.
    const offset =
      slot.onAir && slot.anchorMs !== null
        ? Math.min(
            Math.max(0, msToTicks((slot.pausedAtMs ?? this.o.now()) - slot.anchorMs, this.o.rate)),
            slot.lengthTicks - 1,
          )
        : 0;
    const cue = this.cue(slot, offset);
    slot.sent = 'play';
    slot.seenOnLayer = false;
    slot.playedAtMs = null;
    this.layerInUse = true;
    const command = slot.pausedAtMs !== null ? amcp.load(this.o.at, cue) : amcp.play(this.o.at, cue);
    return this.o.send(command).then(
      () => {
        slot.playedAtMs = this.o.now();
        return null;
      },
      (err: Error) => {
        this.commandFailed(slot, err);
        return err;
      },
    );
  }

  /** A PLAY/LOADBG the server refused: the clip failed (the sequencer logs it and moves on). */
  private commandFailed(slot: Slot, err: Error): void {
    // Lost with the connection: the catch-up on reconnection decides what to send.
    if (err instanceof AmcpUnavailable && !this.o.connected()) return;
    if (slot.gone) {
      this.o.report(`CasparCG: ${err.message}`);
      return;
    }
    this.remove(slot);
    slot.listener.onEnd({ ok: false, message: err.message });
    this.afterChange();
  }

  private remove(slot: Slot): void {
    this.clearTimer(slot);
    const at = this.queue.indexOf(slot);
    if (at >= 0) this.queue.splice(at, 1);
    if (at === 0 && (slot.onAir || slot.sent !== 'none')) this.previousName = slot.name;
    slot.gone = true;
  }

  private fireAndReport(command: string): void {
    this.o.send(command).catch((err: Error) => {
      if (err instanceof AmcpUnavailable && !this.o.connected()) return;
      this.o.report(`CasparCG: ${err.message}`);
    });
  }

  private pause(slot: Slot): void {
    if (slot.gone || slot.pausedAtMs !== null) return;
    slot.pausedAtMs = this.o.now();
    if (this.queue[0] === slot && slot.sent !== 'none' && this.o.canSend()) this.fireAndReport(amcp.pause(this.o.at));
  }

  private resume(slot: Slot): void {
    if (slot.gone || slot.pausedAtMs === null) return;
    if (slot.anchorMs !== null) slot.anchorMs += this.o.now() - slot.pausedAtMs;
    slot.pausedAtMs = null;
    this.playbacks.set(slot, {});
    if (this.queue[0] === slot && slot.sent !== 'none' && this.o.canSend()) this.fireAndReport(amcp.resume(this.o.at));
  }

  /**
   * Takes a clip out. The one on air with a clip armed behind it: that one
   * goes on air now (PLAY without a clip: skip). The one on air alone: the
   * layer is cleared. The armed one: disarmed. Resolves with the server's reply.
   */
  private async stop(slot: Slot): Promise<void> {
    if (slot.gone) return;
    const index = this.queue.indexOf(slot);
    this.remove(slot);
    let command: string | null = null;
    if (index === 0) {
      const next = this.queue[0];
      if (next?.sent === 'loaded') {
        // A timed start waits in the background for its instant: only the foreground goes.
        command = amcp.stop(this.o.at);
      } else if (next?.sent === 'armed') {
        command = amcp.playBackground(this.o.at);
        next.sent = 'play';
        next.seenOnLayer = false;
        next.playedAtMs = this.o.now();
      } else if (!next && this.layerInUse) {
        command = amcp.clear(this.o.at);
        this.layerInUse = false;
      }
    } else if ((index === 1 && slot.sent === 'armed') || slot.sent === 'loaded') {
      command = amcp.disarm(this.o.at);
    }
    // Sent before what pump() adds, so the server sees them in this order.
    const reply = command && this.o.canSend() ? this.o.send(command) : null;
    this.afterChange();
    if (!reply) return;
    try {
      await reply;
    } catch (err) {
      if (err instanceof AmcpUnavailable && !this.o.connected()) return;
      throw err;
    }
  }

  // --- what the server shows ------------------------------------------------

  /**
   * One INFO sample: clips reaching air, taking over, ending or lost.
   * `trip` (when the INFO was sent and answered) feeds the frame clock.
   */
  apply(s: ChannelSnapshot, atMs: number, trip?: { sentMs: number; receivedMs: number }): void {
    const cur = this.queue[0];
    if (trip) this.clock.roundTrip(trip.receivedMs - trip.sentMs);
    const loaded = this.queue.find((slot) => slot.sent === 'loaded');
    if (loaded && shows(s.background, loaded)) loaded.armedSeen = true;
    if (cur) {
      const next = this.queue[1]?.sent === 'armed' ? this.queue[1] : null;
      const r = observe(s, cur, next, {
        atMs,
        previousName: this.previousName,
        previousForeground: this.previousForeground,
      });
      if (next) next.armedSeen = r.armedSeen;
      const o = r.observation;
      if (o.kind === 'on-air') {
        const at = this.startOf(cur, o.startedAtMs);
        cur.onAir = true;
        cur.anchorMs = at;
        cur.seenOnLayer = true;
        cur.listener.onAir(at);
        if (this.queue[0] === cur) cur.listener.onCue?.();
      } else if (o.kind === 'took-over' && next) {
        this.handOver(cur, next, this.startOf(next, o.startedAtMs));
      } else if (o.kind === 'ended') {
        this.remove(cur);
        cur.listener.onEnd({ ok: true, endedAtMs: o.endedAtMs });
      } else if (o.kind === 'lost' && cur.seenOnLayer) {
        this.remove(cur);
        cur.listener.onEnd({
          ok: false,
          message: `CasparCG layer ${this.layer} stopped playing ${cur.name} (it shows ${o.shows})`,
        });
      } else {
        if (r.shown) cur.seenOnLayer = true;
        // A playback never paused started on a tick; a resumed one's anchor is moved on by the paused time.
        if (r.anchorMs !== null && cur.onAir && r.anchorMs !== cur.anchorMs)
          cur.anchorMs = this.playbacks.has(cur) || s.foreground.paused ? r.anchorMs : this.clock.tickNear(r.anchorMs);
        const timeout = this.o.onAirTimeoutMs;
        if (!cur.seenOnLayer && cur.pausedAtMs === null && cur.playedAtMs !== null && atMs - cur.playedAtMs > timeout) {
          this.remove(cur);
          cur.listener.onEnd({
            ok: false,
            message: `CasparCG did not show ${cur.name} on layer ${this.layer} within ${seconds(timeout)} of PLAY`,
          });
        }
      }
    }
    this.previousForeground = s.foreground;
    if (trip) this.sampleClock(s, trip.sentMs, trip.receivedMs);
    this.afterChange();
  }

  /**
   * A clip's first tick from a sample's estimate: on the channel's nearest
   * tick, and for a clip PLAYed, no later than the tick after the server
   * answered the PLAY (it had taken it by then); a sample held up dates it late.
   */
  private startOf(slot: Slot, estimateMs: number): number {
    const at = this.clock.tickNear(estimateMs);
    if (slot.playedAtMs === null || !this.clock.bounds) return at;
    return Math.min(at, Math.round(this.clock.tickFrom(slot.playedAtMs)));
  }

  /** The clip on air, playing and not on its last frame, times the channel's ticks (frame-clock.ts). */
  private sampleClock(s: ChannelSnapshot, sentMs: number, receivedMs: number): void {
    const cur = this.queue[0];
    const fg = s.foreground;
    if (!cur?.onAir || cur.pausedAtMs !== null || fg.paused || fg.timeSec === null || !shows(fg, cur)) return;
    const frame = Math.round(((fg.timeSec - cur.baseSec) * 1000) / cur.tickMs);
    if (frame < 0 || frame >= cur.lengthTicks - 1) return;
    // A resumed clip is another playback: its frames no longer count from the same tick.
    this.clock.sample(this.playbacks.get(cur) ?? cur, frame, sentMs, receivedMs);
  }

  /** The armed clip replaced the one on air at `at`: the first ended then, the second started then. */
  private handOver(cur: Slot, next: Slot, at: number): void {
    this.remove(cur);
    next.onAir = true;
    next.anchorMs = at;
    next.sent = 'play';
    next.seenOnLayer = true;
    cur.listener.onEnd(cur.cut ? { ok: true, endedAtMs: at, cut: 'TRUNCATED' } : { ok: true, endedAtMs: at });
    if (next.gone) return;
    next.listener.onAir(at);
    if (this.queue[0] === next) next.listener.onCue?.();
  }

  // --- catching up after the server was out of reach ------------------------------

  /**
   * After a reconnection (commands held back by canSend): if the server kept
   * playing the layer, reads where it is; if it lost it (a restart), moves the
   * model to the present by the wall clock, lifts the hold (`release`) and
   * plays the item due now from there. Returns what happened, for the event
   * log, once the server has answered.
   */
  async catchUp(s: ChannelSnapshot, atMs: number, release: () => void): Promise<string[]> {
    const cur = this.queue[0];
    const next = this.queue[1];
    if (!cur) {
      this.layerInUse = s.foreground.producer !== 'empty';
      return ['nothing was due on air'];
    }
    if ((cur.onAir && shows(s.foreground, cur)) || (next?.sent === 'armed' && shows(s.foreground, next))) {
      this.apply(s, atMs);
      const fg = this.queue[0];
      const bg = this.queue[1];
      if ((bg?.sent === 'armed' || bg?.sent === 'loaded') && !shows(s.background, bg)) bg.sent = 'none';
      if (fg === cur && fg.pausedAtMs !== null && !s.foreground.paused) await this.o.send(amcp.pause(this.o.at));
      if (fg === cur && fg.pausedAtMs === null && s.foreground.paused) await this.o.send(amcp.resume(this.o.at));
      return ['the server had kept playing the layer'];
    }
    const notes: string[] = [];
    for (const slot of this.queue) slot.sent = 'none';
    this.layerInUse = s.foreground.producer !== 'empty';
    const ranOut = this.replayByWallClock(this.o.now());
    if (ranOut.length) notes.push(`ran out meanwhile by the wall clock: ${ranOut.join(', ')}`);
    const fg = this.queue[0];
    const lost = `the server had lost layer ${this.layer} (restarted?)`;
    if (!fg) {
      notes.push(`${lost}; the playlist had ended meanwhile`);
      return notes;
    }
    const what = `${fg.clip.itemId} (${fg.name})`;
    const intoMs = fg.onAir && fg.anchorMs !== null ? (fg.pausedAtMs ?? this.o.now()) - fg.anchorMs : null;
    // Answered before the event log hears of it: the log never says an item is back before the server has it.
    // Released first, so what happens meanwhile (arming the next, a pause) goes out after it, in order.
    release();
    const failed = await this.playSlot(fg);
    // Dropped again: the next connection starts over.
    if (failed && !this.o.connected()) throw failed;
    if (failed) notes.push(`${lost}: ${what} could not be put back: ${failed.message}`);
    else
      notes.push(
        intoMs === null
          ? `${lost}: ${what} played from its start`
          : `${lost}: ${what} back on air at ${seconds(intoMs)} into it`,
      );
    return notes;
  }

  /**
   * Each item whose time ran out while the server could not play it ends when
   * it was due to, and the next starts then (its transition's length before
   * the out point, as LOADBG AUTO would have). Returns the items that ran out.
   */
  private replayByWallClock(now: number): string[] {
    const ranOut: string[] = [];
    for (;;) {
      const cur = this.queue[0];
      if (!cur?.onAir || cur.anchorMs === null || cur.pausedAtMs !== null) return ranOut;
      // A timed start does not follow: the clip before it ran out on its own, and the timed one is played on
      // reconnection (at once if its instant has passed meanwhile).
      const next = this.queue[1]?.startAtMs === null ? this.queue[1] : null;
      const handover = Math.round(
        cur.anchorMs + ticksToMs(cur.lengthTicks - (next ? next.transitionTicks : 0), this.o.rate),
      );
      if (now < handover) return ranOut;
      ranOut.push(cur.clip.itemId);
      if (next) {
        this.handOver(cur, next, handover);
        next.sent = 'none';
      } else {
        this.remove(cur);
        cur.listener.onEnd({ ok: true, endedAtMs: handover });
      }
    }
  }
}
