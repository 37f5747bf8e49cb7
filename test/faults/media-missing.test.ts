import { copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.ts';
import { item, makeMediaDir } from '../sidecar/helpers.ts';
import { itemTimeline, startSidecar, type SidecarProcess } from './sidecar-process.ts';

// Clips that were there when the playlist was loaded but cannot be played at
// air time: one deleted from the volume mid-playlist, one whose content is an
// HLS playlist naming a local file. Each is logged FAILED with its reason and
// MEDIA_MISSING, and the next item plays on time.
let mediaDir: string;
let sidecar: SidecarProcess | null = null;

beforeAll(async () => {
  mediaDir = await makeMediaDir({ 'a.mp4': 7, 'c.mp4': 3 });
  await copyFile(join(mediaDir, 'clips', 'a.mp4'), join(mediaDir, 'clips', 'b.mp4'));
  await writeFile(
    join(mediaDir, 'clips', 'evil.mp4'),
    '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n/etc/passwd\n#EXT-X-ENDLIST\n',
  );
});

afterAll(async () => {
  await sidecar?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

describe('media missing or unreadable at air time', () => {
  it('logs the item FAILED with its reason, raises MEDIA_MISSING naming the clip, and plays the next on time', async () => {
    sidecar = await startSidecar(mediaDir, { type: 'UDP', url: 'udp://127.0.0.1:9' });
    const items = [
      item('a', 'a.mp4', 6000),
      item('b', 'b.mp4', 2000),
      item('c', 'c.mp4', 2000),
      item('evil', 'evil.mp4', 2000),
      item('a2', 'a.mp4', 2000),
    ];
    expect((await sidecar.call('POST', '/playlist', { playlistId: 'p', loop: false, items })).status).toBe(200);
    await sidecar.waitFor((e) => e.kind === 'ITEM_ON_AIR' && e.itemId === 'a', 'a on air', 60_000);
    // Deleted while a plays, before b is cued (4 s before a ends).
    const deletedAt = Date.now();
    await rm(join(mediaDir, 'clips', 'b.mp4'));
    await sidecar.waitFor((e) => e.kind === 'STATE_CHANGED' && e.state === 'STOPPED', 'the playlist to end', 60_000);

    const { ended, onAir } = itemTimeline(sidecar.events);
    // A cued clip that fails is logged at once, before the item playing ahead of it ends.
    const order = ['a', 'b', 'c', 'evil', 'a2'];
    const byItem = [...ended].sort((x, y) => order.indexOf(x.itemId) - order.indexOf(y.itemId));
    expect(byItem.map((e) => [e.itemId, e.how])).toEqual([
      ['a', 'PLAYED'],
      ['b', 'FAILED'],
      ['c', 'PLAYED'],
      ['evil', 'FAILED'],
      ['a2', 'PLAYED'],
    ]);
    const failed = (id: string) => ended.find((e) => e.itemId === id);
    expect(failed('b').reason).toBe('media file missing from the playout volume');
    expect(failed('b').startedAt).toBeNull();
    expect(failed('evil').reason).toMatch(/^not a playable media file: its format is not allowed/);
    for (const e of ended.filter((x) => x.how === 'PLAYED')) expect(e.reason).toBeNull();
    // b failed before its turn: c airs right after a. evil fails at its turn (its decoder refuses
    // it): a2 airs within evil's slot. Neither failed item ever aired.
    const start = (id: string) => Date.parse(onAir.find((e) => e.itemId === id).startedAt);
    expect(Math.abs(start('c') - start('a') - 6000)).toBeLessThanOrEqual(80);
    expect(start('a2') - start('c')).toBeGreaterThanOrEqual(2000);
    expect(start('a2') - start('c')).toBeLessThanOrEqual(4080);
    expect(onAir.map((e) => e.itemId)).toEqual(['a', 'c', 'a2']);
    expect(failed('evil').startedAt).toBeNull();

    // The alarm names the first failed clip when raised and is cleared once a later clip played out.
    // evil's failure is raised anew when b's alarm was already cleared; when it was still up (the
    // decoder runs 4 s ahead, so on a fast machine it is) the alarm stays up, and the ERROR names it.
    const alarms = sidecar.events.filter((e) => e.alarm === 'MEDIA_MISSING').map((e) => [e.kind, e.message ?? '']);
    const pair = (clip: string, why: string) => [
      ['ALARM_RAISED', expect.stringContaining(`(${clip}) failed: ${why}`)],
      ['ALARM_CLEARED', ''],
    ];
    const bAlarm = pair('b.mp4', 'media file missing');
    const evilAlarm = pair('evil.mp4', 'not a playable media file');
    expect([bAlarm, [...bAlarm, ...evilAlarm]]).toContainEqual(alarms);
    expect(sidecar.events.filter((e) => e.kind === 'ERROR').map((e) => e.message)).toContainEqual(
      expect.stringContaining('(evil.mp4) failed: not a playable media file'),
    );
    const raised = sidecar.events.find((e) => e.kind === 'ALARM_RAISED' && e.alarm === 'MEDIA_MISSING');
    const due = Date.parse(ended.find((e) => e.itemId === 'a').endedAt);
    console.log(
      `[fault] clip deleted mid-playlist: MEDIA_MISSING in the event log ${Date.parse(raised.at) - deletedAt} ms after the deletion, ` +
        `${due - Date.parse(raised.at)} ms before the clip was due; next item aired ${start('c') - due} ms after the failed one's slot began (0 = on time)`,
    );
    const status = await until(async () => (await sidecar!.call('GET', '/status')).body, 'status');
    expect(status.alarms).toEqual([]);
    expect(JSON.stringify(sidecar.events)).not.toContain('passwd');
  }, 180_000);
});
