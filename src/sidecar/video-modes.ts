import { VIDEO_FORMATS, type VideoFormat, reducedRate } from '../protocol/video-formats.ts';

/**
 * A CasparCG video mode (src/protocol/video-formats.ts, shared with the
 * control plane) with its frame rate as a reduced fraction, for ffmpeg.
 * An interlaced mode is encoded progressive at its frame rate by the ffmpeg
 * engine (1080i5000 → 25 frames/s); field order matters only to SDI outputs,
 * which ffmpeg does not drive.
 */
export interface VideoMode extends VideoFormat {
  /** Frames per second as num/den (29.97 = 30000/1001). */
  rateNum: number;
  rateDen: number;
}

// What the ffmpeg engine plays: up to 1080 lines. Larger modes (1556, DCI,
// 2160) are CasparCG's: software encoding them live needs far more CPU.
const FFMPEG_MODES = [
  'PAL',
  'NTSC',
  '576p2500',
  '720p2500',
  '720p2997',
  '720p5000',
  '720p5994',
  '720p6000',
  '1080i5000',
  '1080i5994',
  '1080i6000',
  '1080p2500',
  '1080p2997',
  '1080p3000',
  '1080p5000',
  '1080p5994',
  '1080p6000',
];

/** The format with its frame rate reduced (25000/1000 → 25/1). */
export function videoModeOf(f: VideoFormat): VideoMode {
  const rate = reducedRate(f.timeScale, f.duration);
  return { ...f, rateNum: rate.num, rateDen: rate.den };
}

export const VIDEO_MODES: ReadonlyMap<string, VideoMode> = new Map(
  FFMPEG_MODES.map((name) => [name, videoModeOf(VIDEO_FORMATS.get(name) as VideoFormat)]),
);

export function frameMs(m: VideoMode): number {
  return (1000 * m.rateDen) / m.rateNum;
}

/** ffmpeg's rational spelling of the frame rate. */
export function ffmpegRate(m: VideoMode): string {
  return m.rateDen === 1 ? String(m.rateNum) : `${m.rateNum}/${m.rateDen}`;
}
