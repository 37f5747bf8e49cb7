import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { ClipListener, ClipResult, EngineClip } from '../../src/sidecar/engines/engine.ts';
import type { FfmpegEngine } from '../../src/sidecar/engines/ffmpeg/index.ts';

const run = promisify(execFile);

export const SECRET = 'test-secret-0123456789abcdefghijklmnop';
export const CHANNEL_ID = '5b1c1e64-7a49-4c1e-9d8f-2c7d3b6a9e01';

/**
 * A temp MEDIA_DIR holding 320x180 25 fps test clips (testsrc + sine), named by seconds; a clip
 * named in `colours` is that solid colour instead (ffmpeg's colour names), 720x576 so that it fills a
 * 576p frame without the engine's padding, told apart on an output by its plane means.
 */
export async function makeMediaDir(
  clips: Record<string, number>,
  colours: Record<string, string> = {},
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'onair-sidecar-'));
  await mkdir(join(dir, 'clips'), { recursive: true });
  await Promise.all(
    Object.entries(clips).map(([name, secs]) =>
      run('ffmpeg', [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        `${colours[name] ? `color=c=${colours[name]}:size=720x576` : 'testsrc=size=320x180'}:rate=25:duration=${secs}`,
        '-f',
        'lavfi',
        '-i',
        `sine=frequency=440:sample_rate=48000:duration=${secs}`,
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-g',
        '25',
        '-c:a',
        'aac',
        '-shortest',
        join(dir, 'clips', name),
      ]),
    ),
  );
  return dir;
}

export function item(id: string, file: string, durationMs: number, extra: Record<string, unknown> = {}) {
  return {
    itemId: id,
    assetId: `asset-${id}`,
    clipName: file,
    mediaPath: `clips/${file}`,
    durationMs,
    transition: 'CUT',
    transitionMs: 0,
    ...extra,
  };
}

export function client(base: string, secret = SECRET) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${secret}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
}

/** Reads events until `until` holds for the list read so far (long polling). */
export async function readEventsUntil(
  call: ReturnType<typeof client>,
  until: (events: any[]) => boolean,
  timeoutMs = 20_000,
): Promise<any[]> {
  const events: any[] = [];
  const deadline = Date.now() + timeoutMs;
  let after = 0;
  while (!until(events)) {
    if (Date.now() > deadline)
      throw new Error(
        `events never matched: ${JSON.stringify(events.map((e) => [e.kind, e.state ?? e.itemId, e.how]))}`,
      );
    const page = await call('GET', `/events?after=${after}&waitMs=2000`);
    events.push(...page.body.events);
    after = page.body.lastSeq;
  }
  return events;
}

export { sleep };

/** A clip played on the engine, as its listener saw it. */
export interface Watched {
  /** The instant of the clip's first frame, as the engine reported it. */
  onAirAt: number | null;
  /** Date.now() when onAir was called: how late after its frame's instant the engine said so. */
  calledAt: number | null;
  end: ClipResult | null;
}

/** Plays `clipsDir/file` (a cut, from its start; at `startAtMs` when given) and watches it. */
export function watchPlay(
  e: FfmpegEngine,
  clipsDir: string,
  itemId: string,
  file: string,
  durationMs: number,
  startAtMs?: number,
): Watched {
  const w: Watched = { onAirAt: null, calledAt: null, end: null };
  const clip: EngineClip = {
    itemId,
    file: join(clipsDir, file),
    inPointMs: 0,
    durationMs,
    transition: 'CUT',
    transitionMs: 0,
    startAtMs,
  };
  const listener: ClipListener = {
    onAir: (at) => {
      w.onAirAt = at;
      w.calledAt = Date.now();
    },
    onEnd: (result) => void (w.end = result),
  };
  e.play(clip, listener);
  return w;
}
