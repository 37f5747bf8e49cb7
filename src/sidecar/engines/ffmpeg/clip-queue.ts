import type { VideoMode } from '../../video-modes.ts';
import type { ClipSource } from './decoder.ts';
import { Transition, transitionFrames } from './mix.ts';

/**
 * The ffmpeg engine's clips in air order, and when one hands over to the
 * next: played out, cut by a timed start at its frame, or at the start of
 * the next one's transition, the outgoing clip's tail then airing under it.
 * What the listeners are told about a frame is called once the frame is
 * made (`flush`): a listener may play or stop clips.
 */
export class ClipQueue {
  /** Clips queued, the one on air (or next to air) first. */
  sources: ClipSource[] = [];
  /** The transition on air: the outgoing clip's tail under the head of `sources`. */
  mix: Transition | null = null;
  paused = false;
  private pending: (() => void)[] = [];

  constructor(private readonly o: { mode: VideoMode; perFrame: number }) {}

  /** Calls a listener once the frame being made is made. */
  later(call: () => void): void {
    this.pending.push(call);
  }

  flush(): void {
    const calls = this.pending;
    this.pending = [];
    for (const call of calls) call();
  }

  /** stop(): the clip goes, without a word to its listener; a clip queued behind it goes on air at the next frame. */
  remove(src: ClipSource): void {
    const at = this.sources.indexOf(src);
    if (at >= 0) this.sources.splice(at, 1);
    // Skipped during its transition: the outgoing clip's tail goes with it.
    if (this.mix?.into === src) this.endMix();
    src.reported = true;
    src.kill();
    if (at <= 0) this.paused = false;
  }

  /** Every clip leaves (the session ends): they are returned, their decoders killed. */
  clear(): ClipSource[] {
    this.endMix();
    const all = this.sources;
    this.sources = [];
    for (const s of all) s.kill();
    return all;
  }

  /**
   * Before a frame's picture is taken (`endedAtMs`, the frame's start): the
   * clips that ran out end, the next one due at this very frame, ready or
   * not (it keeps the schedule's time); a clip with a transition takes over
   * when its time has come. A pause ends a transition at once: its last
   * frame holds, and the incoming clip resumes alone.
   */
  advance(endedAtMs: number): void {
    if (this.paused) {
      this.endMix();
      return;
    }
    if (this.mix?.over) this.endMix(true);
    while (this.sources[0]?.exhausted && !this.sources[0].timed) {
      const src = this.sources.shift()!;
      src.kill();
      this.reportEnd(src, endedAtMs);
      if (this.sources[0] && !this.sources[0].timed) this.sources[0].due = true;
    }
    this.handOver(endedAtMs);
  }

  /**
   * The last timed clip whose frame has come (`due`) takes air: the clips
   * queued before it are cut, the one on air TRUNCATED at this frame, the
   * others SKIPPED. A pause does not hold it: a fixed-time start is the
   * schedule's, not the paused clip's.
   */
  takeTimed(due: (s: ClipSource) => boolean, endedAtMs: number): void {
    let at = -1;
    for (let i = 0; i < this.sources.length; i++) if (this.sources[i].timed && due(this.sources[i])) at = i;
    if (at < 0) return;
    for (const s of this.sources.splice(0, at)) {
      s.kill();
      if (s.reported) continue;
      s.reported = true;
      const wasOnAir = s.taken > 0 || s.dueAt !== null;
      if (s.taken === 0 && s.dueAt !== null) this.later(() => s.listener.onAir(s.dueAt!));
      const framesLost = s.framesLost || undefined;
      const result = wasOnAir
        ? ({ ok: true, endedAtMs, cut: 'TRUNCATED', framesLost } as const)
        : ({ ok: true, cut: 'SKIPPED' } as const);
      this.later(() => s.listener.onEnd(result));
    }
    this.endMix();
    const src = this.sources[0];
    src.timed = false;
    // On time, it keeps its time even if its decoder lags (frames lost, the last one held); a late one is ready.
    src.due = true;
    this.paused = false;
  }

  /**
   * A clip queued behind the one on air with a transition (not a timed one)
   * takes air the transition's frames before that one runs out (fewer if
   * less is left of either): the outgoing clip ends at this frame as played
   * out, its tail airing under the transition, and the incoming clip is on
   * air from it, ready or not, as after a cut.
   */
  private handOver(endedAtMs: number): void {
    const [out, into] = this.sources;
    if (!out || !into || out.timed || into.timed || out.reported || out.aired === 0) return;
    const frames = Math.min(transitionFrames(into.clip, this.o.perFrame), into.total);
    const left = out.remaining;
    if (frames === 0 || left === 0 || left > frames) return;
    this.sources.shift();
    // A clip shorter than the transitions on either side of it: the earlier one is cut short.
    this.endMix();
    this.mix = new Transition(out, into, left, this.o.mode);
    this.reportEnd(out, endedAtMs);
    into.due = true;
  }

  /**
   * The transition ends: its outgoing clip's decoder is killed. `played`: it
   * ran its course; if its incoming clip failed meanwhile, what follows is
   * due now.
   */
  private endMix(played = false): void {
    const mix = this.mix;
    if (!mix) return;
    this.mix = null;
    mix.end();
    const head = this.sources[0];
    if (played && head && head !== mix.into && !head.timed) head.due = true;
  }

  private reportEnd(src: ClipSource, endedAtMs: number): void {
    if (src.reported) return;
    src.reported = true;
    // Its slot went by before its decoder delivered a single frame (a starved machine): it is logged
    // as it would have aired, on time; ENGINE_BEHIND and framesDropped say what the output showed.
    const dueAt = src.dueAt;
    if (src.taken === 0 && dueAt !== null) this.later(() => src.listener.onAir(dueAt));
    const framesLost = src.framesLost || undefined;
    this.later(() => src.listener.onEnd({ ok: true, endedAtMs, framesLost }));
  }
}
