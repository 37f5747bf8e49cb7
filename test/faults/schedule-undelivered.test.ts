import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.ts';
import { setScheduleFiller } from '../../src/domain/schedules/schedule-settings.ts';
import { sidecarSecretOf } from '../../src/domain/channels/channel-lifecycle.ts';
import type { SidecarClient } from '../../src/services/sidecar-client.ts';
import { until } from '../helpers/until.ts';
import { alive, channelWithClips, report, sidecarStatus, useFaultRig, watchChannel } from './helpers.ts';

// An edit of a running channel's schedule while its sidecar does not answer
// (hung: SIGSTOP). The edit commits; the sidecar runs the version it had: the
// operator is told (EDIT_NOT_APPLIED, the schedule's message) as soon as the
// push fails, it is tried again, and once the sidecar answers it runs the new
// version and the alarm clears. And an edit whose process dies between the
// commit and its push: a worker's sweep delivers the version within a second.
const SIDECAR_TIMEOUT_MS = 2000;
const {
  server,
  cast,
  srtPort: SRT_PORT,
} = useFaultRig(
  { 'filler.mp4': 3, 'prog.mp4': 3 },
  {
    SIDECAR_TIMEOUT_MS: String(SIDECAR_TIMEOUT_MS),
    // Longer than the hang: no failover (whose new sidecar would take the schedule anyway).
    HEARTBEAT_TIMEOUT_MS: '30000',
  },
);

describe('a schedule edit that cannot reach the sidecar', () => {
  it('raises EDIT_NOT_APPLIED, delivers the version once the sidecar answers and clears the alarm; emptied, hands back to manual', async () => {
    const { db } = server.services;
    const { channel, items } = await channelWithClips(server.services, cast, SRT_PORT, [
      ['filler.mp4', 3000],
      ['prog.mp4', 3000],
    ]);
    const [filler, prog] = await Promise.all(items.map((i) => db.item.findUniqueOrThrow({ where: { id: i.id } })));
    const ok = async (query: string, variables: Record<string, unknown> = {}) => {
      const res = await server.gql(cast.operator.token, query, variables);
      expect(res.errors).toBeUndefined();
      return res.data;
    };
    const watch = await watchChannel(server.url, cast.viewer.token, server.services, channel.id, cast.home.id);
    let pid = 0;
    try {
      const first = (
        await ok(`mutation($c: ID!, $a: [ID!]!) { setScheduleFiller(channelId: $c, assetIds: $a) { version } }`, {
          c: channel.id,
          a: [filler.assetId],
        })
      ).setScheduleFiller.version as number;
      await ok(`mutation { startChannel(id: "${channel.id}") { status } }`);
      await until(
        async () => (await sidecarStatus(server.services, channel.id).catch(() => null))?.schedule?.version === first,
        'the filler-only schedule on the sidecar',
      );
      pid = Number((await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).sidecarRef);

      process.kill(pid, 'SIGSTOP');
      const editedAt = Date.now();
      const added = (
        await ok(`mutation($i: AddScheduleEventInput!) { addScheduleEvent(input: $i) { version eventId } }`, {
          i: {
            channelId: channel.id,
            trigger: 'HARD',
            at: new Date(Date.now() + 120_000).toISOString(),
            assetId: prog.assetId,
          },
        })
      ).addScheduleEvent as { version: number; eventId: string };
      const edited = added.version;
      const raised = await watch.waitFor('ALARM_RAISED', 'EDIT_NOT_APPLIED', editedAt, 20_000);
      const toldMs = raised.receivedAt - editedAt;
      expect(toldMs).toBeLessThan(SIDECAR_TIMEOUT_MS + 2000);
      expect(raised.message).toMatch(
        new RegExp(`^EDIT_NOT_APPLIED: the schedule version ${edited} has not reached the sidecar`),
      );

      const continuedAt = Date.now();
      process.kill(pid, 'SIGCONT');
      const cleared = await watch.waitFor('ALARM_CLEARED', 'EDIT_NOT_APPLIED', continuedAt, 30_000);
      const clearedMs = cleared.receivedAt - continuedAt;
      // The next retry (at most 4 s apart) delivers it.
      expect(clearedMs).toBeLessThan(4000 + SIDECAR_TIMEOUT_MS + 1000);
      expect((await sidecarStatus(server.services, channel.id)).schedule?.version).toBe(edited);
      const now = await server.gql(
        cast.viewer.token,
        `query($id: ID!) { channel(id: $id) { restartCount alarms { kind } engine { schedule { version } } } }`,
        { id: channel.id },
      );
      expect(now.data.channel).toMatchObject({ restartCount: 0, engine: { schedule: { version: edited } } });
      expect(now.data.channel.alarms.map((a: { kind: string }) => a.kind)).not.toContain('EDIT_NOT_APPLIED');
      report(
        'schedule edit while the sidecar is hung (SIGSTOP), woken after the alarm',
        null,
        toldMs,
        `the edit committed; ALARM_RAISED EDIT_NOT_APPLIED ("the schedule version ${edited} has not reached the sidecar …"); cleared ${(clearedMs / 1000).toFixed(2)} s after SIGCONT, the sidecar runs version ${edited}`,
      );

      // Emptied (no events, no filler), the schedule hands the channel back to manual operation.
      await ok(`mutation($id: ID!) { removeScheduleEvent(id: $id) { version } }`, { id: added.eventId });
      await ok(`mutation($c: ID!) { setScheduleFiller(channelId: $c, assetIds: []) { version } }`, { c: channel.id });
      expect((await sidecarStatus(server.services, channel.id)).schedule).toBeUndefined();
      const manual = await server.gql(
        cast.viewer.token,
        `query($id: ID!) { channel(id: $id) { engine { schedule { version } } } }`,
        { id: channel.id },
      );
      expect(manual.data.channel.engine.schedule).toBeNull();

      await ok(`mutation { stopChannel(id: "${channel.id}") { status } }`);
      await until(() => !alive(pid), 'no sidecar process left');
    } finally {
      if (pid && alive(pid)) process.kill(pid, 'SIGCONT');
      await watch.close();
      // Stopped whatever failed above: the next test's channel sends to the same SRT receiver.
      if (pid && alive(pid))
        await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channel.id}") { status } }`);
    }
  }, 120_000);

  it('delivers a version committed by a process that died before it sent it, within a second', async () => {
    const { db } = server.services;
    const { channel, items } = await channelWithClips(server.services, cast, SRT_PORT, [
      ['filler.mp4', 3000],
      ['prog.mp4', 3000],
    ]);
    const [filler, prog] = await Promise.all(items.map((i) => db.item.findUniqueOrThrow({ where: { id: i.id } })));
    const ok = async (query: string, variables: Record<string, unknown> = {}) => {
      const res = await server.gql(cast.operator.token, query, variables);
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
      return res.data;
    };
    const first = (
      await ok(`mutation($c: ID!, $a: [ID!]!) { setScheduleFiller(channelId: $c, assetIds: $a) { version } }`, {
        c: channel.id,
        a: [filler.assetId],
      })
    ).setScheduleFiller.version as number;
    await ok(`mutation { startChannel(id: "${channel.id}") { status } }`);
    // The worker reads the channel once its engine status carries the schedule it runs.
    await until(async () => {
      const res = await server.gql(
        cast.viewer.token,
        `query($id: ID!) { channel(id: $id) { engine { schedule { version } } } }`,
        {
          id: channel.id,
        },
      );
      return res.data?.channel?.engine?.schedule?.version === first;
    }, 'the worker reading the sidecar with its schedule');

    // The committing process "dies" between its commit and its PUT /schedule: the request never leaves.
    // The commit's instant: its publish, the first thing done after it.
    let committedAt = 0;
    const { pubsub } = server.services;
    const publishing = Object.create(pubsub) as typeof pubsub;
    const publish = pubsub.publish.bind(pubsub) as (...args: unknown[]) => void;
    publishing.publish = ((...args: unknown[]) => {
      committedAt ||= Date.now();
      publish(...args);
    }) as typeof pubsub.publish;
    const sidecars = Object.create(server.services.sidecars) as SidecarClient;
    sidecars.putSchedule = () => new Promise(() => {});
    const principal: Principal = {
      userId: cast.operator.userId,
      tokenId: cast.operator.tokenId,
      isAdmin: false,
      roles: new Map([[cast.home.id, 'OPERATOR']]),
    };
    const row = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    const target = { url: row.sidecarUrl!, secret: sidecarSecretOf(server.services.config.secretKey, row)! };
    void setScheduleFiller(
      { db, services: { ...server.services, sidecars, pubsub: publishing }, principal },
      channel.id,
      [filler.assetId, prog.assetId],
    );
    await until(() => committedAt > 0, 'the edit committed', 10_000, 5);
    const edited = (await db.schedule.findUniqueOrThrow({ where: { channelId: channel.id } })).version;
    expect(edited).toBe(first + 1);
    // The sidecar asked directly (no database read between two looks).
    await until(
      async () => (await server.services.sidecars.status(target).catch(() => null))?.schedule?.version === edited,
      'the version on the sidecar',
      10_000,
      10,
    );
    const deliveredMs = Date.now() - committedAt;
    // About a second (the sweep's period, plus the grace left to the committing process); 3 s on a loaded machine.
    expect(deliveredMs).toBeLessThan(3000);
    report(
      'schedule edit whose process died between the commit and its push',
      null,
      null,
      `the sidecar acknowledged version ${edited} ${(deliveredMs / 1000).toFixed(2)} s after the commit (the workers' sweep)`,
    );

    await ok(`mutation { stopChannel(id: "${channel.id}") { status } }`);
  }, 120_000);
});
