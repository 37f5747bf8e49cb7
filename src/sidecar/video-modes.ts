/**
 * The CasparCG video modes this sidecar can play, with what the ffmpeg engine
 * needs: size and frame rate. Kept here rather than imported from the control
 * plane's domain: the sidecar image ships only sidecar/ and protocol/.
 * An interlaced mode is encoded progressive at its frame rate by the ffmpeg
 * engine (1080i5000 → 25 frames/s); field order matters only to SDI outputs,
 * which ffmpeg does not drive.
 */
export interface VideoMode {
  name: string;
  width: number;
  height: number;
  interlaced: boolean;
  /** Frames per second as num/den (29.97 = 30000/1001). */
  rateNum: number;
  rateDen: number;
}

const mode = (name: string, width: number, height: number, interlaced: boolean, rateNum: number, rateDen: number): VideoMode => ({
  name,
  width,
  height,
  interlaced,
  rateNum,
  rateDen,
});

const MODES: readonly VideoMode[] = [
  mode('PAL', 720, 576, true, 25, 1),
  mode('NTSC', 720, 486, true, 30000, 1001),
  mode('576p2500', 720, 576, false, 25, 1),
  mode('720p2500', 1280, 720, false, 25, 1),
  mode('720p2997', 1280, 720, false, 30000, 1001),
  mode('720p5000', 1280, 720, false, 50, 1),
  mode('720p5994', 1280, 720, false, 60000, 1001),
  mode('720p6000', 1280, 720, false, 60, 1),
  mode('1080i5000', 1920, 1080, true, 25, 1),
  mode('1080i5994', 1920, 1080, true, 30000, 1001),
  mode('1080i6000', 1920, 1080, true, 30, 1),
  mode('1080p2500', 1920, 1080, false, 25, 1),
  mode('1080p2997', 1920, 1080, false, 30000, 1001),
  mode('1080p3000', 1920, 1080, false, 30, 1),
  mode('1080p5000', 1920, 1080, false, 50, 1),
  mode('1080p5994', 1920, 1080, false, 60000, 1001),
  mode('1080p6000', 1920, 1080, false, 60, 1),
];

export const VIDEO_MODES: ReadonlyMap<string, VideoMode> = new Map(MODES.map((m) => [m.name, m]));

export function frameMs(m: VideoMode): number {
  return (1000 * m.rateDen) / m.rateNum;
}

/** ffmpeg's rational spelling of the frame rate. */
export function ffmpegRate(m: VideoMode): string {
  return m.rateDen === 1 ? String(m.rateNum) : `${m.rateNum}/${m.rateDen}`;
}
