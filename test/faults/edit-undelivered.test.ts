import { describe, expect, it } from 'vitest';
import { until } from '../helpers/until.ts';
import {
  alive,
  channelWithClips,
  expectAsRunIntact,
  report,
  startPlaying,
  useFaultRig,
  watchChannel,
} from './helpers.ts';

// An edit of the playlist on air while its sidecar does not answer (hung:
// SIGSTOP). The edit commits, but the channel airs the list it had: the
// operator is told (EDIT_NOT_APPLIED on channelEvents) as soon as the push
// fails, the push is tried again, and once the sidecar answers it is
// delivered, the alarm clears and the added item airs.
const SIDECAR_TIMEOUT_MS = 2000;
const {
  server,
  cast,
  srtPort: SRT_PORT,
} = useFaultRig(
  { 'a.mp4': 3, 'b.mp4': 3, 'added.mp4': 3 },
  {
    SIDECAR_TIMEOUT_MS: String(SIDECAR_TIMEOUT_MS),
    // Longer than the hang: no failover (whose new sidecar would load the edit anyway).
    HEARTBEAT_TIMEOUT_MS: '30000',
  },
);

describe('an edit of the playlist on air that cannot reach the sidecar', () => {
  it('raises EDIT_NOT_APPLIED, delivers the edit once the sidecar answers, clears the alarm and airs the added item', async () => {
    const { db } = server.services;
    const { channel, playlist } = await channelWithClips(server.services, cast, SRT_PORT, [
      ['a.mp4', 3000],
      ['b.mp4', 3000],
    ]);
    const added = await db.asset.create({
      data: {
        projectId: cast.home.id,
        filename: 'added.mp4',
        storageKey: 'added.mp4',
        durationMs: 3000,
        mediaStatus: 'READY',
        mediaPath: 'clips/added.mp4',
      },
    });
    const watch = await watchChannel(server.url, cast.viewer.token, server.services, channel.id, cast.home.id);
    let pid = 0;
    try {
      await startPlaying(server.gql, cast, server.services, channel.id, playlist.id);
      pid = Number((await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).sidecarRef);

      process.kill(pid, 'SIGSTOP');
      const editedAt = Date.now();
      const res = await server.gql(cast.editor.token, `mutation($i: AddItemInput!) { addItem(input: $i) { id } }`, {
        i: { playlistId: playlist.id, assetId: added.id },
      });
      // The edit is committed whatever the sidecar says.
      expect(res.errors).toBeUndefined();
      const itemId = res.data.addItem.id;
      const raised = await watch.waitFor('ALARM_RAISED', 'EDIT_NOT_APPLIED', editedAt, 20_000);
      const toldMs = raised.receivedAt - editedAt;
      // The push's own deadline, then the alarm.
      expect(toldMs).toBeLessThan(SIDECAR_TIMEOUT_MS + 2000);
      expect(raised.message).toMatch(/^EDIT_NOT_APPLIED: the edit of playlist .* has not reached the sidecar/);
      const up = await server.gql(
        cast.viewer.token,
        `query($id: ID!) { channel(id: $id) { alarms { kind message } } }`,
        { id: channel.id },
      );
      expect(up.data.channel.alarms.map((a: { kind: string }) => a.kind)).toContain('EDIT_NOT_APPLIED');

      const continuedAt = Date.now();
      process.kill(pid, 'SIGCONT');
      const cleared = await watch.waitFor('ALARM_CLEARED', 'EDIT_NOT_APPLIED', continuedAt, 30_000);
      const clearedMs = cleared.receivedAt - continuedAt;
      // The next retry (at most 4 s apart) delivers it.
      expect(clearedMs).toBeLessThan(4000 + SIDECAR_TIMEOUT_MS + 1000);
      // The added item airs: the edit reached the sidecar.
      const aired = await until(
        () => db.asRunEntry.findFirst({ where: { channelId: channel.id, itemId } }),
        'the added item on air',
        30_000,
      );
      expect(aired.status).not.toBe('FAILED');
      expect(watch.seen.filter((e) => e.kind === 'ALARM_RAISED' && e.alarm === 'EDIT_NOT_APPLIED')).toHaveLength(1);
      const now = await server.gql(
        cast.viewer.token,
        `query($id: ID!) { channel(id: $id) { status restartCount alarms { kind } } }`,
        { id: channel.id },
      );
      expect(now.data.channel).toMatchObject({ status: 'RUNNING', restartCount: 0 });
      expect(now.data.channel.alarms.map((a: { kind: string }) => a.kind)).not.toContain('EDIT_NOT_APPLIED');
      report(
        'edit on air while the sidecar is hung (SIGSTOP), woken after the alarm',
        null,
        toldMs,
        `the edit committed; ALARM_RAISED EDIT_NOT_APPLIED ("the edit of playlist … (revision n) has not reached the sidecar, which airs the list it had: …"); ALARM_CLEARED ${(clearedMs / 1000).toFixed(2)} s after SIGCONT, the added item aired`,
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
