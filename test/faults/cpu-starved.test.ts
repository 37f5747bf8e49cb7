import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.ts';
import { item, makeMediaDir, sleep } from '../sidecar/helpers.ts';
import { itemTimeline, startSidecar, type SidecarProcess } from './sidecar-process.ts';

// Both cores kept busy for 10 s while a channel plays: playout goes on, items
// air on time, frames may be dropped (ENGINE_BEHIND) but nothing fails or stops.
const ITEM_MS = 2000;
let mediaDir: string;
let sidecar: SidecarProcess | null = null;
const hogs: ChildProcess[] = [];

beforeAll(async () => {
  mediaDir = await makeMediaDir({ 'a.mp4': 3, 'b.mp4': 3 });
});

afterAll(async () => {
  for (const h of hogs) if (h.exitCode === null) h.kill('SIGKILL');
  await sidecar?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

describe('a channel on a machine whose cores are all busy', () => {
  it('keeps playing on time for 10 s of full load, dropping frames rather than failing, and clears ENGINE_BEHIND after', async () => {
    sidecar = await startSidecar(mediaDir, { type: 'UDP', url: 'udp://127.0.0.1:9' });
    const items = [item('a', 'a.mp4', ITEM_MS), item('b', 'b.mp4', ITEM_MS)];
    expect((await sidecar.call('POST', '/playlist', { playlistId: 'p', loop: true, items })).status).toBe(200);
    await sidecar.waitFor((e) => e.kind === 'ITEM_ON_AIR', 'an item on air', 60_000);
    const before = (await sidecar.call('GET', '/status')).body.counters.framesDropped;
    for (let i = 0; i < 2; i++) hogs.push(spawn(process.execPath, ['-e', 'for(;;);'], { stdio: 'ignore' }));
    await sleep(10_000);
    for (const h of hogs) h.kill('SIGKILL');
    const freedAt = Date.now();
    const endedAtFree = itemTimeline(sidecar.events).ended.length;
    await until(
      () => itemTimeline(sidecar!.events).ended.length >= endedAtFree + 2,
      'two items after the load',
      60_000,
    ).catch((err) => {
      throw new Error(
        `${err.message}: ${sidecar!.events.map((e) => `${e.at} ${e.kind} ${e.itemId ?? e.alarm ?? e.state ?? ''} ${e.how ?? ''} ${e.reason ?? e.message ?? ''}`).join('\n')}`,
      );
    });
    // ENGINE_BEHIND, if it was raised, goes once playout keeps up again.
    const up = () => sidecar!.events.filter((e) => e.alarm === 'ENGINE_BEHIND').at(-1)?.kind === 'ALARM_RAISED';
    await until(() => !up(), 'ENGINE_BEHIND cleared', 120_000);

    const status = (await sidecar.call('GET', '/status')).body;
    const behind = sidecar.events.filter((e) => e.alarm === 'ENGINE_BEHIND');
    const lastCleared = behind.filter((e) => e.kind === 'ALARM_CLEARED').at(-1);
    console.log(
      `[fault] both cores busy 10 s: ${status.counters.framesDropped - before} frames dropped; ENGINE_BEHIND raised ` +
        `${behind.filter((e) => e.kind === 'ALARM_RAISED').length} time(s) in the run` +
        (lastCleared ? `, last cleared ${Date.parse(lastCleared.at) - freedAt} ms after the load ended` : ''),
    );
    const { ended, starts } = itemTimeline(sidecar.events);
    expect(ended.map((e) => `${e.itemId} ${e.how}`)).toEqual(ended.map((e) => `${e.itemId} PLAYED`));
    for (let i = 1; i < starts.length; i++)
      expect(Math.abs(starts[i] - starts[i - 1] - ITEM_MS)).toBeLessThanOrEqual(80);
    expect(sidecar.events.filter((e) => e.kind === 'STATE_CHANGED').map((e) => e.state)).toEqual(['PLAYING']);
    expect(status.state).toBe('PLAYING');
    expect(sidecar.events.filter((e) => e.kind === 'ERROR')).toEqual([]);
  }, 240_000);
});
