import { afterAll, describe, expect, it } from 'vitest';
import { testPort } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';
import {
  channelWithClips,
  expectAsRunIntact,
  expectSidecarLogRecorded,
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
import { itemTimeline, listening, processText } from './sidecar-process.ts';

// The encoder ffmpeg of a channel started through onair is killed (out of
// memory, a crash): the sidecar starts another while the clock runs on, and the
// program reaches the receiver again. The new encoder's stream needs a new
// sender, so the operator sees OUTPUT_LOST raised and cleared; the channel is
// not failed over and the as-run log has each item once, PLAYED.
const ITEM_MS = 2000;
const rig = useFaultRig({ 'a.mp4': 3, 'b.mp4': 3 });
const { server, cast } = rig;
let receiver: Receiver | null = null;

afterAll(() => receiver?.kill());

describe('a channel whose encoder ffmpeg dies', () => {
  it('starts another, keeps items on time, and the program flows again', async () => {
    const port = testPort();
    receiver = Receiver.srt(port);
    receiver.start();
    await until(() => listening('udp', port), 'SRT receiver listening', 20_000);
    const { channel, playlist } = await channelWithClips(server.services, cast, port, [
      ['a.mp4', ITEM_MS],
      ['b.mp4', ITEM_MS],
    ]);
    const watch = await watchChannel(server.url, cast.viewer.token, server.services, channel.id, cast.home.id);
    try {
      await startPlaying(server.gql, cast, server.services, channel.id, playlist.id);
      const playingAt = Date.now();
      const sidecar = await followSidecar(server.services, channel.id);
      await until(() => receiver!.bytes > 50_000, 'program at the receiver', 60_000);
      const pids = await processTree(sidecar.pid);
      let encoder = 0;
      for (const pid of pids) {
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
      // The new encoder's stream needs a new sender: the old one is killed (OUTPUT_LOST). What
      // reaches the receiver after that comes from the new encoder.
      const lost = await sidecar.waitFor(
        (e) => e.kind === 'ALARM_RAISED' && e.alarm === 'OUTPUT_LOST' && e.seq > restart.seq,
        'OUTPUT_LOST for the new sender',
      );
      const back = await until(
        () => receiver!.firstAfter(Date.parse(lost.at)),
        'program at the receiver again',
        30_000,
      ).catch(async (err) => {
        throw new Error(
          `${err.message}: ${sidecar.events
            .filter((e) => e.kind === 'ERROR' || e.alarm)
            .map((e) => `${e.at} ${e.kind} ${e.alarm ?? ''} ${e.message ?? ''}`)
            .join('\n')}`,
        );
      });
      const raised = await watch.waitFor('ALARM_RAISED', 'OUTPUT_LOST', killedAt, 30_000);
      const cleared = await watch
        .waitFor('ALARM_CLEARED', 'OUTPUT_LOST', raised.receivedAt, 30_000)
        .catch(async (err) => {
          throw explain(err, await sidecar.refresh(), watch.seen);
        });
      const endedThen = itemTimeline(await sidecar.refresh()).ended.length;
      await sidecar.waitFor(() => itemTimeline(sidecar.events).ended.length >= endedThen + 2, 'two more items', 60_000);
      console.log(
        `[fault] encoder killed: program at the receiver again ${back - killedAt} ms later; OUTPUT_LOST on channelEvents ` +
          `${raised.receivedAt - killedAt} ms after the kill, cleared ${cleared.receivedAt - killedAt} ms after`,
      );

      const { ended, starts } = itemTimeline(sidecar.events);
      expect(ended.map((e) => e.how)).toEqual(ended.map(() => 'PLAYED'));
      for (let i = 1; i < starts.length; i++)
        expect(Math.abs(starts[i] - starts[i - 1] - ITEM_MS)).toBeLessThanOrEqual(80);
      expect(sidecar.events.filter((e) => e.kind === 'STATE_CHANGED').map((e) => e.state)).toEqual(['PLAYING']);
      // The operator heard each OUTPUT_LOST change the sidecar logged, the last a clear.
      const logged = sidecar.events.filter((e) => e.alarm === 'OUTPUT_LOST').map((e) => e.kind);
      expect(logged.at(-1)).toBe('ALARM_CLEARED');
      await until(
        () => alarmKinds(watch.seen, 'OUTPUT_LOST').length >= logged.length,
        'every OUTPUT_LOST change heard',
      );
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
      await watch.close();
    }
  }, 240_000);
});
