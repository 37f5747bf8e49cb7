import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The low-latency HLS preview of a channel: MEDIA_DIR/live/<channel>/index.m3u8
 * and its segments, which the API serves (no-store) to operators.
 */
export interface HlsSettings {
  dir: string;
  /** @defaultValue 1 — seconds per segment: the preview's latency is about three of them */
  segmentSeconds: number;
  /** @defaultValue 6 — segments kept in the playlist (a short live window) */
  listSize: number;
  /** @defaultValue 180 — preview height in lines; never larger than the program */
  height: number;
  /** @defaultValue 400 — preview video bitrate, kbit/s */
  videoKbps: number;
  /**
   * Names this sidecar run's segments (`seg-<run>-<n>.ts`). The API serves
   * segments as immutable, so a name must never come back with other media
   * after a restart. @defaultValue the start time in base 36
   */
  run: string;
}

export function liveDir(mediaDir: string, channelId: string): string {
  return join(mediaDir, 'live', channelId);
}

export function hlsSettings(mediaDir: string, channelId: string, overrides: Partial<HlsSettings> = {}): HlsSettings {
  return {
    dir: liveDir(mediaDir, channelId),
    segmentSeconds: 1,
    listSize: 6,
    height: 180,
    videoKbps: 400,
    run: Date.now().toString(36),
    ...overrides,
  };
}

/**
 * Creates the preview folder and removes a previous run's playlist and
 * segments: the muxer appends to an existing playlist (so that one ffmpeg per
 * item yields one continuous preview), and a stale one would replay old media.
 */
export async function preparePreviewDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const name of await readdir(dir)) {
    if (name === 'index.m3u8' || /^seg-([0-9a-z]+-)?\d+\.ts$/.test(name) || name.endsWith('.m3u8.tmp')) {
      await rm(join(dir, name), { force: true });
    }
  }
}
