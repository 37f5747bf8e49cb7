import { join } from 'node:path';
import type { SidecarOutput } from '../../../protocol/sidecar-env.ts';
import type { HlsSettings } from '../../hls.ts';
import type { VideoMode } from '../../video-modes.ts';
import { EngineError } from '../engine.ts';
import { programKbps, programTarget } from '../ffmpeg/args.ts';
import { framesPerSecond, quote } from './commands.ts';

/**
 * The channel's outputs as CasparCG consumers: what follows `ADD <channel>-<index>`.
 * Pure; table-tested.
 *
 * Indices are explicit so that REMOVE finds exactly what ADD put there (an
 * ffmpeg consumer's own index is a hash of its URL, NDI's is always 900).
 * They sit clear of the intrinsic ones (DeckLink 300+n, NDI 900, ffmpeg 100000+).
 */
export const PROGRAM_INDEX = 700;
export const PREVIEW_INDEX = 701;

export interface ConsumerSpec {
  index: number;
  /** The ADD parameters, secrets included: for the server only, never logged (see secrets). */
  params: string;
  /** Strings to scrub from anything logged or reported about this consumer. */
  secrets: string[];
  /** What logs and errors may say about it. */
  label: string;
}

/**
 * The ffmpeg consumer (STREAM) parses its options with the regex
 * `-(NAME)(\s+(VALUE))?`: values cannot hold spaces, every option needs a
 * value, per-stream options take `:v`/`:a`, and the muxer is `-format`
 * (`-f` crashed 2.3). Unsuffixed options go to the muxer.
 */
function streamOptions(mode: VideoMode, kbps: number, extra: string[] = []): string {
  const gop = String(framesPerSecond(mode));
  return [
    '-codec:v',
    'libx264',
    '-preset:v',
    'veryfast',
    '-tune:v',
    'zerolatency',
    '-g:v',
    gop,
    '-keyint_min:v',
    gop,
    '-b:v',
    `${kbps}k`,
    '-maxrate:v',
    `${kbps}k`,
    '-bufsize:v',
    `${kbps * 2}k`,
    ...extra,
  ].join(' ');
}

/** The program output: DeckLink device n, NDI source name, or an SRT/RTMP (or UDP) stream. */
export function programConsumer(output: SidecarOutput, mode: VideoMode): ConsumerSpec {
  switch (output.type) {
    case 'DECKLINK':
      // Device indexes are 1-based on both sides; embedded audio puts the programme sound on the SDI.
      return {
        index: PROGRAM_INDEX,
        params: `DECKLINK ${output.deviceIndex} EMBEDDED_AUDIO`,
        secrets: [],
        label: `DECKLINK ${output.deviceIndex}`,
      };
    case 'NDI':
      return {
        index: PROGRAM_INDEX,
        params: `NDI NAME ${quote(output.name)}`,
        secrets: [],
        label: `NDI ${output.name}`,
      };
    case 'SRT':
    case 'RTMP':
    case 'UDP': {
      // The same URL (latency, passphrase, stream key) the ffmpeg engine would open.
      const target = programTarget(output);
      const audio = ['-codec:a', 'aac', '-b:a', '128k'];
      const params = `STREAM ${quote(target.url)} -format ${target.format} ${streamOptions(mode, programKbps(mode), audio)}`;
      // A query string encodes a space as '+': that spelling of a passphrase is a secret too.
      const raw = output.type === 'SRT' ? output.passphrase : output.type === 'RTMP' ? output.streamKey : null;
      const formEncoded = raw ? [new URLSearchParams({ s: raw }).toString().slice(2)] : [];
      const secrets = [...new Set([...target.secrets, ...formEncoded])];
      return { index: PROGRAM_INDEX, params, secrets, label: `${output.type} ${output.url}` };
    }
  }
}

/**
 * The operators' preview: a small HLS rendition written by an ffmpeg consumer
 * into live/<channel>/ on the media volume, where the API serves it. The hls
 * muxer opens its files itself, from the path as given (CasparCG joins a
 * relative one to its media folder only to create the folder), so the path
 * must be absolute as the server sees it. Segment names carry `run`, new at
 * each ADD: the API serves segments as immutable, and a consumer added again
 * after a server restart starts numbering from 0.
 */
export function previewConsumer(mode: VideoMode, hls: HlsSettings, serverDir: string, run: string): ConsumerSpec {
  const segments = join(serverDir, `seg-${run}-%d.ts`);
  if (/\s/.test(segments)) {
    throw new EngineError(
      'the preview folder on the CasparCG side contains spaces, which ffmpeg consumer options cannot carry: set CASPARCG_MEDIA_DIR to a path without spaces',
    );
  }
  const height = Math.min(hls.height, mode.height) & ~1;
  const filter = `${mode.interlaced ? 'yadif,' : ''}scale=-2:${height}`;
  const params = [
    'STREAM',
    quote(join(serverDir, 'index.m3u8')),
    '-format',
    'hls',
    '-hls_time',
    String(hls.segmentSeconds),
    '-hls_list_size',
    String(hls.listSize),
    '-hls_flags',
    'delete_segments+append_list+discont_start+omit_endlist+independent_segments+temp_file',
    '-hls_segment_filename',
    segments,
    streamOptions(mode, hls.videoKbps, ['-filter:v', filter, '-codec:a', 'aac', '-b:a', '64k']),
  ].join(' ');
  return { index: PREVIEW_INDEX, params, secrets: [], label: 'HLS preview' };
}
