import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/until.ts';
import {
  alive,
  channelWithClips,
  expectAsRunIntact,
  expectSidecarLogRecorded,
  report,
  startPlaying,
  useFaultRig,
  watchChannel,
} from './helpers.ts';

// A sidecar hung, not dead (SIGSTOP): its port still accepts connections, so
// only a deadline tells. The control plane's health check (HUNG_MS) raises
// SIDECAR_UNREACHABLE within about 2.5 s, long before the event poll's own
// timeout (EVENTS_WAIT_MS plus SIDECAR_TIMEOUT_MS, 11 s here); once SIGCONT
// wakes it, the alarm clears. Resumed within the heartbeat timeout, it is not
// failed over (a sidecar starved of CPU for a moment must not be killed), and
// the as-run log is whole.
const {
  server,
  cast,
  srtPort: SRT_PORT,
} = useFaultRig(
  { 'a.mp4': 3, 'b.mp4': 3 },
  {
    // Longer than the hang: this test is about telling the operator, not failover (sidecar-kill.test.ts).
    HEARTBEAT_TIMEOUT_MS: '20000',
  },
);

describe('a sidecar hung (SIGSTOP) during playout', () => {
  it('raises SIDECAR_UNREACHABLE within about 2.5 s, clears it once the sidecar runs again, fails nothing over, and keeps the as-run log whole', async () => {
    const { db } = server.services;
    const { channel, playlist } = await channelWithClips(server.services, cast, SRT_PORT, [
      ['a.mp4', 3000],
      ['b.mp4', 3000],
    ]);
    const watch = await watchChannel(server.url, cast.viewer.token, server.services, channel.id, cast.home.id);
    let pid = 0;
    try {
      await startPlaying(server.gql, cast, server.services, channel.id, playlist.id);
      await until(
        () => db.asRunEntry.findFirst({ where: { channelId: channel.id, endedAt: null } }),
        'the first item recorded on air',
        60_000,
      );
      pid = Number((await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).sidecarRef);

      const stoppedAt = Date.now();
      process.kill(pid, 'SIGSTOP');
      const raised = await watch.waitFor('ALARM_RAISED', 'SIDECAR_UNREACHABLE', stoppedAt, 20_000);
      const toldMs = raised.receivedAt - stoppedAt;
      // A check a second, each given 1.5 s; slack for a loaded two-core machine.
      expect(toldMs).toBeLessThan(4000);
      expect(raised.message).toMatch(/^SIDECAR_UNREACHABLE: the sidecar \d+ does not answer$/);
      const engine = await server.gql(
        cast.viewer.token,
        `query($id: ID!) { channel(id: $id) { status alarms { kind } engine { reachable } } }`,
        { id: channel.id },
      );
      expect(engine.data.channel).toMatchObject({ status: 'RUNNING', engine: { reachable: false } });
      expect(engine.data.channel.alarms.map((a: { kind: string }) => a.kind)).toContain('SIDECAR_UNREACHABLE');

      await sleep(1000);
      const continuedAt = Date.now();
      process.kill(pid, 'SIGCONT');
      const cleared = await watch.waitFor('ALARM_CLEARED', 'SIDECAR_UNREACHABLE', continuedAt, 20_000);
      const clearedMs = cleared.receivedAt - continuedAt;
      expect(clearedMs).toBeLessThan(3000);
      // Items go on airing and are recorded after the wake-up.
      const entries = await db.asRunEntry.count({ where: { channelId: channel.id } });
      await until(
        () => db.asRunEntry.count({ where: { channelId: channel.id } }).then((n) => n > entries),
        'the next item recorded after the wake-up',
        30_000,
      );
      const row = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
      // The events first: a failover's message says what caused it.
      expect(watch.seen.filter((e) => ['HEARTBEAT_LOST', 'FAILOVER'].includes(e.kind))).toEqual([]);
      expect(row).toMatchObject({ status: 'RUNNING', restartCount: 0, sidecarRef: String(pid) });
      expect(watch.seen.filter((e) => e.kind === 'ALARM_RAISED' && e.alarm === 'SIDECAR_UNREACHABLE')).toHaveLength(1);
      expect(await expectSidecarLogRecorded(server.services, channel.id)).toBeGreaterThan(0);
      report(
        'sidecar hung (SIGSTOP), woken after the alarm plus 1 s',
        null,
        toldMs,
        `ALARM_RAISED SIDECAR_UNREACHABLE ("the sidecar … does not answer"), engine reachable: false; ALARM_CLEARED ${(clearedMs / 1000).toFixed(2)} s after SIGCONT; no failover, as-run whole`,
      );

      expect(
        (await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channel.id}") { status } }`)).data
          .stopChannel.status,
      ).toBe('STOPPED');
      await expectAsRunIntact(server.services, channel.id);
      await until(() => !alive(pid), 'no sidecar process left');
    } finally {
      if (pid && alive(pid)) process.kill(pid, 'SIGCONT');
      await watch.close();
    }
  }, 180_000);
});
