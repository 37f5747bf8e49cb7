import { isAbsolute, relative, sep } from 'node:path';
import { EngineError, type ClipHandle, type ClipListener, type EngineClip } from '../engine.ts';
import { amcp, msToTicks, quote, ticksToMs, type ClipCue, type LayerAddress, type TickRate } from './commands.ts';
import { AmcpUnavailable } from './connection.ts';
import type { ChannelSnapshot, ProducerState } from './info.ts';
import { observe, shows, type TrackedClip } from './timing.ts';

/**
 * The clips queued for one CasparCG layer: the model of what should play,
 * the AMCP it takes (PLAY the first, LOADBG … AUTO the next as soon as the
 * first is on air), what INFO samples say happened to them, and how the model
 * catches up with the present after the server was out of reach.
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
  /** What the server was told: nothing yet, PLAY (foreground) or LOADBG AUTO (armed). */
  sent: 'none' | 'play' | 'armed';
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

  constructor(private readonly o: LayerPlayerOptions) {
    this.layer = `${o.at.channel}-${o.at.layer}`;
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
      clip, listener, name, seekTicks, lengthTicks,
      transitionTicks: clip.transition === 'CUT' ? 0 : msToTicks(clip.transitionMs, rate),
      baseSec: ticksToMs(seekTicks, rate) / 1000,
      lengthMs: ticksToMs(lengthTicks, rate),
      tickMs: ticksToMs(1, rate),
      onAir: false, anchorMs: null, armedSeen: false,
      sent: 'none', gone: false, pausedAtMs: null, seenOnLayer: false, playedAtMs: null,
    };
    this.queue.push(slot);
    this.afterChange();
    return { pause: () => this.pause(slot), resume: () => this.resume(slot), stop: () => this.stop(slot) };
  }

  /** Forgets every clip (the engine closes); returns whether the layer may still show one. */
  clear(): boolean {
    for (const slot of this.queue) slot.gone = true;
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

  /** Sends what the model needs and the server has not been told: PLAY the first clip, arm the next. */
  private pump(): void {
    if (!this.o.canSend()) return;
    const fg = this.queue[0];
    if (fg && fg.sent === 'none') void this.playSlot(fg);
    const bg = this.queue[1];
    if (fg?.onAir && fg.sent !== 'none' && bg && bg.sent === 'none') {
      bg.sent = 'armed';
      bg.armedSeen = false;
      this.o.send(amcp.loadNext(this.o.at, this.cue(bg))).catch((err: Error) => this.commandFailed(bg, err));
    }
  }

  /** Resolves once the server answered the PLAY (or LOAD): null when it took it, else the error (already dealt with). */
  private playSlot(slot: Slot): Promise<Error | null> {
    // An item already on air (the server lost it) comes back where the wall clock says it is.
    const offset =
      slot.onAir && slot.anchorMs !== null
        ? Math.min(Math.max(0, msToTicks((slot.pausedAtMs ?? this.o.now()) - slot.anchorMs, this.o.rate)), slot.lengthTicks - 1)
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
      if (next?.sent === 'armed') {
        command = amcp.playBackground(this.o.at);
        next.sent = 'play';
        next.seenOnLayer = false;
        next.playedAtMs = this.o.now();
      } else if (!next && this.layerInUse) {
        command = amcp.clear(this.o.at);
        this.layerInUse = false;
      }
    } else if (index === 1 && slot.sent === 'armed') {
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

  /** One INFO sample: clips reaching air, taking over, ending or lost. */
  apply(s: ChannelSnapshot, atMs: number): void {
    const cur = this.queue[0];
    if (cur) {
      const next = this.queue[1]?.sent === 'armed' ? this.queue[1] : null;
      const r = observe(s, cur, next, { atMs, previousName: this.previousName, previousForeground: this.previousForeground });
      if (next) next.armedSeen = r.armedSeen;
      const o = r.observation;
      if (o.kind === 'on-air') {
        cur.onAir = true;
        cur.anchorMs = o.startedAtMs;
        cur.seenOnLayer = true;
        cur.listener.onAir(o.startedAtMs);
        if (this.queue[0] === cur) cur.listener.onCue?.();
      } else if (o.kind === 'took-over' && next) {
        this.handOver(cur, next, o.startedAtMs);
      } else if (o.kind === 'ended') {
        this.remove(cur);
        cur.listener.onEnd({ ok: true, endedAtMs: o.endedAtMs });
      } else if (o.kind === 'lost' && cur.seenOnLayer) {
        this.remove(cur);
        cur.listener.onEnd({ ok: false, message: `CasparCG layer ${this.layer} stopped playing ${cur.name} (it shows ${o.shows})` });
      } else {
        if (r.shown) cur.seenOnLayer = true;
        if (r.anchorMs !== null && cur.onAir) cur.anchorMs = r.anchorMs;
        const timeout = this.o.onAirTimeoutMs;
        if (!cur.seenOnLayer && cur.pausedAtMs === null && cur.playedAtMs !== null && atMs - cur.playedAtMs > timeout) {
          this.remove(cur);
          cur.listener.onEnd({ ok: false, message: `CasparCG did not show ${cur.name} on layer ${this.layer} within ${seconds(timeout)} of PLAY` });
        }
      }
    }
    this.previousForeground = s.foreground;
    this.afterChange();
  }

  /** The armed clip replaced the one on air at `at`: the first ended then, the second started then. */
  private handOver(cur: Slot, next: Slot, at: number): void {
    this.remove(cur);
    next.onAir = true;
    next.anchorMs = at;
    next.sent = 'play';
    next.seenOnLayer = true;
    cur.listener.onEnd({ ok: true, endedAtMs: at });
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
      if (bg?.sent === 'armed' && !shows(s.background, bg)) bg.sent = 'none';
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
    else notes.push(intoMs === null ? `${lost}: ${what} played from its start` : `${lost}: ${what} back on air at ${seconds(intoMs)} into it`);
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
      if (!cur || !cur.onAir || cur.anchorMs === null || cur.pausedAtMs !== null) return ranOut;
      const next = this.queue[1] ?? null;
      const handover = Math.round(cur.anchorMs + ticksToMs(cur.lengthTicks - (next ? next.transitionTicks : 0), this.o.rate));
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
