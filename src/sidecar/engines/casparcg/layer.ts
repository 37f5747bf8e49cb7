import { amcp, ticksToMs } from './commands.ts';
import type { ChannelSnapshot } from './info.ts';
import { LayerObserver } from './layer-observe.ts';
import { seconds } from './layer-queue.ts';
import { shows } from './timing.ts';

/**
 * The clips queued for one CasparCG layer: the model of what should play
 * (layer-queue.ts), the AMCP it takes (layer-cueing.ts, with timed starts),
 * what INFO samples say happened to them (layer-observe.ts), and here how the
 * model catches up with the present after the server was out of reach.
 */
export class LayerPlayer extends LayerObserver {
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
