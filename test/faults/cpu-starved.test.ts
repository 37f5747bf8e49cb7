import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.ts';
import {
  channelWithClips,
  expectAsRunIntact,
  expectSidecarLogRecorded,
  sidecarStatus,
  startPlaying,
  useFaultRig,
  watchChannel,
} from './helpers.ts';
import {
  alarmKinds,
  asRunOf,
  expectEachAiredOnce,
  expectStillRunning,
  followSidecar,
  processTree,
  stopAndExpectNoneLeft,
} from './operator-view.ts';
import { itemTimeline } from './sidecar-process.ts';

// Both cores kept busy for 10 s while a channel started through onair plays:
// playout goes on, items air on time, frames may be dropped (ENGINE_BEHIND)
// but nothing fails or stops. The control plane (API, workers, this test) is
// starved as much as the sidecar: the channel must not be failed over, and the
// operator hears each ENGINE_BEHIND raised and cleared as the sidecar logged it.
const ITEM_MS = 2000;
const rig = useFaultRig({ 'a.mp4': 3, 'b.mp4': 3 });
const { server, cast, srtPort } = rig;
const hogs: ChildProcess[] = [];

afterAll(() => {
  for (const h of hogs) if (h.exitCode === null) h.kill('SIGKILL');
});

describe('a channel on a machine whose cores are all busy', () => {
  it('keeps playing on time for 10 s of full load, dropping frames rather than failing, and clears ENGINE_BEHIND after', async () => {
    const { channel, playlist } = await channelWithClips(server.services, cast, srtPort, [
      ['a.mp4', ITEM_MS],
      ['b.mp4', ITEM_MS],
    ]);
    const watch = await watchChannel(server.url, cast.viewer.token, server.services, channel.id, cast.home.id);
    try {
      await startPlaying(server.gql, cast, server.services, channel.id, playlist.id);
      const playingAt = Date.now();
      const sidecar = await followSidecar(server.services, channel.id);
      const pids = await processTree(sidecar.pid);
      const before = (await sidecarStatus(server.services, channel.id)).counters!.framesDropped;
      for (let i = 0; i < 2; i++) hogs.push(spawn(process.execPath, ['-e', 'for(;;);'], { stdio: 'ignore' }));
      await sleep(10_000);
      for (const h of hogs) h.kill('SIGKILL');
      const freedAt = Date.now();
      const endedAtFree = itemTimeline(await sidecar.refresh()).ended.length;
      await sidecar
        .waitFor(() => itemTimeline(sidecar.events).ended.length >= endedAtFree + 2, 'two items after the load', 60_000)
        .catch((err) => {
          throw new Error(
            `${err.message}: ${sidecar.events.map((e) => `${e.at} ${e.kind} ${e.itemId ?? e.alarm ?? e.state ?? ''} ${e.how ?? ''} ${e.reason ?? e.message ?? ''}`).join('\n')}`,
          );
        });
      // ENGINE_BEHIND, if it was raised, goes once playout keeps up again.
      const up = () => sidecar.events.filter((e) => e.alarm === 'ENGINE_BEHIND').at(-1)?.kind === 'ALARM_RAISED';
      await sidecar.waitFor(() => !up(), 'ENGINE_BEHIND cleared', 120_000);

      const status = await sidecarStatus(server.services, channel.id);
      const behind = sidecar.events.filter((e) => e.alarm === 'ENGINE_BEHIND');
      const lastCleared = behind.filter((e) => e.kind === 'ALARM_CLEARED').at(-1);
      // What the operator heard: every raise and clear the sidecar logged, in order, the last a clear.
      await until(
        () => alarmKinds(watch.seen, 'ENGINE_BEHIND').length >= behind.length,
        'every ENGINE_BEHIND change on channelEvents',
      );
      const heard = alarmKinds(watch.seen, 'ENGINE_BEHIND');
      expect(heard).toEqual(behind.map((e) => e.kind));
      const heardCleared = watch.seen.filter((e) => e.alarm === 'ENGINE_BEHIND' && e.kind === 'ALARM_CLEARED').at(-1);
      console.log(
        `[fault] both cores busy 10 s: ${status.counters!.framesDropped - before} frames dropped; ENGINE_BEHIND raised ` +
          `${behind.filter((e) => e.kind === 'ALARM_RAISED').length} time(s) in the run` +
          (lastCleared
            ? `, last cleared ${Date.parse(lastCleared.at) - freedAt} ms after the load ended ` +
              `(on channelEvents ${heardCleared!.receivedAt - freedAt} ms after)`
            : ''),
      );
      const { ended, starts } = itemTimeline(sidecar.events);
      expect(ended.map((e) => `${e.itemId} ${e.how}`)).toEqual(ended.map((e) => `${e.itemId} PLAYED`));
      for (let i = 1; i < starts.length; i++)
        expect(Math.abs(starts[i] - starts[i - 1] - ITEM_MS)).toBeLessThanOrEqual(80);
      expect(sidecar.events.filter((e) => e.kind === 'STATE_CHANGED').map((e) => e.state)).toEqual(['PLAYING']);
      expect(status.state).toBe('PLAYING');
      expect(sidecar.events.filter((e) => e.kind === 'ERROR')).toEqual([]);

      // The as-run log as the API gives it: each aired item once, PLAYED (the one on air still open).
      expect(await expectSidecarLogRecorded(server.services, channel.id)).toBeGreaterThan(10);
      const rows = await asRunOf(server, cast, channel.id);
      expectEachAiredOnce(rows, await sidecar.refresh());
      expect(rows.filter((r) => r.endedAt).map((r) => r.status)).toEqual(
        rows.filter((r) => r.endedAt).map(() => 'PLAYED'),
      );
      await expectStillRunning(server, cast, channel.id, watch.seen, playingAt);

      await stopAndExpectNoneLeft(server, cast, channel.id, pids, rig.volume);
      await expectAsRunIntact(server.services, channel.id);
    } finally {
      await watch.close();
    }
  }, 240_000);
});
