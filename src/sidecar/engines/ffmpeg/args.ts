import { join } from 'node:path';
import type { SidecarOutput } from '../../../protocol/sidecar-env.ts';
import type { HlsSettings } from '../../hls.ts';
import { ffmpegRate, type VideoMode } from '../../video-modes.ts';
import { EngineError, type EngineClip } from '../engine.ts';

/**
 * Pure command building and frame arithmetic for the ffmpeg engine: one
 * long-running output ffmpeg per session (raw frames in on stdin and fd 3,
 * program and HLS preview out), and one decoder ffmpeg per clip (raw frames
 * out on stdout and fd 3). Table-tested; index.ts only runs what this returns.
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
      return { url: url.toString(), format: 'mpegts', secrets: output.passphrase ? spellings(output.passphrase) : [] };
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

/**
 * A secret as it may appear in a log line: as given, percent-encoded, and as
 * the URL's query string carries it (form encoding: a space is '+', and
 * `!'()~` are escaped), which is how ffmpeg echoes the URL it could not open.
 */
function spellings(secret: string): string[] {
  const formEncoded = new URLSearchParams({ s: secret }).toString().slice('s='.length);
  return [...new Set([secret, encodeURIComponent(secret), formEncoded])];
}

/** Program bitrate by picture height, kbit/s: broadcast contribution quality for SRT/RTMP. */
export function programKbps(mode: VideoMode): number {
  if (mode.height <= 576) return 3000;
  if (mode.height <= 720) return 5000;
  return 8000;
}

export const SAMPLE_RATE = 48000;
/** s16le stereo. */
export const BYTES_PER_SAMPLE = 4;

/** Bytes of one yuv420p frame of the mode. */
export function frameBytes(mode: VideoMode): number {
  return (mode.width * mode.height * 3) / 2;
}

/** Frames a clip of durationMs lasts at the mode's rate. */
export function framesFor(mode: VideoMode, durationMs: number): number {
  return Math.max(1, Math.round((durationMs * mode.rateNum) / (1000 * mode.rateDen)));
}

/**
 * Audio samples that go with output frame n: counted from the session start so
 * that rates like 29.97 (1601.6 samples a frame) never drift.
 */
export function samplesForFrame(mode: VideoMode, n: number): number {
  const at = (k: number) => Math.floor((k * SAMPLE_RATE * mode.rateDen) / mode.rateNum);
  return at(n + 1) - at(n);
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** ffprobe arguments that print "audio" when the file has an audio stream. */
export function probeArgs(file: string): string[] {
  return ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', file];
}

/**
 * Decodes one clip (in point, duration) to the session's common format, as
 * fast as the reader takes it: raw yuv420p frames of the mode on stdout and
 * 48 kHz stereo s16le on fd 3. The engine paces and counts the frames, so no
 * timestamps are needed; tpad adds two spare frames so a clip whose last frame
 * falls just short of the duration still fills it (the engine takes only the
 * frames the duration needs).
 */
export function decoderArgs(clip: EngineClip, mode: VideoMode, hasAudio: boolean): string[] {
  const { width: w, height: h } = mode;
  const video =
    `scale=${w}:${h}:force_original_aspect_ratio=decrease,pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2,setsar=1,` +
    `fps=${ffmpegRate(mode)},format=yuv420p,tpad=stop_mode=clone:stop=2`;
  const audio = hasAudio
    ? ['-map', '0:a:0', '-af', `aresample=${SAMPLE_RATE}`, '-ac', '2', '-ar', String(SAMPLE_RATE), '-c:a', 'pcm_s16le', '-f', 's16le', 'pipe:3']
    : [];
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-ss', seconds(clip.inPointMs), '-t', seconds(clip.durationMs), '-i', clip.file,
    '-map', '0:v:0', '-vf', video, '-fps_mode', 'passthrough', '-c:v', 'rawvideo', '-f', 'rawvideo', 'pipe:1',
    ...audio,
  ];
}

/**
 * The session's output ffmpeg: reads the continuous raw stream the engine
 * writes in real time (video on stdin, audio on fd 3; timestamps come from
 * frame and sample counts, so they are continuous whatever the clips were) and
 * encodes it to the channel's output and to the HLS preview. It is paced by
 * its input, so it needs no -re; the connection lasts the whole session.
 */
export function outputArgs(mode: VideoMode, target: ProgramTarget, hls: HlsSettings): string[] {
  const { width: w, height: h } = mode;
  const gop = String(Math.round(mode.rateNum / mode.rateDen));
  const kbps = programKbps(mode);
  const previewHeight = Math.min(hls.height, h) & ~1;
  const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', gop, '-keyint_min', gop, '-sc_threshold', '0'];
  const audio = (kbit: number) => ['-c:a', 'aac', '-b:a', `${kbit}k`, '-ar', String(SAMPLE_RATE), '-ac', '2'];
  // The raw inputs are fully described here: probing them would only hold the start back until
  // a second of input is buffered (analyzeduration), so ffmpeg starts on the first frame instead.
  const raw = ['-probesize', '32', '-analyzeduration', '0', '-thread_queue_size', '64'];
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    ...raw, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${w}x${h}`, '-framerate', ffmpegRate(mode), '-i', 'pipe:0',
    ...raw, '-f', 's16le', '-ar', String(SAMPLE_RATE), '-ac', '2', '-i', 'pipe:3',
    '-filter_complex', `[0:v]setsar=1,split=2[pgm][pv];[pv]scale=-2:${previewHeight}[pvs]`,
    '-map', '[pgm]', '-map', '1:a', ...x264,
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`, ...audio(128),
    '-f', target.format, target.url,
    '-map', '[pvs]', '-map', '1:a', ...x264, '-b:v', `${hls.videoKbps}k`, ...audio(64),
    '-f', 'hls', '-hls_time', String(hls.segmentSeconds), '-hls_list_size', String(hls.listSize),
    '-hls_flags', 'delete_segments+append_list+discont_start+omit_endlist+independent_segments+temp_file',
    '-hls_segment_filename', join(hls.dir, `seg-${hls.run}-%d.ts`), join(hls.dir, 'index.m3u8'),
  ];
}

/** A black yuv420p frame (luma 16, chroma 128): what the output shows with nothing to play. */
export function blackFrame(mode: VideoMode): Buffer {
  const luma = mode.width * mode.height;
  const frame = Buffer.alloc(frameBytes(mode), 128);
  frame.fill(16, 0, luma);
  return frame;
}

/** Replaces every secret in text (ffmpeg echoes URLs in its errors). */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}
