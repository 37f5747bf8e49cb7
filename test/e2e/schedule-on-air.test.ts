import { beforeAll, describe, expect, it } from 'vitest';
import type { GqlResult } from '../helpers/server.ts';
import { until } from './as-run-helpers.ts';
import { useScheduledChannel } from './scheduled-channel.ts';

// The schedule on air end to end, through the GraphQL API: a real sidecar
// (local orchestrator, ffmpeg engine) to a real SRT receiver runs a schedule
// of three HARD events with filler in the gaps, by its own clock. The
// schedule is built before the channel starts (the start sends it), a future
// event is edited on air (the sidecar runs the new version within a second),
// and the sidecar is killed in the middle of an event: the channel comes back
// joined in progress. The as-run names each event with its planned start.
const FRAME_MS = 40; // 576p25
const CLIPS = { 'filler.mp4': 6, 'prog1.mp4': 8, 'prog2.mp4': 16, 'prog3.mp4': 8, 'extra.mp4': 8 };

const rig = useScheduledChannel(CLIPS, {
  env: {
    // Failover within a few seconds of the kill, as in the fault suite.
    HEARTBEAT_TIMEOUT_MS: '3000',
    CONTROL_TICK_MS: '500',
    EVENTS_WAIT_MS: '1000',
    INGEST_LEASE_MS: '1000',
    SIDECAR_TIMEOUT_MS: '10000',
    RECONCILE_INTERVAL_MS: '600000',
  },
});
const { server, cast, assets, operator } = rig;
let channelId: string;
let playlistId: string;
beforeAll(() => {
  ({ channelId, playlistId } = rig);
});

const ENGINE = `query($id: ID!) { channel(id: $id) { restartCount engine {
  state current { clipName positionMs startedAt }
  schedule { version suspended onAir { eventId kind clipName plannedStartAt fills } nextEvent { eventId plannedStartAt } }
} } }`;
const channel = async () => (await operator(ENGINE, { id: channelId })).channel;

const AS_RUN = `query($c: ID!) { asRun(channelId: $c, first: 200) { edges { node {
  clipName status reason startedAt endedAt scheduleEventId scheduleVersion plannedStartAt plannedEndAt offsetMs fills
} } } }`;
interface Entry {
  clipName: string;
  status: string;
  reason: string | null;
  startedAt: string;
  endedAt: string | null;
  scheduleEventId: string | null;
  scheduleVersion: number | null;
  plannedStartAt: string | null;
  plannedEndAt: string | null;
  offsetMs: number | null;
  fills: string | null;
}
const asRun = async (): Promise<Entry[]> =>
  (await operator(AS_RUN, { c: channelId })).asRun.edges.map((e: { node: Entry }) => e.node).reverse();

const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));

describe('a schedule on air', () => {
  it('airs three HARD events on their frames with filler between, takes a live edit within a second, and joins in progress after the sidecar is killed', async () => {
    const testStart = Date.now();
    // T0: the first HARD event, on a whole second, time enough to build and start.
    const t0 = Math.ceil(Date.now() / 1000) * 1000 + 30_000;
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();

    await operator(`mutation($c: ID!, $a: [ID!]!) { setScheduleFiller(channelId: $c, assetIds: $a) { version } }`, {
      c: channelId,
      a: [assets['filler.mp4']],
    });
    const add = async (file: string, s: number) =>
      (
        await operator(`mutation($i: AddScheduleEventInput!) { addScheduleEvent(input: $i) { version eventId } }`, {
          i: { channelId, trigger: 'HARD', at: at(s), assetId: assets[file] },
        })
      ).addScheduleEvent as { version: number; eventId: string };
    const ev1 = await add('prog1.mp4', 0);
    const ev2 = await add('prog2.mp4', 20);
    const ev3 = await add('prog3.mp4', 44);
    // After event 3: a MANUAL event, held (filler) until an operator takes it.
    const ev4 = (
      await operator(`mutation($i: AddScheduleEventInput!) { addScheduleEvent(input: $i) { version eventId } }`, {
        i: { channelId, trigger: 'MANUAL', assetId: assets['prog1.mp4'] },
      })
    ).addScheduleEvent as { version: number; eventId: string };
    // And one to follow it, which waits with it.
    const ev5 = (
      await operator(`mutation($i: AddScheduleEventInput!) { addScheduleEvent(input: $i) { version eventId } }`, {
        i: { channelId, trigger: 'FOLLOW', assetId: assets['prog3.mp4'] },
      })
    ).addScheduleEvent as { version: number; eventId: string };

    // The start sends the schedule: the sidecar runs the committed version, filler until T0.
    const started = Date.now();
    expect((await operator(`mutation { startChannel(id: "${channelId}") { status } }`)).startChannel.status).toBe(
      'RUNNING',
    );
    const joined = await until(async () => {
      const c = await channel();
      return c.engine?.schedule?.version === ev5.version && c.engine.current ? c : null;
    }, 'the schedule running on the new sidecar');
    const startMs = Date.now() - started;
    expect(joined.engine.schedule).toMatchObject({ suspended: false, nextEvent: { eventId: ev1.eventId } });
    expect(joined.engine.schedule.onAir).toMatchObject({ kind: 'FILLER', fills: 'GAP', eventId: null });
    expect(Date.parse(joined.engine.schedule.nextEvent.plannedStartAt)).toBe(t0);

    // A live edit of a future event: the sidecar runs the new version within a second of the mutation.
    const editAt = Date.now();
    const edited = (
      await operator(
        `mutation($id: ID!, $i: UpdateScheduleEventInput!) { updateScheduleEvent(id: $id, input: $i) { version } }`,
        {
          id: ev3.eventId,
          i: { assetId: assets['extra.mp4'] },
        },
      )
    ).updateScheduleEvent.version as number;
    await until(
      async () => (await channel()).engine?.schedule?.version === edited,
      'the edited version on the sidecar',
      5000,
      20,
    );
    const editMs = Date.now() - editAt;
    expect(editMs).toBeLessThan(1000);

    // Mid-event 2: killed, back joined in progress (the segment the clock is in, past its start).
    await sleepUntil(t0 + 22_000);
    const before = await channel();
    expect(before.engine.schedule.onAir).toMatchObject({ eventId: ev2.eventId, kind: 'CLIP', clipName: 'prog2.mp4' });
    const pid = Number((await server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } })).sidecarRef);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const back = await until(
      async () => {
        const c = await channel();
        return c.restartCount === 1 && c.engine?.current?.startedAt && Date.parse(c.engine.current.startedAt) > killedAt
          ? c
          : null;
      },
      'the channel back on a new sidecar',
      12_000,
    );
    const backMs = Date.now() - killedAt;
    expect(back.engine.schedule.version).toBe(edited);
    expect(back.engine.schedule.onAir).toMatchObject({ eventId: ev2.eventId, clipName: 'prog2.mp4' });
    expect(back.engine.current.clipName).toBe('prog2.mp4');
    // Joined where the clock is: as far into the clip as the time since its planned start, not from its top.
    const sinceStart = Date.now() - (t0 + 20_000);
    expect(back.engine.current.positionMs).toBeGreaterThan(killedAt - (t0 + 20_000));
    expect(Math.abs(back.engine.current.positionMs - sinceStart)).toBeLessThan(1500);

    // The rest of the schedule plays on the new sidecar: event 3 (edited to extra.mp4), then filler.
    await sleepUntil(t0 + 54_000);
    const log = await until(async () => {
      const entries = await asRun();
      const third = entries.find((e) => e.scheduleEventId === ev3.eventId);
      return third?.endedAt ? entries : null;
    }, 'event 3 aired and ended');

    const first = (eventId: string) => log.find((e) => e.scheduleEventId === eventId)!;
    const hard = [first(ev1.eventId), first(ev2.eventId), first(ev3.eventId)];
    expect(hard.map((e) => e.clipName)).toEqual(['prog1.mp4', 'prog2.mp4', 'extra.mp4']);
    expect(hard.map((e) => Date.parse(e.plannedStartAt!))).toEqual([t0, t0 + 20_000, t0 + 44_000]);
    for (const e of hard) expect(e.offsetMs).toBe(Date.parse(e.startedAt) - Date.parse(e.plannedStartAt!));
    const offsets = hard.map((e) => e.offsetMs!);
    // Event 2 aired twice: cut by the kill, then joined on the new sidecar (late against its plan by the outage).
    const ev2Entries = log.filter((e) => e.scheduleEventId === ev2.eventId);
    expect(ev2Entries).toHaveLength(2);
    expect(ev2Entries[0].status).toBe('TRUNCATED');
    expect(ev2Entries[0].reason).toMatch(/^sidecar (lost|restarted)/);
    expect(Date.parse(ev2Entries[1].startedAt)).toBeGreaterThan(killedAt);
    expect(Date.parse(ev2Entries[1].plannedStartAt!)).toBe(t0 + 20_000);
    // Filler fills the gaps, named as such; the one before a HARD event is planned to end on its frame.
    const gaps = log.filter((e) => e.fills === 'GAP');
    expect(gaps.length).toBeGreaterThan(2);
    expect(gaps.every((e) => e.clipName === 'filler.mp4' && e.scheduleEventId === null)).toBe(true);
    const beforeEv1 = log[log.indexOf(hard[0]) - 1];
    expect(beforeEv1.fills).toBe('GAP');
    expect(Date.parse(beforeEv1.plannedEndAt!)).toBe(t0);
    console.log(
      `[schedule-on-air] HARD event starts against plan (ms): ${offsets.join(', ')}; schedule running ${startMs} ms after startChannel; ` +
        `live edit on the sidecar ${editMs} ms after the mutation; back joined in progress ${backMs} ms after SIGKILL ` +
        `(${back.engine.current.positionMs} ms into prog2.mp4); test ${((Date.now() - testStart) / 1000).toFixed(0)} s`,
    );
    // Within one frame of plan.
    for (const offset of offsets) expect(Math.abs(offset)).toBeLessThanOrEqual(FRAME_MS);

    // The MANUAL event holds with filler; the operator takes it, then plays a playlist over the
    // schedule (suspended) and gives the channel back to it.
    const held = await channel();
    expect(held.engine.schedule.onAir).toMatchObject({ kind: 'FILLER', fills: 'MANUAL' });
    const TAKE = `mutation($c: ID!, $e: ID!) { takeScheduleEvent(channelId: $c, eventId: $e) { schedule { onAir { eventId } } } }`;
    const refused = (res: GqlResult) => res.errors?.[0]?.extensions as Record<string, unknown> | undefined;
    expect(refused(await server.gql(cast.operator.token, TAKE, { c: channelId, e: ev1.eventId }))).toMatchObject({
      code: 'CONFLICT',
      eventId: ev1.eventId,
    });
    expect(
      refused(await server.gql(cast.operator.token, TAKE, { c: channelId, e: '00000000-0000-4000-8000-000000000000' })),
    ).toMatchObject({ code: 'NOT_FOUND', field: 'eventId' });
    expect(refused(await server.gql(cast.viewer.token, TAKE, { c: channelId, e: ev4.eventId }))?.code).toBe(
      'FORBIDDEN',
    );
    // The API's plan shows the event holding until it is taken.
    const DAY = `query($id: ID!, $d: String!) { channel(id: $id) { schedule { version
      day(date: $d) { events { eventId status plannedStart plannedEnd durationFrames } }
      nowAndNext { event { eventId status plannedStart } segment { kind } nextEvent { eventId plannedStart } }
    } } }`;
    // The broadcast day (UTC, from 06:00) the take falls in.
    const date = new Date(Date.now() - 6 * 3_600_000).toISOString().slice(0, 10);
    const planned = async () => (await operator(DAY, { id: channelId, d: date })).channel.schedule;
    interface PlannedEvent {
      eventId: string;
      status: string;
      plannedStart: string;
      plannedEnd: string;
      durationFrames: number;
    }
    const dayEvent = (s: { day: { events: PlannedEvent[] } }, id: string) =>
      s.day.events.find((e) => e.eventId === id)!;
    const holding = await planned();
    expect(dayEvent(holding, ev4.eventId).status).toBe('HOLDING');
    expect(dayEvent(holding, ev5.eventId).status).toBe('HOLDING');
    await operator(TAKE, { c: channelId, e: ev4.eventId });
    const taken = await until(
      async () => {
        const c = await channel();
        return c.engine?.schedule?.onAir?.eventId === ev4.eventId ? c : null;
      },
      'the MANUAL event taken',
      5000,
    );
    // The control plane plans the take as the sidecar runs it: the event at the take's instant, the one
    // after it following on; the schedule's version (what the sidecar runs) is the same.
    const takenAt = taken.engine.schedule.onAir.plannedStartAt as string;
    const after = await planned();
    expect(after.version).toBe(holding.version);
    expect(taken.engine.schedule.version).toBe(holding.version);
    expect(dayEvent(after, ev4.eventId)).toMatchObject({ status: 'PLANNED', plannedStart: takenAt });
    const ev4Planned = dayEvent(after, ev4.eventId);
    expect(Date.parse(ev4Planned.plannedEnd)).toBe(Date.parse(takenAt) + ev4Planned.durationFrames * FRAME_MS);
    expect(dayEvent(after, ev5.eventId)).toMatchObject({
      status: 'PLANNED',
      plannedStart: dayEvent(after, ev4.eventId).plannedEnd,
    });
    expect(after.nowAndNext).toMatchObject({
      event: { eventId: ev4.eventId, status: 'PLANNED', plannedStart: takenAt },
      segment: { kind: 'CLIP' },
      nextEvent: { eventId: ev5.eventId, plannedStart: dayEvent(after, ev4.eventId).plannedEnd },
    });
    // Taken once: a second take is refused.
    expect(refused(await server.gql(cast.operator.token, TAKE, { c: channelId, e: ev4.eventId }))?.code).toBe(
      'CONFLICT',
    );

    await operator(`mutation($c: ID!, $p: ID!) { play(channelId: $c, playlistId: $p) { state } }`, {
      c: channelId,
      p: playlistId,
    });
    const manual = await until(
      async () => {
        const c = await channel();
        return c.engine?.schedule?.suspended && c.engine.current?.clipName === 'filler.mp4' ? c : null;
      },
      'manual play over the schedule',
      5000,
    );
    expect(manual.engine.schedule.onAir).toBeNull();
    const RESUME = `mutation($c: ID!) { resumeSchedule(channelId: $c) { schedule { suspended } } }`;
    await operator(RESUME, { c: channelId });
    await until(
      async () => {
        const c = await channel();
        return c.engine?.schedule?.suspended === false && c.engine.schedule.onAir ? c : null;
      },
      'the schedule back on air',
      5000,
    );
    expect(refused(await server.gql(cast.operator.token, RESUME, { c: channelId }))?.code).toBe('CONFLICT');

    await operator(`mutation { stopChannel(id: "${channelId}") { status } }`);
  }, 180_000);
});
