import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.ts';
import { item, makeMediaDir } from '../sidecar/helpers.ts';
import { Receiver } from './output-receivers.ts';
import {
  descendants,
  itemTimeline,
  listening,
  processText,
  startSidecar,
  type SidecarProcess,
} from './sidecar-process.ts';
import { testPort } from '../helpers/fixtures.ts';

// The encoder ffmpeg of a playing channel is killed (out of memory, a crash):
// the sidecar starts another while the clock runs on, and the program reaches
// the receiver again.
const ITEM_MS = 2000;
let mediaDir: string;
let sidecar: SidecarProcess | null = null;
let receiver: Receiver | null = null;

beforeAll(async () => {
  mediaDir = await makeMediaDir({ 'a.mp4': 3, 'b.mp4': 3 });
});

afterAll(async () => {
  receiver?.kill();
  await sidecar?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

describe('a channel whose encoder ffmpeg dies', () => {
  it('starts another, keeps items on time, and the program flows again', async () => {
    const port = testPort();
    receiver = Receiver.srt(port);
    receiver.start();
    await until(() => listening('udp', port), 'SRT receiver listening', 20_000);
    sidecar = await startSidecar(mediaDir, { type: 'SRT', url: `srt://127.0.0.1:${port}`, latencyMs: 120 });
    const items = [item('a', 'a.mp4', ITEM_MS), item('b', 'b.mp4', ITEM_MS)];
    expect((await sidecar.call('POST', '/playlist', { playlistId: 'p', loop: true, items })).status).toBe(200);
    await until(() => receiver!.bytes > 50_000, 'program at the receiver', 60_000);
    let encoder = 0;
    for (const pid of await descendants(sidecar.proc.pid!)) {
      const text = await processText(pid);
      if (text?.cmdline.includes(' -f rawvideo ') && text.cmdline.includes(' -i pipe:0 ')) encoder = pid;
    }
    expect(encoder).toBeGreaterThan(0);
    const killedAt = Date.now();
    process.kill(encoder, 'SIGKILL');
    const restart = await sidecar.waitFor(
      (e) => e.kind === 'ERROR' && /encoder ffmpeg exited SIGKILL.*starting it again/.test(e.message),
      'the restart in the event log',
    );
    // What reaches the receiver after the sidecar saw the encoder die comes from the new one.
    const back = await until(
      () => receiver!.firstAfter(Date.parse(restart.at)),
      'program at the receiver again',
      30_000,
    ).catch(async (err) => {
      const status = (await sidecar!.call('GET', '/status')).body;
      throw new Error(
        `${err.message}: ${JSON.stringify(status.alarms)} ${JSON.stringify(status.counters)} ${sidecar!.events
          .filter((e) => e.kind === 'ERROR' || e.alarm)
          .map((e) => `${e.at} ${e.kind} ${e.alarm ?? ''} ${e.message ?? ''}`)
          .join('\n')}`,
      );
    });
    const endedThen = itemTimeline(sidecar.events).ended.length;
    await until(() => itemTimeline(sidecar!.events).ended.length >= endedThen + 2, 'two more items', 60_000);
    console.log(`[fault] encoder killed: program at the receiver again ${back - killedAt} ms later`);

    const { ended, starts } = itemTimeline(sidecar.events);
    expect(ended.map((e) => e.how)).toEqual(ended.map(() => 'PLAYED'));
    for (let i = 1; i < starts.length; i++)
      expect(Math.abs(starts[i] - starts[i - 1] - ITEM_MS)).toBeLessThanOrEqual(80);
    expect(sidecar.events.filter((e) => e.kind === 'STATE_CHANGED').map((e) => e.state)).toEqual(['PLAYING']);
  }, 240_000);
});
