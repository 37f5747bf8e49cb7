import { describe, expect, it } from 'vitest';
import type { SidecarEvent } from '../../../src/protocol/sidecar-api.ts';
import { frameFrom, frameRateOf, frameStartMs } from '../../../src/schedule/frames.ts';
import { ScheduleSchema, type Schedule, type ScheduleClip, type ScheduleEvent } from '../../../src/schedule/model.ts';
import { planSchedule, type Segment } from '../../../src/schedule/plan.ts';
import { broadcastDay, localToUtc } from '../../../src/schedule/time-zone.ts';
import { Alarms } from '../../../src/sidecar/alarms.ts';
import { EventLog } from '../../../src/sidecar/event-log.ts';
import { ScheduleRunner } from '../../../src/sidecar/schedule/runner.ts';
import { clip, event, minutes } from '../../schedule/helpers.ts';
import { VirtualClock, VirtualDevice } from './virtual-device.ts';

// The schedule runner through a whole simulated broadcast day on a virtual
// clock: Saturday 24 October 2026 in London, 06:00 BST to 06:00 GMT, 25 hours
// across the change of clocks, with HARD, SOFT, FOLLOW and MANUAL events,
// gaps, over-runs, a MANUAL event taken by an operator, one never taken, a
// clip whose media cannot be opened at air time, and transitions: clips that
// mix or wipe in over the end of the clip before them, and a HARD event whose
// MIX is a cut (a timed start). The device plays whole frames
// by the same clock (virtual-device.ts). What a user checks: every HARD event
// on its frame exactly, no frame without a clip or filler, over-runs cut or
// pushed as their triggers say, and the as-run events equal to the plan entry
// for entry.

const ZONE = 'Europe/London';
const DAY = broadcastDay('2026-10-24', ZONE);
const local = (hour: number, minute = 0, second = 0, day = 24) =>
  localToUtc({ year: 2026, month: 10, day, hour, minute, second }, ZONE);
const START = DAY.fromMs - 90_000;
const TAKE_E08_AT = local(10, 15, 3);
const JOIN_LEAD_MS = 500;

/** The clip coming in over the end of the one before it. */
const over = (c: ScheduleClip, transition: 'MIX' | 'WIPE', transitionMs: number): ScheduleClip => ({
  ...c,
  transition,
  transitionMs,
});

function daySchedule(videoFormat: string): Schedule {
  const events: ScheduleEvent[] = [
    event(
      'e01',
      'HARD',
      [clip('news-1', minutes(20)), over(clip('news-2', minutes(20)), 'MIX', 500), clip('news-3', minutes(15))],
      local(6),
    ),
    event('e02', 'FOLLOW', over(clip('weather', minutes(3)), 'MIX', 1000)), // ends 06:57:58.5: filler to 07:00
    event('e03', 'SOFT', clip('magazine', minutes(50)), local(7)),
    event('e04', 'FOLLOW', over(clip('cartoon', minutes(15)), 'WIPE', 1000)), // 07:49:59 to 08:04:59: cut at 08:00
    event('e05', 'HARD', over(clip('film', minutes(62)), 'MIX', 2000), local(8)), // a cut; runs to 09:02
    event('e06', 'SOFT', clip('quiz', minutes(30)), local(9)), // pushed to 09:02
    event('e07', 'FOLLOW', over(clip('talk', minutes(30)), 'WIPE', 2000)), // ends 10:01:58
    event('e08', 'MANUAL', clip('live-link', minutes(20))), // taken at 10:15:03
    event('e09', 'FOLLOW', clip('documentary', minutes(10))), // its media cannot be opened
    event('e10', 'SOFT', [clip('series-1', minutes(30)), over(clip('series-2', minutes(30)), 'MIX', 1000)], local(11)),
    event('e11', 'MANUAL', clip('press-conference', minutes(10))), // never taken
    event('e12', 'FOLLOW', clip('reaction', minutes(5))),
    event('e13', 'HARD', clip('sport', minutes(240)), local(14)),
    event('e14', 'SOFT', clip('evening-news', minutes(45)), local(18)),
  ];
  // The night: a programme every half hour of UTC from 19:00 BST, through the change, some short, some cut.
  for (let k = 0; k < 24; k++) {
    const length = minutes(20 + ((k * 7) % 16)) + 13_000;
    events.push(
      event(`n${k}`, 'HARD', clip(`night-${k}`, length), Date.parse('2026-10-24T18:00:00Z') + k * minutes(30)),
    );
    const promo = clip(`promo-${k % 3}`, 45_000);
    events.push(event(`n${k}-promo`, 'FOLLOW', k % 2 === 0 ? over(promo, 'MIX', 480) : promo));
  }
  const filler = [clip('filler-a', 30_000), clip('filler-b', 45_000), clip('filler-c', 20_000)];
  return ScheduleSchema.parse({ version: 3, videoFormat, timeZone: ZONE, events, filler });
}

type Item = Extract<SidecarEvent, { kind: 'ITEM_ENDED' }>;

async function runDay(videoFormat: string) {
  const schedule = daySchedule(videoFormat);
  const rate = frameRateOf(videoFormat);
  const clock = new VirtualClock(START);
  const device = new VirtualDevice(clock, rate, new Set(['media/documentary.mxf']));
  const log = new EventLog({ now: () => clock.now(), capacity: 1_000_000 });
  const alarms = new Alarms(log, () => clock.now());
  const runner = new ScheduleRunner({
    engine: device,
    log,
    alarms,
    mediaDir: '/media',
    videoFormat,
    clock,
    joinLeadMs: JOIN_LEAD_MS,
  });
  expect(await runner.apply(schedule)).toEqual({ version: 3 });
  clock.after(TAKE_E08_AT - START, () => void runner.take('e08'));
  const takenMs = frameStartMs(frameFrom(TAKE_E08_AT + JOIN_LEAD_MS, rate), rate);
  // What the day should be: the plan with the take and the clip that cannot play (planned an hour past
  // the day, so that the filler crossing its end is whole, as the runner airs it).
  const planned = planSchedule(schedule, rate, {
    window: { fromMs: DAY.fromMs, toMs: DAY.toMs + 3_600_000 },
    nowMs: DAY.toMs,
    taken: new Map([['e08', takenMs]]),
    missingAssets: new Set(['asset-documentary']),
  });
  const dayTo = frameFrom(DAY.toMs, rate);
  const plan = { ...planned, segments: planned.segments.filter((s) => s.startFrame < dayTo) };
  await clock.runUntil(plan.segments.at(-1)!.endMs + 1000);
  return { schedule, rate, plan, device, log, runner, takenMs };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe.each([
  ['1080i5000', 25],
  ['1080i5994', 30000 / 1001],
])('the schedule runner through a 25-hour day at %s', (videoFormat, fps) => {
  it('airs the day as planned: HARD events on their frame, no frame without a clip, as-run equal to the plan', async () => {
    const started = performance.now();
    const { schedule, rate, plan, device, log, takenMs } = await runDay(videoFormat);
    const runMs = performance.now() - started;
    const events = log.after(0, 1_000_000);
    const frames = (ms: number) => frameFrom(ms, rate);

    // No frame without a clip or filler, from the join a minute before the day to its end: each clip starts
    // where the one before it ends, or comes in over its last frames (that one's tail) with its transition.
    const out = device.output;
    for (let i = 1; i < out.length; i++) {
      expect(out[i].startFrame + out[i].transitionFrames, `${out[i - 1].itemId} then ${out[i].itemId}`).toBe(
        out[i - 1].endFrame,
      );
    }
    // Transitions where the plan makes them (a timed start is a cut), each its length in whole frames.
    const mixedIn = out.filter((s) => s.transitionFrames > 0 && s.startFrame < frames(DAY.toMs));
    const plannedMixes = plan.segments.filter((s) => s.transitionFrames > 0);
    expect(mixedIn.map((s) => [s.itemId, s.startFrame, s.transitionFrames])).toEqual(
      plannedMixes.map((s) => [s.clip!.itemId, s.startFrame, s.transitionFrames]),
    );
    expect(mixedIn.slice(0, 5).map((s) => [s.itemId, s.transitionFrames])).toEqual([
      ['item-news-2', Math.round(fps / 2)],
      ['item-weather', Math.round(fps)],
      ['item-cartoon', Math.round(fps)],
      ['item-talk', Math.round(2 * fps)],
      ['item-series-2', Math.round(fps)],
    ]);
    expect(mixedIn.slice(5).every((s) => s.itemId.startsWith('item-promo-'))).toBe(true);
    expect(mixedIn.length).toBeGreaterThan(8);
    expect(out.find((s) => s.itemId === 'item-film')!.transitionFrames).toBe(0); // a timed start is a cut
    expect(out[0].startFrame).toBe(frames(START + JOIN_LEAD_MS));
    expect(out[0].inPointMs).toBeGreaterThan(0); // joined in progress: the filler before the first event, seeked into
    expect(out.at(-1)!.endFrame).toBeGreaterThanOrEqual(frames(DAY.toMs));

    // Every HARD event, and the take, starts on its frame exactly with its first clip.
    const cuts = schedule.events.filter((e) => e.trigger === 'HARD');
    expect(cuts).toHaveLength(27);
    for (const e of cuts) {
      const p = plan.events.find((x) => x.eventId === e.eventId)!;
      const first = plan.segments.find((s) => s.startFrame === p.startFrame)!;
      expect(out.find((s) => s.startFrame === frames(Date.parse(e.at!)))?.itemId, e.eventId).toBe(first.clip!.itemId);
    }
    expect(out.find((s) => s.startFrame === frames(takenMs))?.itemId).toBe('item-live-link');

    // The as-run, entry for entry: every segment of the day's plan once, at its planned frames, as it ended.
    const ended = events.filter((e): e is Item => e.kind === 'ITEM_ENDED' && e.how !== 'FAILED');
    const inDay = ended.filter(
      (e) =>
        frames(Date.parse(e.schedule!.plannedEndAt)) > plan.fromFrame &&
        frames(Date.parse(e.schedule!.plannedStartAt)) < frames(DAY.toMs),
    );
    const asRun = inDay.map((e) => ({
      itemId: e.itemId,
      eventId: e.schedule!.eventId,
      fills: e.schedule!.fills,
      plannedStartAt: e.schedule!.plannedStartAt,
      plannedEndAt: e.schedule!.plannedEndAt,
      startedAt: e.startedAt,
      endedAt: e.endedAt,
      how: e.how,
    }));
    const expected = plan.segments.map((s: Segment) => ({
      itemId: s.clip!.itemId,
      eventId: s.eventId,
      fills: s.fills,
      plannedStartAt: iso(s.startMs),
      plannedEndAt: iso(s.endMs),
      startedAt: iso(s.startMs),
      endedAt: iso(s.endMs),
      how: s.truncated ? 'TRUNCATED' : 'PLAYED',
    }));
    expect(asRun.length).toBeGreaterThan(300);
    expect(asRun).toEqual(expected);
    // Each ITEM_ON_AIR is followed by its ITEM_ENDED (but the clip on air now), nothing airing twice.
    const onAir = events.filter((e) => e.kind === 'ITEM_ON_AIR');
    expect(onAir.length).toBe(ended.length + 1);
    expect(onAir.slice(0, -1).map((e) => e.itemId)).toEqual(ended.map((e) => e.itemId));

    // Over-runs as their triggers say: the cartoon cut at 08:00 (TRUNCATED), the quiz pushed to the film's end.
    const item = (id: string) => inDay.filter((e) => e.itemId === id);
    expect(item('item-cartoon')).toMatchObject([
      { how: 'TRUNCATED', endedAt: iso(frameStartMs(frames(local(8)), rate)) },
    ]);
    expect(item('item-quiz')[0].startedAt).toBe(item('item-film')[0].endedAt);
    expect(item('item-quiz')[0].startedAt).toMatch(/^2026-10-24T08:02:00\.0\d\dZ$/);
    // The clip that could not be opened: FAILED once, filler for its planned length instead, MEDIA_MISSING raised.
    const failed = events.filter((e): e is Item => e.kind === 'ITEM_ENDED' && e.how === 'FAILED');
    expect(failed.map((e) => [e.itemId, e.startedAt, e.schedule!.eventId])).toEqual([
      ['item-documentary', null, 'e09'],
    ]);
    expect(inDay.filter((e) => e.schedule!.eventId === 'e09').every((e) => e.schedule!.fills === 'MISSING')).toBe(true);
    expect(events.some((e) => e.kind === 'ALARM_RAISED' && e.alarm === 'MEDIA_MISSING')).toBe(true);
    // The MANUAL event never taken: filler marked MANUAL from the end of e10 to the 14:00 HARD event.
    const held = inDay.filter(
      (e) =>
        Date.parse(e.startedAt!) >= Date.parse(item('item-series-2')[0].endedAt) && Date.parse(e.endedAt) <= local(14),
    );
    expect(held.length).toBeGreaterThan(100);
    expect(held.every((e) => e.schedule!.fills === 'MANUAL')).toBe(true);
    expect(item('item-press-conference')).toEqual([]);
    expect(events.some((e) => e.kind === 'ALARM_RAISED' && e.alarm === 'SCHEDULE_HOLD')).toBe(false);
    expect(runMs).toBeLessThan(10_000);
  });
});
