import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameFrom, frameRateOf, frameStartMs } from '../../../src/schedule/frames.ts';
import { ScheduleSchema } from '../../../src/schedule/model.ts';
import { until } from '../../helpers/until.ts';
import { makeMediaDir } from '../helpers.ts';
import { ffmpegRunner } from './rig.ts';

// A sidecar whose first frames come late (a loaded machine: its encoder slow
// to start, then the joined clip's decoder slower still) joins an event in
// progress. The join reaches air late; the segment after it must still start
// on its planned frame: the lateness stops at the joined clip.

const FORMAT = '576p2500';
const RATE = frameRateOf(FORMAT);
const FRAME_MS = 40;

let dir: string;
let rig: Awaited<ReturnType<typeof ffmpegRunner>> | null = null;

beforeAll(async () => {
  dir = await makeMediaDir({ 'a.mp4': 8, 'fill.mp4': 3 });
  // The encoder (the only ffmpeg given libx264) takes a second more to start, every probe two.
  await writeFile(
    join(dir, 'slow-ffmpeg'),
    '#!/bin/sh\ncase " $* " in *" libx264 "*) sleep 1 ;; esac\nexec ffmpeg "$@"\n',
  );
  await writeFile(join(dir, 'slow-ffprobe'), '#!/bin/sh\nsleep 2\nexec ffprobe "$@"\n');
  await chmod(join(dir, 'slow-ffmpeg'), 0o755);
  await chmod(join(dir, 'slow-ffprobe'), 0o755);
}, 60_000);

afterAll(async () => {
  await rig?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const clip = (name: string, file: string, durationMs: number) => ({
  itemId: `item-${name}`,
  assetId: `asset-${name}`,
  clipName: name,
  mediaPath: `clips/${file}`,
  durationMs,
  transition: 'CUT' as const,
  transitionMs: 0,
});

describe('a join in progress whose first frames come late (ffmpeg engine)', () => {
  it('airs the segment after the late join on its planned frame', async () => {
    rig = await ffmpegRunner(dir, FORMAT, {
      ffmpegPath: join(dir, 'slow-ffmpeg'),
      ffprobePath: join(dir, 'slow-ffprobe'),
    });
    const { runner, log, onAir } = rig;
    // In progress: 4.5 s of its 8 s left when the sidecar joins it, on the first frame 500 ms ahead.
    const t0 = Date.now() - 3500;
    const joinFrameMs = frameStartMs(frameFrom(Date.now() + 500, RATE), RATE);
    await runner.apply(
      ScheduleSchema.parse({
        version: 1,
        videoFormat: FORMAT,
        timeZone: 'UTC',
        events: [
          {
            eventId: 'h1',
            trigger: 'HARD',
            at: new Date(t0).toISOString(),
            content: { kind: 'CLIP', clip: clip('a', 'a.mp4', 8000) },
          },
        ],
        filler: [clip('fill', 'fill.mp4', 3000)],
      }),
    );
    const [joined, next] = await until(() => onAir().length >= 2 && onAir(), 'the segment after the join', 20_000);
    const plannedNext = frameStartMs(frameFrom(t0 + 8000, RATE), RATE);
    const joinedLateMs = Date.parse(joined.startedAt) - joinFrameMs;
    const nextLateMs = Date.parse(next.startedAt) - plannedNext;
    const seen = log
      .after(0)
      .map((e) => `${e.kind} ${'itemId' in e ? e.itemId : ''} at ${e.at} ${'startedAt' in e ? e.startedAt : ''}`);
    console.log(`the join reached air ${joinedLateMs} ms late; the segment after it ${nextLateMs} ms from its frame`);
    // The join was late (the engine's first frames came late): what this test is about.
    expect(joined).toMatchObject({ itemId: 'item-a', schedule: { eventId: 'h1' } });
    expect(joinedLateMs).toBeGreaterThanOrEqual(200);
    // The filler after it on its planned frame, the joined clip cut there.
    expect(next).toMatchObject({
      itemId: 'item-fill',
      schedule: { plannedStartAt: new Date(plannedNext).toISOString() },
    });
    expect(Math.abs(nextLateMs), seen.join('\n')).toBeLessThanOrEqual(FRAME_MS);
    const ended = await until(
      () => log.after(0).find((e) => e.kind === 'ITEM_ENDED' && e.itemId === 'item-a'),
      'the joined clip ended',
    );
    expect(ended).toMatchObject({ how: 'TRUNCATED', endedAt: next.startedAt });
  }, 60_000);
});
