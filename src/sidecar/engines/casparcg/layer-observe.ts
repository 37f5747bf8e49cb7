import type { ChannelSnapshot } from './info.ts';
import { LayerCueing } from './layer-cueing.ts';
import { seconds, type Slot } from './layer-queue.ts';
import { shows, observe } from './timing.ts';

/**
 * What the server shows of a layer, from its INFO samples (timing.ts reads
 * them): clips reaching air, taking over, ending or lost; and the samples
 * that time the channel's ticks (frame-clock.ts).
 */
export abstract class LayerObserver extends LayerCueing {
  /**
   * One INFO sample: clips reaching air, taking over, ending or lost.
   * `trip` (when the INFO was sent and answered) feeds the frame clock.
   */
  apply(s: ChannelSnapshot, atMs: number, trip?: { sentMs: number; receivedMs: number }): void {
    const cur = this.queue[0];
    if (trip) this.clock.roundTrip(trip.receivedMs - trip.sentMs);
    const loaded = this.queue.find((slot) => slot.sent === 'loaded');
    if (loaded && (shows(s.background, loaded) || this.inSample(loaded, trip))) loaded.armedSeen = true;
    if (cur) {
      const next = this.queue[1]?.sent === 'armed' ? this.queue[1] : null;
      // Armed as this sample shows it even if no sample saw it there: two clips of the same file in a row,
      // samples far apart (a starved sidecar), the swap between them, the playhead past the first's last seen.
      if (next && this.inSample(next, trip)) next.armedSeen = true;
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

  /** Whether a sample sent at `trip.sentMs` shows what the LOADBG put in the background (or it went on air). */
  private inSample(slot: Slot, trip?: { sentMs: number }): boolean {
    return !!trip && slot.loadedBgAtMs !== null && trip.sentMs >= slot.loadedBgAtMs + 2 * slot.tickMs;
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
}
