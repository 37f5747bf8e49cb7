import type { VideoFormat } from '../../../protocol/video-formats.ts';
import { EngineError, type EngineClip } from '../engine.ts';

/**
 * Pure AMCP command building for the CasparCG engine: every string this
 * engine sends to CasparCG Server (2.3 and 2.4) comes from here, so the exact
 * command stream is table-tested. Nothing here does I/O.
 */

/** A channel's layer, as AMCP writes it: `1-10`. */
export interface LayerAddress {
  channel: number;
  layer: number;
}

/**
 * How CasparCG counts clip positions and transition durations: SEEK, LENGTH
 * and a transition's duration are channel ticks of 1/(frame rate × field
 * count) — frames on progressive modes, FIELDS on interlaced ones (1080i5000
 * counts 50 a second, not 25). CasparCG 2.3 defines 1080i5000 with a 50000
 * time scale, 2.4 with 25000 × 2 fields: both come to 1/50 s, and INFO and
 * OSC report 50/1 for it.
 */
export interface TickRate {
  num: number;
  den: number;
}

export function tickRate(format: VideoFormat): TickRate {
  return { num: format.timeScale * (format.interlaced ? 2 : 1), den: format.duration };
}

/** The nearest whole tick (exact for 1001-denominator rates). */
export function msToTicks(ms: number, rate: TickRate): number {
  return Math.round((ms * rate.num) / (1000 * rate.den));
}

export function ticksToMs(ticks: number, rate: TickRate): number {
  return (ticks * 1000 * rate.den) / rate.num;
}

/** Whole frames (not ticks) per second, rounded: a GOP of one second for encoders. */
export function framesPerSecond(format: VideoFormat): number {
  return Math.round(format.timeScale / format.duration);
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * One AMCP parameter in double quotes. CasparCG's tokenizer reads `\\` and
 * `\"` as escapes and splits lines on CR LF, so backslashes and quotes are
 * escaped and control characters refused (a newline would end the command and
 * start another one).
 */
export function quote(value: string): string {
  if (CONTROL.test(value)) throw new EngineError('an AMCP parameter cannot contain control characters');
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export const address = (a: LayerAddress): string => `${a.channel}-${a.layer}`;

export type TransitionType = EngineClip['transition'];

/** A clip as CasparCG plays it: a name relative to its media folder, positions in ticks. */
export interface ClipCue {
  /** Path relative to the server's media folder, with its extension (2.3 and 2.4 resolve both). */
  name: string;
  /** First tick to play (SEEK; IN defaults to it on 2.4, is its alias on 2.3). */
  seekTicks: number;
  /** Ticks to play from seekTicks (LENGTH: the out point is SEEK + LENGTH). */
  lengthTicks: number;
  transition: TransitionType;
  transitionTicks: number;
}

/**
 * CasparCG 2.3/2.4 find a transition with an unanchored regex over all the
 * parameters: a clip named `PROMO_MIX2025.mov` would be played with a MIX of
 * 2025 ticks. The last match wins, so an explicit `CUT 0` (no transition)
 * after the name neutralises it; 2.5 anchors the regex and ignores it.
 */
const TRANSITION_LOOKALIKE = /(CUT|PUSH|SLIDE|WIPE|MIX)\s*\d/i;

function transitionParams(cue: ClipCue): string[] {
  if (cue.transition !== 'CUT' && cue.transitionTicks > 0) return [cue.transition, String(cue.transitionTicks)];
  return TRANSITION_LOOKALIKE.test(cue.name) ? ['CUT', '0'] : [];
}

/** `"name" [SEEK n] LENGTH n [transition]`, as PLAY, LOAD and LOADBG take them. */
export function clipParams(cue: ClipCue): string {
  const parts = [quote(cue.name)];
  if (cue.seekTicks > 0) parts.push('SEEK', String(cue.seekTicks));
  parts.push('LENGTH', String(Math.max(1, cue.lengthTicks)));
  parts.push(...transitionParams(cue));
  return parts.join(' ');
}

/** Every command the engine sends, by name. */
export const amcp = {
  version: () => 'VERSION',
  /** `200 INFO OK` + one `<channel> <video mode> PLAYING` line per channel. */
  channels: () => 'INFO',
  /** `201 INFO PATHS OK` + the server's folders as XML. */
  paths: () => 'INFO PATHS',
  /** `201 INFO OK` + the channel's state as XML (a layer address is ignored by the server). */
  info: (channel: number) => `INFO ${channel}`,
  setMode: (channel: number, mode: string) => `SET ${channel} MODE ${mode}`,
  /** Loads and plays at once, replacing what the layer shows. */
  play: (a: LayerAddress, cue: ClipCue) => `PLAY ${address(a)} ${clipParams(cue)}`,
  /** The background clip goes on air now (its transition included): skip. */
  playBackground: (a: LayerAddress) => `PLAY ${address(a)}`,
  /** Loads and holds the first frame (a paused item put back after a server restart). */
  load: (a: LayerAddress, cue: ClipCue) => `LOAD ${address(a)} ${clipParams(cue)}`,
  /** Arms the next clip: CasparCG swaps it in itself at the foreground's out point, minus the transition. */
  loadNext: (a: LayerAddress, cue: ClipCue) => `LOADBG ${address(a)} ${clipParams(cue)} AUTO`,
  /** Loads a timed start in the background: it waits there, without AUTO, for a PLAY sent on time. */
  loadBackground: (a: LayerAddress, cue: ClipCue) => `LOADBG ${address(a)} ${clipParams(cue)}`,
  /**
   * Disarms the background: a transparent colour producer without AUTO takes
   * its place (AMCP has no command that clears only the background).
   */
  disarm: (a: LayerAddress) => `LOADBG ${address(a)} EMPTY`,
  pause: (a: LayerAddress) => `PAUSE ${address(a)}`,
  /** The foreground off air, the background (a timed start waiting) kept. */
  stop: (a: LayerAddress) => `STOP ${address(a)}`,
  resume: (a: LayerAddress) => `RESUME ${address(a)}`,
  /** Foreground and background gone: the layer is empty. */
  clear: (a: LayerAddress) => `CLEAR ${address(a)}`,
  add: (channel: number, index: number, params: string) => `ADD ${channel}-${index} ${params}`,
  remove: (channel: number, index: number) => `REMOVE ${channel}-${index}`,
} as const;

/** Replaces every secret in text (commands carry stream keys and passphrases). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}
