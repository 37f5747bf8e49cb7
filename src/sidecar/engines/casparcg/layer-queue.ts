import { isAbsolute, relative, sep } from 'node:path';
import { EngineError, type ClipListener, type EngineClip } from '../engine.ts';
import { amcp, msToTicks, ticksToMs, type ClipCue, type LayerAddress, type TickRate } from './commands.ts';
import { AmcpUnavailable } from './connection.ts';
import { FrameClock } from './frame-clock.ts';
import type { ProducerState } from './info.ts';
import type { TrackedClip } from './timing.ts';

/**
 * The state one CasparCG layer's player keeps (layer.ts): the queue of clips
 * and what the server was told of each, with the steps every part of the
 * player takes on it (PLAY a clip, drop one, hand over to the next).
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

export interface Slot extends TrackedClip {
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
  /**
   * When the server answered the LOADBG that put it in the background (armed
   * or loaded): an INFO sent two ticks later shows it there, unless it is on
   * air (the server queues a load for its next tick and INFO reads the last).
   */
  loadedBgAtMs: number | null;
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export abstract class LayerQueue {
  protected queue: Slot[] = [];
  /** The layer may show something of ours: CLEAR it when the queue empties. */
  protected layerInUse = false;
  protected previousName: string | null = null;
  protected previousForeground: ProducerState | null = null;
  protected readonly layer: string;
  /** The channel's ticks and the command latency, from the INFO samples. */
  readonly clock: FrameClock;
  /** A resumed clip's new playback, for the clock (its frames count from another tick). */
  protected readonly playbacks = new WeakMap<Slot, object>();

  constructor(protected readonly o: LayerPlayerOptions) {
    this.layer = `${o.at.channel}-${o.at.layer}`;
    this.clock = new FrameClock(ticksToMs(1, o.rate));
  }

  /** The clip on air (or due), for messages. */
  get current(): { itemId: string; name: string } | null {
    const cur = this.queue[0];
    return cur ? { itemId: cur.clip.itemId, name: cur.name } : null;
  }

  /** After any change: send what is due (layer-cueing.ts). */
  abstract afterChange(): void;

  protected clipName(file: string): string {
    const rel = relative(this.o.mediaDir, file);
    if (!rel || rel.startsWith('..') || isAbsolute(rel)) throw new EngineError(`${file} is not on the media volume`);
    return rel.split(sep).join('/');
  }

  protected cue(slot: Slot, offsetTicks = 0): ClipCue {
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

  protected clearTimer(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
  }

  /** Resolves once the server answered the PLAY (or LOAD): null when it took it, else the error (already dealt with). */
  protected playSlot(slot: Slot): Promise<Error | null> {
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
  protected commandFailed(slot: Slot, err: Error): void {
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

  protected remove(slot: Slot): void {
    this.clearTimer(slot);
    const at = this.queue.indexOf(slot);
    if (at >= 0) this.queue.splice(at, 1);
    if (at === 0 && (slot.onAir || slot.sent !== 'none')) this.previousName = slot.name;
    slot.gone = true;
  }

  protected fireAndReport(command: string): void {
    this.o.send(command).catch((err: Error) => {
      if (err instanceof AmcpUnavailable && !this.o.connected()) return;
      this.o.report(`CasparCG: ${err.message}`);
    });
  }

  /** The armed clip replaced the one on air at `at`: the first ended then, the second started then. */
  protected handOver(cur: Slot, next: Slot, at: number): void {
    this.remove(cur);
    next.onAir = true;
    next.anchorMs = at;
    next.sent = 'play';
    next.seenOnLayer = true;
    // A cut on its last frame or after it took nothing from the clip: it played out.
    const cutShort =
      cur.cut && (cur.anchorMs === null || at < cur.anchorMs + cur.lengthMs - ticksToMs(1, this.o.rate) / 2);
    cur.listener.onEnd(cutShort ? { ok: true, endedAtMs: at, cut: 'TRUNCATED' } : { ok: true, endedAtMs: at });
    if (next.gone) return;
    next.listener.onAir(at);
    if (this.queue[0] === next) next.listener.onCue?.();
  }
}
