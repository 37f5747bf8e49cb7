/**
 * The server channel's frame clock as the sidecar can know it, for timed
 * starts: CasparCG 2.3–2.5 has no PLAY at a given time, so the engine sends a
 * PLAY of the armed background at the moment that lands it on the tick of
 * the wanted frame. Pure; table-tested.
 *
 * Where the ticks fall: an INFO sample sent at s and answered at r shows the
 * layer's clip at frame P of its playback. The server read its state at some
 * p in [s, r], after the tick of frame P and before the next, so the clip's
 * first tick τ0 lies in (s − (P + 1)·tick, r − P·tick]. Samples of the same
 * playback narrow this down to about the round trip: one alone says nothing
 * (the interval is longer than a tick), so a playback's samples are
 * intersected, and the narrowest recent bound gives the phase of the grid,
 * which the channel keeps from clip to clip (one clock per channel).
 *
 * When a command takes effect: the channel applies what arrived before its
 * next tick, so a PLAY arriving within the tick before the wanted one airs
 * on it. The engine's timer is only ever late, while the server's tick can
 * also run late (a command that arrives before the server has made the tick
 * it was aimed after lands a frame early), so the PLAY aims a third into
 * that tick (or past the phase's uncertainty, half the bound, and 2 ms, if
 * more), less the one-way latency (half the median INFO round trip): at
 * 25 fps it lands on the frame while the sidecar is under 27 ms late and
 * the server's tick under 13 ms (13 and 7 ms at 50 fps). With no phase
 * known yet (no clip of ours has played) it aims at the middle of the tick
 * before the instant itself.
 */

export interface TickBounds {
  /** The clip's first tick lies after lo and at or before hi (epoch ms). */
  lo: number;
  hi: number;
  /** When the bound was last narrowed (epoch ms). */
  atMs: number;
}

/** Round trips kept for the latency (the median of them). */
const ROUND_TRIPS = 15;
/** A bound older than this gives way to a wider, fresher one (a server clock runs a little off ours). */
const STALE_MS = 60_000;

export class FrameClock {
  private playback: object | null = null;
  private current: TickBounds | null = null;
  private best: TickBounds | null = null;
  private readonly trips: number[] = [];

  constructor(readonly tickMs: number) {}

  /** A command's round trip, ms. */
  roundTrip(ms: number): void {
    this.trips.push(ms);
    if (this.trips.length > ROUND_TRIPS) this.trips.shift();
  }

  /** One-way latency to the server: half the median round trip (0 before any). */
  get latencyMs(): number {
    if (this.trips.length === 0) return 0;
    const sorted = [...this.trips].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] / 2;
  }

  /**
   * An INFO sample sent at sentMs and answered at receivedMs showing frame
   * `frame` (ticks since its start) of a playback (any object standing for
   * it: a new one after a pause or another clip).
   */
  sample(playback: object, frame: number, sentMs: number, receivedMs: number): void {
    const fresh: TickBounds = {
      lo: sentMs - (frame + 1) * this.tickMs,
      hi: receivedMs - frame * this.tickMs,
      atMs: receivedMs,
    };
    const cur = this.playback === playback ? this.current : null;
    const lo = cur ? Math.max(cur.lo, fresh.lo) : fresh.lo;
    const hi = cur ? Math.min(cur.hi, fresh.hi) : fresh.hi;
    // Disjoint: the playback was held up (a late tick, a pause not seen): start over from this sample.
    this.current = lo < hi ? { lo, hi, atMs: receivedMs } : fresh;
    this.playback = playback;
    const best = this.best;
    const width = (b: TickBounds) => b.hi - b.lo;
    if (!best || width(this.current) <= width(best) || receivedMs - best.atMs > STALE_MS) this.best = this.current;
  }

  /** The bound the phase comes from (null: no sample yet). */
  get bounds(): TickBounds | null {
    return this.best;
  }

  /** The first tick of the channel at or after `ms`; `ms` itself when the phase is unknown. */
  tickFrom(ms: number): number {
    if (!this.best) return ms;
    const tick = (this.best.lo + this.best.hi) / 2;
    return tick + Math.ceil((ms - tick) / this.tickMs - 1e-6) * this.tickMs;
  }

  /**
   * The channel's tick nearest `ms` (whole ms); `ms` itself when the phase is
   * unknown. A start dated from one INFO sample is only good to about half a
   * tick; a clip's first frame is on a tick, and the phase is known better
   * (once its bound is under half a tick: a wider one would move it off).
   */
  tickNear(ms: number): number {
    if (!this.best || this.best.hi - this.best.lo > this.tickMs / 2) return ms;
    const tick = (this.best.lo + this.best.hi) / 2;
    return Math.round(tick + Math.round((ms - tick) / this.tickMs) * this.tickMs);
  }

  /** When to send a command that should take effect on the tick at or after `ms`. */
  sendAt(ms: number): number {
    const b = this.best;
    const intoTickBefore = b
      ? Math.min(this.tickMs / 2, Math.max(this.tickMs / 3, (b.hi - b.lo) / 2 + 2))
      : this.tickMs / 2;
    return this.tickFrom(ms) - this.tickMs + intoTickBefore - this.latencyMs;
  }
}
