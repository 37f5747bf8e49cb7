import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { testPort } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';
import {
  channelWithClips,
  expectAsRunIntact,
  expectSidecarLogRecorded,
  type RtmpOutput,
  sidecarStatus,
  startPlaying,
  useFaultRig,
  watchChannel,
} from './helpers.ts';
import {
  alarmKinds,
  explain,
  asRunOf,
  expectEachAiredOnce,
  expectStillRunning,
  followSidecar,
  processTree,
  stopAndExpectNoneLeft,
} from './operator-view.ts';
import { Receiver } from './output-receivers.ts';
import { itemTimeline, listening } from './sidecar-process.ts';

// A channel started through onair plays a looping two-item playlist to its
// receiver; the receiver goes away for a few seconds and comes back. Playout
// must not notice: items air on time throughout, the operator sees OUTPUT_LOST
// raised and cleared on channelEvents, the channel stays RUNNING, the as-run
// log has each item once, PLAYED, and the program reaches the receiver again
// within the bound of its protocol once it listens again.
const ITEM_MS = 2000;
const rig = useFaultRig({ 'a.mp4': 3, 'b.mp4': 3 });
const { server, cast } = rig;

async function loseAndRestore(
  label: string,
  receiver: Receiver,
  proto: 'udp' | 'tcp',
  port: number,
  rtmp?: RtmpOutput,
) {
  const { channel, playlist } = await channelWithClips(
    server.services,
    cast,
    port,
    [
      ['a.mp4', ITEM_MS],
      ['b.mp4', ITEM_MS],
    ],
    rtmp,
  );
  const watch = await watchChannel(server.url, cast.viewer.token, server.services, channel.id, cast.home.id);
  try {
    receiver.start();
    await until(() => listening(proto, port), `${label} receiver listening`, 20_000);
    await startPlaying(server.gql, cast, server.services, channel.id, playlist.id);
    const playingAt = Date.now();
    const sidecar = await followSidecar(server.services, channel.id);
    const pids = await processTree(sidecar.pid);
    await until(() => receiver.bytes > 50_000, `${label} program at the receiver`, 30_000);

    const killedAt = Date.now();
    receiver.kill();
    const raised = await sidecar.waitFor(
      (e) => e.kind === 'ALARM_RAISED' && e.alarm === 'OUTPUT_LOST',
      'OUTPUT_LOST raised',
      20_000,
    );
    const told = await watch.waitFor('ALARM_RAISED', 'OUTPUT_LOST', killedAt, 20_000);
    const alarmAfterMs = Date.parse(raised.at) - killedAt;
    // Gone for a few seconds in all.
    await sleep(Math.max(0, killedAt + 3000 - Date.now()));
    const seqBeforeReturn = (await sidecar.refresh()).at(-1)?.seq ?? 0;
    receiver.start();
    await until(() => listening(proto, port), `${label} receiver listening again`, 20_000);
    const backAt = Date.now();
    const cleared = await sidecar.waitFor(
      (e) => e.kind === 'ALARM_CLEARED' && e.alarm === 'OUTPUT_LOST' && e.seq > seqBeforeReturn,
      'OUTPUT_LOST cleared',
      20_000,
    );
    const toldCleared = await watch.waitFor('ALARM_CLEARED', 'OUTPUT_LOST', backAt, 20_000).catch(async (err) => {
      throw explain(err, await sidecar.refresh(), watch.seen);
    });
    const firstData = await until(() => receiver.firstAfter(backAt), `${label} program at the receiver again`, 20_000);
    // Let two more items air after the outage.
    const endedBefore = itemTimeline(await sidecar.refresh()).ended.length;
    await sidecar.waitFor(
      () => itemTimeline(sidecar.events).ended.length >= endedBefore + 2,
      'two more items ended',
      30_000,
    );

    const offAirMs = firstData - (receiver.lastBefore(killedAt) ?? killedAt);
    const backAfterMs = firstData - backAt;
    const clearedAfterMs = Date.parse(cleared.at) - backAt;
    console.log(
      `[fault] ${label} receiver gone 3 s: OUTPUT_LOST in the event log ${alarmAfterMs} ms after it went ` +
        `(on channelEvents after ${told.receivedAt - killedAt} ms); program back at the receiver ${backAfterMs} ms ` +
        `after it listened again (cleared in the log after ${clearedAfterMs} ms, on channelEvents after ` +
        `${toldCleared.receivedAt - backAt} ms); off air ${offAirMs} ms in all`,
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
    expect(told.message).toContain(label);
    expect(clearedAfterMs).toBeLessThanOrEqual(2000);
    expect(backAfterMs).toBeLessThanOrEqual(3000);
    const status = await sidecarStatus(server.services, channel.id);
    expect(status.state).toBe('PLAYING');
    // ENGINE_BEHIND may be up on a loaded machine; the output alarm is gone.
    expect(status.alarms!.map((a) => a.kind)).not.toContain('OUTPUT_LOST');
    expect(status.counters!.outputReconnects).toBeGreaterThanOrEqual(1);
    // On its first connection and again after the outage, the receiver's 300 ms probe found the picture:
    // each connection opened on a video keyframe, not on audio ahead of it.
    expect(receiver.videoStreams.length).toBeGreaterThanOrEqual(2);
    expect(receiver.videoStreams).toEqual(receiver.videoStreams.map(() => expect.stringMatching(/, 720x576\b/)));
    // The stream key (handed to the sender outside its command line) reached the server whole.
    expect(receiver.log).not.toMatch(/Unexpected stream/);

    // What the operator saw: each OUTPUT_LOST change the sidecar logged, the last a clear; the
    // channel RUNNING throughout; each aired item once in the as-run log, PLAYED.
    const logged = sidecar.events.filter((e) => e.alarm === 'OUTPUT_LOST').map((e) => e.kind);
    expect(logged.at(-1)).toBe('ALARM_CLEARED');
    await until(() => alarmKinds(watch.seen, 'OUTPUT_LOST').length >= logged.length, 'every OUTPUT_LOST change heard');
    expect(alarmKinds(watch.seen, 'OUTPUT_LOST')).toEqual(logged);
    expect(await expectSidecarLogRecorded(server.services, channel.id)).toBeGreaterThan(4);
    const rows = await asRunOf(server, cast, channel.id);
    expectEachAiredOnce(rows, await sidecar.refresh());
    expect(rows.filter((r) => r.endedAt).map((r) => r.status)).toEqual(
      rows.filter((r) => r.endedAt).map(() => 'PLAYED'),
    );
    await expectStillRunning(server, cast, channel.id, watch.seen, playingAt);

    await stopAndExpectNoneLeft(server, cast, channel.id, [...pids, ...(await processTree(sidecar.pid))], rig.volume);
    await expectAsRunIntact(server.services, channel.id);
  } finally {
    receiver.kill();
    await watch.close();
  }
}

describe('a channel whose output receiver goes away and comes back', () => {
  it('SRT: keeps playing on time, raises OUTPUT_LOST, and is back within 2 s of the receiver', async () => {
    const port = testPort();
    await loseAndRestore('SRT', Receiver.srt(port), 'udp', port);
  }, 180_000);

  it('RTMP: keeps playing on time, raises OUTPUT_LOST, and is back within 2 s of the server', async () => {
    const port = testPort();
    const rtmp = { url: `rtmp://127.0.0.1:${port}/live`, streamKey: 'k3y-secret' };
    await loseAndRestore('RTMP', Receiver.rtmp(port, rtmp.streamKey), 'tcp', port, rtmp);
  }, 180_000);
});
