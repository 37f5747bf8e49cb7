import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { TEST_PG_URL } from '../helpers/database.ts';
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

// Every PostgreSQL connection of onair (API pool, workers, the route listener)
// terminated during playout, as a database restart or failover does: onair
// recovers without a restart of its own, the channel stays on air, and the
// as-run log written meanwhile loses and doubles nothing (the sidecar keeps
// its events until they are read). Only this test's database's connections
// are terminated.
const {
  server,
  cast,
  srtPort: SRT_PORT,
} = useFaultRig(
  { 'a.mp4': 4, 'b.mp4': 4 },
  {
    // A terminated connection must not fail the channel over: the heartbeat outlives the database's blip.
    HEARTBEAT_TIMEOUT_MS: '6000',
    LOG_LEVEL: process.env.DEBUG_FAULTS ? 'warn' : 'silent',
  },
);

/** Terminates every connection to this test's database but the caller's; returns how many. */
async function terminateConnections(): Promise<number> {
  const name = new URL(server.services.config.databaseUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ ok: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    return rows.filter((r) => r.ok).length;
  } finally {
    await admin.end();
  }
}

describe("PostgreSQL's connections terminated during playout", () => {
  it('onair answers again and goes on writing the as-run log, with nothing lost or doubled, without a restart', async () => {
    const { db } = server.services;
    const { channel, playlist } = await channelWithClips(server.services, cast, SRT_PORT, [
      ['a.mp4', 4000],
      ['b.mp4', 4000],
    ]);
    const watch = await watchChannel(server.url, cast.viewer.token, server.services, channel.id, cast.home.id);
    try {
      await startPlaying(server.gql, cast, server.services, channel.id, playlist.id);
      await until(
        () => db.asRunEntry.count({ where: { channelId: channel.id } }).then((n) => n >= 1),
        'an entry',
        60_000,
      );

      const cutAt = Date.now();
      expect(await terminateConnections()).toBeGreaterThan(0);
      // The API answers again (its pool opens new connections).
      const answeredAt = await until(
        async () => {
          const res = await server
            .gql(cast.viewer.token, `query($id: ID!) { channel(id: $id) { status } }`, { id: channel.id })
            .catch(() => null);
          return res?.data?.channel?.status === 'RUNNING' ? Date.now() : null;
        },
        'the API answering',
        30_000,
      );
      // The workers write again: heartbeats, and every event the sidecar logged meanwhile, once.
      await until(
        async () =>
          ((await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).lastHeartbeatAt?.getTime() ?? 0) >
          answeredAt,
        'a heartbeat written after the cut',
        30_000,
      );
      expect(await expectSidecarLogRecorded(server.services, channel.id)).toBeGreaterThan(0);
      const row = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
      // Not failed over. (Whether ffmpeg keeps up on a busy machine is the sidecar's matter: errorMessage would say.)
      expect(row).toMatchObject({ status: 'RUNNING', restartCount: 0 });
      expect(watch.seen.filter((e) => ['HEARTBEAT_LOST', 'FAILOVER'].includes(e.kind))).toEqual([]);
      report(
        'PostgreSQL connections terminated',
        0,
        null,
        `nothing to tell: on air throughout; the API answered again after ${((answeredAt - cutAt) / 1000).toFixed(2)} s`,
      );

      const sidecarPid = Number(row.sidecarRef);
      expect(
        (await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channel.id}") { status } }`)).data
          .stopChannel.status,
      ).toBe('STOPPED');
      await expectAsRunIntact(server.services, channel.id);
      await until(() => !alive(sidecarPid), 'no sidecar process left');
    } finally {
      await watch.close();
    }
  }, 240_000);
});
