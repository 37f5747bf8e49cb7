import { beforeAll, describe, expect, it } from 'vitest';
import type { GqlResult } from '../helpers/server.ts';
import { until } from './as-run-helpers.ts';
import { useScheduledChannel } from './scheduled-channel.ts';

// An operator's skip on a channel whose schedule airs, end to end through the
// GraphQL API: a real sidecar (local orchestrator, ffmpeg engine, 576p25) runs a
// FOLLOW chain by its own clock. A skip cuts the event on air half a second
// ahead and the next FOLLOW event airs from the cut; a second press of the same
// skip is refused, never skipping the next event; a press in the last 0.5 s of
// an event is refused naming it, and the next event airs at its planned time.
// The as-run and its CSV and BXF exports carry the skip.
const FRAME_MS = 40;
const CLIPS = { 'filler.mp4': 6, 'one.mp4': 8, 'two.mp4': 8, 'three.mp4': 8 };

const rig = useScheduledChannel(CLIPS, { env: { EVENTS_WAIT_MS: '1000', CONTROL_TICK_MS: '500' } });
const { server, cast, assets, operator } = rig;
let channelId: string;
beforeAll(() => {
  channelId = rig.channelId;
});
const SKIP = 'mutation($c: ID!) { skip(channelId: $c) { state } }';
const skip = () => server.gql(cast.operator.token, SKIP, { c: channelId });
const refusal = (res: GqlResult) => ({ message: res.errors?.[0]?.message, extensions: res.errors?.[0]?.extensions });

const ENGINE = `query($id: ID!) { channel(id: $id) { engine {
  schedule { onAir { eventId kind clipName plannedStartAt plannedEndAt } nextEvent { eventId plannedStartAt } }
} } }`;
const schedule = async () => (await operator(ENGINE, { id: channelId })).channel.engine?.schedule;

const AS_RUN = `query($c: ID!) { asRun(channelId: $c, first: 100) { edges { node {
  id clipName status reason startedAt endedAt scheduleEventId plannedStartAt plannedEndAt offsetMs fills
} } } }`;
interface Entry {
  id: string;
  clipName: string;
  status: string;
  reason: string | null;
  startedAt: string;
  endedAt: string | null;
  scheduleEventId: string | null;
  plannedStartAt: string | null;
  plannedEndAt: string | null;
  offsetMs: number | null;
  fills: string | null;
}
const asRun = async (): Promise<Entry[]> =>
  (await operator(AS_RUN, { c: channelId })).asRun.edges.map((e: { node: Entry }) => e.node).reverse();
const entryOf = (log: Entry[], eventId: string) => log.filter((e) => e.scheduleEventId === eventId);

const exported = async (format: 'csv' | 'bxf') => {
  const res = await fetch(`${new URL(server.url).origin}/asrun/export?channelId=${channelId}&format=${format}`, {
    headers: { authorization: `Bearer ${cast.operator.token}` },
  });
  expect(res.status).toBe(200);
  return res.text();
};

const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));

describe('a skip on a scheduled channel', () => {
  it('cuts the event on air and the next FOLLOW event airs at once; a double press and a press in the last 0.5 s are refused naming their event; the exports carry the skip', async () => {
    const testStart = Date.now();
    // T0: the first event, on a whole second, time enough for the start to send the schedule.
    const t0 = Math.ceil(Date.now() / 1000) * 1000 + 12_000;
    await operator(`mutation($c: ID!, $a: [ID!]!) { setScheduleFiller(channelId: $c, assetIds: $a) { version } }`, {
      c: channelId,
      a: [assets['filler.mp4']],
    });
    const add = async (file: string, trigger: 'HARD' | 'FOLLOW') =>
      (
        await operator(`mutation($i: AddScheduleEventInput!) { addScheduleEvent(input: $i) { eventId } }`, {
          i: {
            channelId,
            trigger,
            assetId: assets[file],
            ...(trigger === 'HARD' && { at: new Date(t0).toISOString() }),
          },
        })
      ).addScheduleEvent.eventId as string;
    const ev1 = await add('one.mp4', 'HARD');
    const ev2 = await add('two.mp4', 'FOLLOW');
    const ev3 = await add('three.mp4', 'FOLLOW');
    expect((await operator(`mutation { startChannel(id: "${channelId}") { status } }`)).startChannel.status).toBe(
      'RUNNING',
    );

    // 3 s into event 1, two presses at once: one skip cuts it, the other is refused (it would cut event 2).
    await until(async () => (await schedule())?.nextEvent?.eventId === ev1, 'the schedule on the new sidecar');
    await sleepUntil(t0 + 3000);
    expect((await schedule()).onAir).toMatchObject({ eventId: ev1, clipName: 'one.mp4' });
    const pressed = Date.now();
    const presses = await Promise.all([skip(), skip()]);
    const answeredMs = Date.now() - pressed;
    const [accepted, refused] = presses[0].errors ? [presses[1], presses[0]] : presses;
    expect(accepted.errors).toBeUndefined();
    expect(refusal(refused)).toEqual({
      message: expect.stringMatching(new RegExp(`^event ${ev1} is already skipped: it leaves air at `)),
      extensions: { code: 'CONFLICT', eventId: ev1 },
    });
    // Event 2 on air from the cut, at once: the first frame half a second after the press.
    const second = await until(async () => {
      const s = await schedule();
      return s?.onAir?.eventId === ev2 ? s : null;
    }, 'event 2 on air');
    const cut = Date.parse(second.onAir.plannedStartAt);
    expect(cut - pressed).toBeGreaterThanOrEqual(500);
    expect(cut - pressed).toBeLessThanOrEqual(500 + FRAME_MS + answeredMs);
    expect(second.nextEvent).toEqual({ eventId: ev3, plannedStartAt: new Date(cut + 8000).toISOString() });
    // The as-run: event 1 SKIPPED at the cut with the reason, event 2 on air from it.
    const afterSkip = await until(async () => {
      const log = await asRun();
      const [one] = entryOf(log, ev1);
      const [two] = entryOf(log, ev2);
      return one?.endedAt && two ? { one, two } : null;
    }, 'event 1 ended and event 2 on air in the as-run');
    expect(afterSkip.one).toMatchObject({
      clipName: 'one.mp4',
      status: 'SKIPPED',
      reason: 'skipped by an operator',
      plannedStartAt: new Date(t0).toISOString(),
      plannedEndAt: new Date(t0 + 8000).toISOString(),
    });
    expect(Math.abs(Date.parse(afterSkip.one.endedAt!) - cut)).toBeLessThanOrEqual(FRAME_MS);
    expect(afterSkip.two).toMatchObject({
      clipName: 'two.mp4',
      endedAt: null,
      plannedStartAt: new Date(cut).toISOString(),
    });
    expect(Math.abs(afterSkip.two.offsetMs!)).toBeLessThanOrEqual(FRAME_MS);

    // 400 ms before event 2 ends: refused, naming event 2, which plays out; event 3 at its planned time.
    const end2 = cut + 8000;
    await sleepUntil(end2 - 400);
    const latePress = Date.now();
    const late = await skip();
    const lateMs = Date.now() - latePress;
    expect(refusal(late)).toEqual({
      message: expect.stringMatching(
        new RegExp(`^event ${ev2} ends in \\d+ ms, before the first frame a skip can cut \\(500 ms ahead\\)`),
      ),
      extensions: { code: 'CONFLICT', eventId: ev2 },
    });
    const done = await until(async () => {
      const log = await asRun();
      const [two] = entryOf(log, ev2);
      const [three] = entryOf(log, ev3);
      return two?.endedAt && three ? log : null;
    }, 'event 2 ended and event 3 on air in the as-run');
    const [two] = entryOf(done, ev2);
    const [three] = entryOf(done, ev3);
    expect(two).toMatchObject({ status: 'PLAYED', reason: null, plannedEndAt: new Date(end2).toISOString() });
    expect(three).toMatchObject({ clipName: 'three.mp4', plannedStartAt: new Date(end2).toISOString() });
    expect(Math.abs(three.offsetMs!)).toBeLessThanOrEqual(FRAME_MS);
    // Each event aired once: no press skipped event 2 or 3.
    expect([ev1, ev2, ev3].map((id) => entryOf(done, id).map((e) => e.status))).toEqual([
      ['SKIPPED'],
      ['PLAYED'],
      [expect.any(String)],
    ]);

    // The exports: the skipped event as the as-run has it; in BXF it aired, cut short.
    const one = afterSkip.one;
    const csv = await exported('csv');
    const csvLine = csv.split('\r\n').find((l) => l.startsWith(`${one.id},`));
    expect(csvLine).toContain(
      `,SKIPPED,skipped by an operator,${ev1},${new Date(t0).toISOString()},${new Date(t0 + 8000).toISOString()},`,
    );
    const bxf = await exported('bxf');
    const bxfEntry = bxf.split('\n').find((l) => l.includes(`<EventId>urn:uuid:${one.id}</EventId>`));
    expect(bxfEntry).toContain('<Status>Aired with Duration Discrepancy</Status>');
    expect(bxfEntry).toContain('<EventNote>Skipped: cut short by an operator.</EventNote>');
    expect(bxfEntry).toContain(`status="SKIPPED" reason="skipped by an operator" scheduleEventId="${ev1}"`);
    expect(bxf).not.toContain('<Status>Did not air</Status>');

    console.log(
      `[schedule-skip] skip answered in ${answeredMs} ms (two presses at once), cut ${cut - pressed} ms after the press; ` +
        `event 2 on air ${afterSkip.two.offsetMs} ms from the cut; late press answered in ${lateMs} ms; ` +
        `event 3 ${three.offsetMs} ms from plan; test ${((Date.now() - testStart) / 1000).toFixed(0)} s`,
    );
    await operator(`mutation { stopChannel(id: "${channelId}") { status } }`);
  }, 90_000);
});
