import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FfmpegEngine } from '../../src/sidecar/engines/ffmpeg/index.ts';
import { EventLog } from '../../src/sidecar/event-log.ts';
import { hlsSettings } from '../../src/sidecar/hls.ts';
import { Sequencer } from '../../src/sidecar/sequencer.ts';
import { VIDEO_MODES } from '../../src/sidecar/video-modes.ts';
import { until } from '../helpers/until.ts';
import { CHANNEL_ID, item, makeMediaDir } from './helpers.ts';

// A skip puts the next clip on air at once: its file was probed (ffprobe)
// when the item before it went on air, not when its decoder is needed. The
// ffprobe here takes 3 s (a busy machine, a slow volume) and notes each file it probes.
let dir: string;
let slowProbe: string;
let sequencer: Sequencer | null = null;
let engine: FfmpegEngine | null = null;

beforeAll(async () => {
  dir = await makeMediaDir({ 'a.mp4': 10, 'b.mp4': 4 });
  slowProbe = join(dir, 'slow-ffprobe');
  await writeFile(
    slowProbe,
    `#!/bin/sh\nfor last; do :; done\necho "$last" >> "${dir}/probed"\nsleep 3\nexec ffprobe "$@"\n`,
  );
  await chmod(slowProbe, 0o755);
});

afterAll(async () => {
  await sequencer?.close();
  await engine?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const probed = async () => (await readFile(join(dir, 'probed'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

describe('skip on the ffmpeg engine', () => {
  it('puts the next clip on air without waiting for its probe: it was probed when the item before it went on air, each file once', async () => {
    engine = new FfmpegEngine({
      mode: VIDEO_MODES.get('576p2500')!,
      output: { type: 'UDP', url: 'udp://127.0.0.1:9' },
      hls: hlsSettings(dir, CHANNEL_ID),
      ffprobePath: slowProbe,
    });
    await engine.start();
    const log = new EventLog();
    sequencer = new Sequencer({ engine, log, mediaDir: dir, channelId: CHANNEL_ID });
    await sequencer.load({
      playlistId: 'p1',
      loop: false,
      items: [
        { ...item('A', 'a.mp4', 10_000), transition: 'CUT' },
        { ...item('B', 'b.mp4', 4000), transition: 'CUT' },
      ],
    });
    const onAir = (id: string) => log.after(0).find((e) => e.kind === 'ITEM_ON_AIR' && e.itemId === id);
    await until(() => onAir('A'), 'A on air', 30_000);
    // B's file probed in the background as soon as A went on air.
    await until(async () => (await probed()).some((f) => f.endsWith('b.mp4')), 'b.mp4 probed', 15_000);
    await new Promise((r) => setTimeout(r, 3500));

    const skippedAt = Date.now();
    await sequencer.skip();
    const b = await until(() => onAir('B'), 'B on air', 15_000);
    const lateMs = Date.parse((b as { startedAt: string }).startedAt) - skippedAt;
    console.log(`B on air ${lateMs} ms after the skip`);
    // Under the 3 s its probe alone would take: the decoder's start and a frame or two (slack for a loaded machine).
    expect(lateMs).toBeLessThan(2500);
    expect((await probed()).sort()).toEqual([join(dir, 'clips/a.mp4'), join(dir, 'clips/b.mp4')]);
  }, 60_000);
});
