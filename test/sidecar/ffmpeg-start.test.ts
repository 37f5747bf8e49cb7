import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClipResult } from '../../src/sidecar/engines/engine.ts';
import { FfmpegEngine } from '../../src/sidecar/engines/ffmpeg/index.ts';
import { hlsSettings } from '../../src/sidecar/hls.ts';
import { VIDEO_MODES } from '../../src/sidecar/video-modes.ts';
import { CHANNEL_ID, makeMediaDir } from './helpers.ts';

// The output ffmpeg of a busy machine: seconds pass before it takes its first
// frame. A wrapper waits 4 s before it runs the real output ffmpeg (decoders
// run at once) and notes when it did.
let dir: string;
let slowFfmpeg: string;
let engine: FfmpegEngine | null = null;

beforeAll(async () => {
  dir = await makeMediaDir({ 'a.mp4': 2 });
  slowFfmpeg = join(dir, 'slow-ffmpeg');
  await writeFile(
    slowFfmpeg,
    `#!/bin/sh\ncase " $* " in *" -f rawvideo "*" -i pipe:0 "*) sleep 4; date +%s%3N > "${dir}/output-started";; esac\nexec ffmpeg "$@"\n`,
  );
  await chmod(slowFfmpeg, 0o755);
});

afterEach(async () => {
  await engine?.close();
  engine = null;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Plays one 1 s clip to a UDP output; resolves with when it went on air and how it ended. */
async function playOne(startTimeoutMs?: number): Promise<{ onAirAt: number | null; end: ClipResult }> {
  engine = new FfmpegEngine({
    mode: VIDEO_MODES.get('576p2500')!,
    output: { type: 'UDP', url: 'udp://127.0.0.1:9' },
    hls: hlsSettings(dir, CHANNEL_ID),
    ffmpegPath: slowFfmpeg,
    startTimeoutMs,
  });
  await engine.start();
  let onAirAt: number | null = null;
  const end = await new Promise<ClipResult>((resolve) => {
    engine!.play(
      {
        itemId: 'A',
        file: join(dir, 'clips', 'a.mp4'),
        inPointMs: 0,
        durationMs: 1000,
        transition: 'CUT',
        transitionMs: 0,
      },
      { onAir: (at) => void (onAirAt = at), onEnd: resolve },
    );
  });
  return { onAirAt, end };
}

describe('the ffmpeg engine on a machine where its output ffmpeg starts slowly', () => {
  it('waits for it: the clip airs once the encoder runs, and plays out', async () => {
    const { onAirAt, end } = await playOne();
    expect(end).toMatchObject({ ok: true });
    // Nothing of the clip went out before the encoder could take it: it was running when the clip ended, and before it aired.
    const outputStarted = await readFile(join(dir, 'output-started'), 'utf8').then(Number, () => null);
    expect(outputStarted).not.toBeNull();
    expect(onAirAt).not.toBeNull();
    expect(onAirAt!).toBeGreaterThanOrEqual(outputStarted!);
    expect(end.ok && end.endedAtMs! - onAirAt!).toBe(1000);
  }, 30_000);

  it('starts it again when it does not start within the start timeout, and gives up after three tries, saying so', async () => {
    const { onAirAt, end } = await playOne(1500);
    expect(onAirAt).toBeNull();
    expect(end).toEqual({
      ok: false,
      fatal: true,
      message:
        'encoder ffmpeg exited SIGKILL: the encoder did not catch up with real time within 1.5 s of starting (3 starts in a row failed)',
    });
  }, 30_000);
});
