import type { ClipHandle, ClipListener, EngineClip } from '../engine.ts';
import { amcp, msToTicks, quote, ticksToMs } from './commands.ts';
import { AmcpUnavailable } from './connection.ts';
import { LayerQueue, type Slot } from './layer-queue.ts';

/**
 * What a layer's player sends: PLAY the first clip, LOADBG … AUTO the next as
 * soon as the first is on air, and the operator's pause, resume and stop.
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
export abstract class LayerCueing extends LayerQueue {
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
      loadedBgAtMs: null,
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
      this.inBackground(bg, amcp.loadNext(this.o.at, this.cue(bg)));
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
    this.layerInUse = true;
    this.inBackground(timed, amcp.loadBackground(this.o.at, this.cue(timed)));
    this.timePlay(timed);
  }

  /** Sends the LOADBG that puts `slot` in the background, noting when the server answered it. */
  private inBackground(slot: Slot, command: string): void {
    const sent = slot.sent;
    slot.armedSeen = false;
    slot.loadedBgAtMs = null;
    this.o.send(command).then(
      () => void (slot.sent === sent && (slot.loadedBgAtMs = this.o.now())),
      (err: Error) => this.commandFailed(slot, err),
    );
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
}
