import { join } from 'node:path';
import type { SidecarOutput } from '../../../protocol/sidecar-env.ts';
import type { HlsSettings } from '../../hls.ts';
import { ffmpegRate, type VideoMode } from '../../video-modes.ts';
import { EngineError, type EngineClip } from '../engine.ts';

/**
 * Pure command building and frame arithmetic for the ffmpeg engine: one
 * long-running encoder ffmpeg per session (raw frames in on stdin and fd 3,
 * the program as MPEG-TS on stdout and the HLS preview out), a sender ffmpeg
 * that takes that MPEG-TS to the channel's output and may be restarted while
 * the encoder runs on, and one decoder ffmpeg per clip (raw frames out on
 * stdout and fd 3). Table-tested; index.ts only runs what this returns.
 */

export interface ProgramTarget {
  /** The whole URL, secrets included, for an engine that takes one string (CasparCG's STREAM consumer): never log it. */
  url: string;
  /** The URL without its secrets: all the sender's command line carries. */
  openUrl: string;
  /**
   * Protocol options the sender gets through an unlinked file (see senderOptionsFile),
   * never its command line: /proc/<pid>/cmdline is readable by every local user.
   */
  options: Record<string, string>;
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
      const openUrl = url.toString();
      if (!output.passphrase) return { url: openUrl, openUrl, options: {}, format: 'mpegts', secrets: [] };
      url.searchParams.set('passphrase', output.passphrase);
      return {
        url: url.toString(),
        openUrl,
        options: { passphrase: output.passphrase },
        format: 'mpegts',
        secrets: spellings(output.passphrase),
      };
    }
    case 'RTMP': {
      const base = output.url.replace(/\/+$/, '');
      if (!output.streamKey) return { url: base, openUrl: base, options: {}, format: 'flv', secrets: [] };
      // The key is the stream's play path: given as an option, with the application (the URL's
      // path, which may have several levels) named too so that ffmpeg does not take its last level for the key.
      const app = new URL(base).pathname.replace(/^\/+/, '');
      const options: Record<string, string> = { rtmp_playpath: output.streamKey };
      if (app) options.rtmp_app = decodeURIComponent(app);
      return { url: `${base}/${output.streamKey}`, openUrl: base, options, format: 'flv', secrets: [output.streamKey] };
    }
    case 'UDP': {
      const url = new URL(output.url);
      if (!url.searchParams.has('pkt_size')) url.searchParams.set('pkt_size', '1316');
      return { url: url.toString(), openUrl: url.toString(), options: {}, format: 'mpegts', secrets: [] };
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
/** The program's MPEG-TS PMT and video PIDs (video is the encoder's first output stream). */
export const PMT_PID = 0x1000;
export const VIDEO_PID = 0x100;
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

/**
 * Demuxers a media file may be read with. A playlist-like format (hls,
 * concat, ffconcat, image sequences) posing as media would make ffmpeg open
 * the files or URLs it names, so only single-file containers and elementary
 * streams are allowed.
 */
export const MEDIA_FORMATS = [
  'mov',
  'mp4',
  'm4a',
  '3gp',
  '3g2',
  'mj2',
  'matroska',
  'webm',
  'mpegts',
  'mxf',
  'avi',
  'mpeg',
  'mpegvideo',
  'flv',
  'wav',
  'mp3',
  'aac',
  'h264',
  'hevc',
  'png_pipe',
  'jpeg_pipe',
] as const;

/** Options that go before a media file's `-i`: local files only, allowed demuxers only. */
export function mediaInputGuard(): string[] {
  return ['-protocol_whitelist', 'file', '-format_whitelist', MEDIA_FORMATS.join(',')];
}

/** ffprobe arguments that print "audio" when the file has an audio stream. */
export function probeArgs(file: string): string[] {
  return [
    '-v',
    'error',
    ...mediaInputGuard(),
    '-select_streams',
    'a:0',
    '-show_entries',
    'stream=codec_type',
    '-of',
    'csv=p=0',
    file,
  ];
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
    ? [
        '-map',
        '0:a:0',
        '-af',
        `aresample=${SAMPLE_RATE}`,
        '-ac',
        '2',
        '-ar',
        String(SAMPLE_RATE),
        '-c:a',
        'pcm_s16le',
        '-f',
        's16le',
        'pipe:3',
      ]
    : [];
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    ...mediaInputGuard(),
    '-ss',
    seconds(clip.inPointMs),
    '-t',
    seconds(clip.durationMs),
    '-i',
    clip.file,
    '-map',
    '0:v:0',
    '-vf',
    video,
    '-fps_mode',
    'passthrough',
    '-c:v',
    'rawvideo',
    '-f',
    'rawvideo',
    'pipe:1',
    ...audio,
  ];
}

/**
 * The session's encoder ffmpeg: reads the continuous raw stream the engine
 * writes in real time (video on stdin, audio on fd 3; timestamps come from
 * frame and sample counts, so they are continuous whatever the clips were) and
 * encodes the program as MPEG-TS to stdout (the engine hands it to the sender,
 * or drops it while the output is down) and the HLS preview to files. It opens
 * no network connection, so a lost receiver never stops it; it is paced by
 * its input, so it needs no -re.
 */
export function encoderArgs(mode: VideoMode, hls: HlsSettings): string[] {
  const { width: w, height: h } = mode;
  const gop = String(Math.round(mode.rateNum / mode.rateDen));
  const kbps = programKbps(mode);
  const previewHeight = Math.min(hls.height, h) & ~1;
  const x264 = [
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-g',
    gop,
    '-keyint_min',
    gop,
    '-sc_threshold',
    '0',
  ];
  const audio = (kbit: number) => ['-c:a', 'aac', '-b:a', `${kbit}k`, '-ar', String(SAMPLE_RATE), '-ac', '2'];
  // The raw inputs are fully described here: probing them would only hold the start back until
  // a second of input is buffered (analyzeduration), so ffmpeg starts on the first frame instead.
  const raw = ['-probesize', '32', '-analyzeduration', '0', '-thread_queue_size', '64'];
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    ...raw,
    '-f',
    'rawvideo',
    '-pix_fmt',
    'yuv420p',
    '-video_size',
    `${w}x${h}`,
    '-framerate',
    ffmpegRate(mode),
    '-i',
    'pipe:0',
    ...raw,
    '-f',
    's16le',
    '-ar',
    String(SAMPLE_RATE),
    '-ac',
    '2',
    '-i',
    'pipe:3',
    '-filter_complex',
    `[0:v]setsar=1,split=2[pgm][pv];[pv]scale=-2:${previewHeight}[pvs]`,
    '-map',
    '[pgm]',
    '-map',
    '1:a',
    ...x264,
    '-b:v',
    `${kbps}k`,
    '-maxrate',
    `${kbps}k`,
    '-bufsize',
    `${kbps}k`,
    ...audio(128),
    // Small TS writes: the sender gets frames as they are made, not in 32 KiB bursts. Fixed PIDs:
    // the engine finds keyframes in the stream to start a new sender on (output-link.ts).
    '-flush_packets',
    '1',
    '-mpegts_pmt_start_pid',
    String(PMT_PID),
    '-mpegts_start_pid',
    String(VIDEO_PID),
    '-f',
    'mpegts',
    'pipe:1',
    '-map',
    '[pvs]',
    '-map',
    '1:a',
    ...x264,
    '-b:v',
    `${hls.videoKbps}k`,
    ...audio(64),
    '-f',
    'hls',
    '-hls_time',
    String(hls.segmentSeconds),
    '-hls_list_size',
    String(hls.listSize),
    '-hls_flags',
    'delete_segments+append_list+discont_start+omit_endlist+independent_segments+temp_file',
    '-hls_segment_filename',
    join(hls.dir, `seg-${hls.run}-%d.ts`),
    join(hls.dir, 'index.m3u8'),
  ];
}

/** Where the sender finds its options file: the descriptor OutputLink hands it as its fourth stdio. */
export const SENDER_OPTIONS_FD = 3;

/**
 * The sender ffmpeg: copies the encoder's MPEG-TS from stdin to the channel's
 * output, printing progress on stdout (`progress=continue` once the output is
 * open and packets flow). It holds the connection only: when the receiver goes
 * away it exits, and the engine starts another one. The URL without secrets is
 * its last argument; the output's protocol options (passphrase, stream key) it
 * reads from a preset file (`-fpre`, ffmpeg's `key=value` lines) on a descriptor.
 */
export function senderArgs(target: ProgramTarget): string[] {
  const preset = Object.keys(target.options).length > 0 ? ['-fpre', `/dev/fd/${SENDER_OPTIONS_FD}`] : [];
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    // The stream is ours and known: start on the first keyframe's parameters, not after seconds of probing.
    // It is fed from a keyframe with the PAT and PMT first (output-link.ts), so a short probe finds every stream.
    // What the probe read is sent too (no `nobuffer`, which drops it): dropped, it took the keyframe with it,
    // and the connection opened on audio with video only from the next keyframe, up to a second later.
    '-fflags',
    '+genpts',
    '-probesize',
    '100000',
    '-analyzeduration',
    '200000',
    '-f',
    'mpegts',
    '-i',
    'pipe:0',
    '-map',
    '0',
    '-c',
    'copy',
    '-flush_packets',
    '1',
    '-progress',
    'pipe:1',
    '-stats_period',
    '0.25',
    ...preset,
    '-f',
    target.format,
    target.openUrl,
  ];
}

/** The sender's preset file: one `option=value` line each (ffmpeg reads a line up to 999 characters). */
export function senderPreset(target: ProgramTarget): string | null {
  const lines = Object.entries(target.options).map(([key, value]) => {
    if (/[\r\n]/.test(value) || value.length > 900)
      throw new EngineError(`the output's ${key} cannot be handed to ffmpeg: a line break or over 900 characters`);
    return `${key}=${value}\n`;
  });
  return lines.length > 0 ? lines.join('') : null;
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
