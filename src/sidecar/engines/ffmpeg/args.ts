import { join } from 'node:path';
import type { SidecarOutput } from '../../../protocol/sidecar-env.ts';
import type { HlsSettings } from '../../hls.ts';
import { ffmpegRate, type VideoMode } from '../../video-modes.ts';
import { EngineError, type EngineClip } from '../engine.ts';

/**
 * Pure command building for the ffmpeg engine: one ffmpeg per clip, with two
 * outputs (the program to the channel's output, and the low-bitrate HLS
 * preview). Table-tested; index.ts only runs what this returns.
 */

export interface ProgramTarget {
  /** The URL ffmpeg opens, secrets included: never log it (see redact). */
  url: string;
  format: 'mpegts' | 'flv';
  /** Strings to scrub from anything ffmpeg prints. */
  secrets: string[];
}

/** Maps the channel's output to an ffmpeg target; NDI and SDI need the CasparCG engine. */
export function programTarget(output: SidecarOutput): ProgramTarget {
  switch (output.type) {
    case 'SRT': {
      const url = new URL(output.url);
      // ffmpeg's srt protocol takes latency in microseconds; 1316 = 7 TS packets per datagram.
      if (output.latencyMs != null) url.searchParams.set('latency', String(output.latencyMs * 1000));
      if (!url.searchParams.has('pkt_size')) url.searchParams.set('pkt_size', '1316');
      if (output.passphrase) url.searchParams.set('passphrase', output.passphrase);
      const secrets = output.passphrase ? [output.passphrase, encodeURIComponent(output.passphrase)] : [];
      return { url: url.toString(), format: 'mpegts', secrets };
    }
    case 'RTMP': {
      const base = output.url.replace(/\/+$/, '');
      const url = output.streamKey ? `${base}/${output.streamKey}` : base;
      return { url, format: 'flv', secrets: output.streamKey ? [output.streamKey] : [] };
    }
    case 'UDP': {
      const url = new URL(output.url);
      if (!url.searchParams.has('pkt_size')) url.searchParams.set('pkt_size', '1316');
      return { url: url.toString(), format: 'mpegts', secrets: [] };
    }
    case 'NDI':
    case 'DECKLINK':
      throw new EngineError(`the ffmpeg engine cannot drive ${output.type} outputs: use ENGINE=casparcg`);
  }
}

/** Program bitrate by picture height, kbit/s: broadcast contribution quality for SRT/RTMP. */
export function programKbps(mode: VideoMode): number {
  if (mode.height <= 576) return 3000;
  if (mode.height <= 720) return 5000;
  return 8000;
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/**
 * The ffmpeg arguments that play one clip.
 * - `realtime` paces frames to the wall clock instead of `-re`: after a pause
 *   (SIGSTOP) `-re` would burst to catch up the paused time, while `realtime`
 *   with a small limit re-anchors and carries on at normal speed.
 * - `-progress pipe:1` with a short stats period reports frames as they are
 *   encoded, from which index.ts dates the clip's first frame.
 * - The HLS muxer appends to the existing playlist with a discontinuity, so
 *   the preview stays one playlist across the per-clip processes.
 * - Every clip is a CUT: this engine does not render MIX/PUSH/WIPE/SLIDE.
 */
export function clipArgs(clip: EngineClip, mode: VideoMode, target: ProgramTarget, hls: HlsSettings): string[] {
  const { width: w, height: h } = mode;
  const rate = ffmpegRate(mode);
  const gop = String(Math.round(mode.rateNum / mode.rateDen));
  const kbps = programKbps(mode);
  const previewHeight = Math.min(hls.height, h) & ~1;
  const filter =
    `[0:v:0]realtime=limit=0.2,scale=${w}:${h}:force_original_aspect_ratio=decrease,` +
    `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=${rate},format=yuv420p,split=2[pgm][pv];` +
    `[pv]scale=-2:${previewHeight}[pvs]`;
  const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', gop, '-keyint_min', gop, '-sc_threshold', '0'];
  const audio = (kbit: number) => ['-c:a', 'aac', '-b:a', `${kbit}k`, '-ar', '48000', '-ac', '2'];
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-progress', 'pipe:1', '-stats_period', '0.04',
    '-ss', seconds(clip.inPointMs), '-t', seconds(clip.durationMs), '-i', clip.file,
    '-filter_complex', filter,
    '-map', '[pgm]', '-map', '0:a:0?', ...x264,
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`, ...audio(128),
    '-f', target.format, target.url,
    '-map', '[pvs]', '-map', '0:a:0?', ...x264, '-b:v', `${hls.videoKbps}k`, ...audio(64),
    '-f', 'hls', '-hls_time', String(hls.segmentSeconds), '-hls_list_size', String(hls.listSize),
    '-hls_flags', 'delete_segments+append_list+discont_start+omit_endlist+independent_segments+temp_file',
    '-hls_segment_filename', join(hls.dir, `seg-${hls.run}-%d.ts`), join(hls.dir, 'index.m3u8'),
  ];
}

/** Replaces every secret in text (ffmpeg echoes URLs in its errors). */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}

/** Parses `-progress` output: returns the frame count when a block completes, else null. */
export class ProgressParser {
  private frame = 0;
  private rest = '';

  push(chunk: string): number[] {
    const blocks: number[] = [];
    const lines = (this.rest + chunk).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      if (key === 'frame') this.frame = Number(value) || 0;
      else if (key === 'progress') blocks.push(this.frame);
    }
    return blocks;
  }
}
