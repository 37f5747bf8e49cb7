import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.ts';
import { item, makeMediaDir, sleep } from '../sidecar/helpers.ts';
import { Receiver } from './output-receivers.ts';
import { itemTimeline, listening, startSidecar, type SidecarProcess } from './sidecar-process.ts';
import { testPort } from '../helpers/fixtures.ts';

// A channel plays a looping two-item playlist to its receiver; the receiver
// goes away for a few seconds and comes back. Playout must not notice: items
// air on time throughout, OUTPUT_LOST is raised and cleared, and the program
// reaches the receiver again within 2 s of it listening again.
let mediaDir: string;
const ITEM_MS = 2000;

beforeAll(async () => {
  mediaDir = await makeMediaDir({ 'a.mp4': 3, 'b.mp4': 3 });
});

afterAll(async () => {
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

async function loseAndRestore(
  label: string,
  output: Record<string, unknown>,
  receiver: Receiver,
  proto: 'udp' | 'tcp',
  port: number,
) {
  let sidecar: SidecarProcess | null = null;
  try {
    receiver.start();
    await until(() => listening(proto, port), `${label} receiver listening`, 20_000);
    sidecar = await startSidecar(mediaDir, output);
    const loaded = await sidecar.call('POST', '/playlist', {
      playlistId: 'p',
      loop: true,
      items: [item('a', 'a.mp4', ITEM_MS), item('b', 'b.mp4', ITEM_MS)],
    });
    expect(loaded.status).toBe(200);
    await until(() => receiver.bytes > 50_000, `${label} program at the receiver`, 30_000);
    await sidecar.waitFor((e) => e.kind === 'ITEM_ON_AIR', 'an item on air');

    const killedAt = Date.now();
    receiver.kill();
    const raised = await sidecar.waitFor(
      (e) => e.kind === 'ALARM_RAISED' && e.alarm === 'OUTPUT_LOST',
      'OUTPUT_LOST raised',
      20_000,
    );
    const alarmAfterMs = Date.parse(raised.at) - killedAt;
    // Gone for a few seconds in all.
    await sleep(Math.max(0, killedAt + 3000 - Date.now()));
    const seqBeforeReturn = sidecar.events.at(-1)?.seq ?? 0;
    receiver.start();
    await until(() => listening(proto, port), `${label} receiver listening again`, 20_000);
    const backAt = Date.now();
    const cleared = await sidecar.waitFor(
      (e) => e.kind === 'ALARM_CLEARED' && e.alarm === 'OUTPUT_LOST' && e.seq > seqBeforeReturn,
      'OUTPUT_LOST cleared',
      20_000,
    );
    const firstData = await until(() => receiver.firstAfter(backAt), `${label} program at the receiver again`, 20_000);
    // Let two more items air after the outage.
    const endedBefore = itemTimeline(sidecar.events).ended.length;
    await until(() => itemTimeline(sidecar!.events).ended.length >= endedBefore + 2, 'two more items ended', 30_000);

    const offAirMs = firstData - (receiver.lastBefore(killedAt) ?? killedAt);
    const backAfterMs = firstData - backAt;
    const clearedAfterMs = Date.parse(cleared.at) - backAt;
    console.log(
      `[fault] ${label} receiver gone 3 s: OUTPUT_LOST in the event log ${alarmAfterMs} ms after it went; ` +
        `program back at the receiver ${backAfterMs} ms after it listened again (cleared in the log after ${clearedAfterMs} ms); off air ${offAirMs} ms in all`,
    );

    const { onAir, ended, starts } = itemTimeline(sidecar.events);
    // Every item aired once and ended once, PLAYED, back to back and on time, outage or not.
    expect(ended.map((e) => e.how)).toEqual(ended.map(() => 'PLAYED'));
    expect(new Set(onAir.map((e) => e.startedAt)).size).toBe(onAir.length);
    expect(ended.map((e) => e.startedAt)).toEqual(onAir.slice(0, ended.length).map((e) => e.startedAt));
    for (let i = 1; i < starts.length; i++)
      expect(Math.abs(starts[i] - starts[i - 1] - ITEM_MS)).toBeLessThanOrEqual(80);
    expect(ended.every((e) => Math.abs(e.durationMs - ITEM_MS) <= 80)).toBe(true);
    expect(sidecar.events.filter((e) => e.kind === 'STATE_CHANGED').map((e) => e.state)).toEqual(['PLAYING']);
    // The alarm came at once, and went once the program flowed again.
    expect(raised.message).toContain(label);
    expect(clearedAfterMs).toBeLessThanOrEqual(2000);
    expect(backAfterMs).toBeLessThanOrEqual(3000);
    const status = (await sidecar.call('GET', '/status')).body;
    expect(status.state).toBe('PLAYING');
    // ENGINE_BEHIND may be up on a loaded machine; the output alarm is gone.
    expect(status.alarms.map((a: any) => a.kind)).not.toContain('OUTPUT_LOST');
    expect(status.counters.outputReconnects).toBeGreaterThanOrEqual(1);
    // The stream key (handed to the sender outside its command line) reached the server whole.
    expect(receiver.log).not.toMatch(/Unexpected stream/);
  } finally {
    receiver.kill();
    await sidecar?.stop();
  }
}

describe('a channel whose output receiver goes away and comes back', () => {
  it('SRT: keeps playing on time, raises OUTPUT_LOST, and is back within 2 s of the receiver', async () => {
    const port = testPort();
    await loseAndRestore(
      'SRT',
      { type: 'SRT', url: `srt://127.0.0.1:${port}`, latencyMs: 120 },
      Receiver.srt(port),
      'udp',
      port,
    );
  }, 180_000);

  it('RTMP: keeps playing on time, raises OUTPUT_LOST, and is back within 2 s of the server', async () => {
    const port = testPort();
    await loseAndRestore(
      'RTMP',
      { type: 'RTMP', url: `rtmp://127.0.0.1:${port}/live`, streamKey: 'k3y-secret' },
      Receiver.rtmp(port, 'k3y-secret'),
      'tcp',
      port,
    );
  }, 180_000);
});
