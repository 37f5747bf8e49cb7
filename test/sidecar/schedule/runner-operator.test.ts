import { describe, expect, it } from 'vitest';
import { frameFrom, frameStartMs } from '../../../src/schedule/frames.ts';
import { clip, event, minutes } from '../../schedule/helpers.ts';
import { RATE, rig, schedule } from './rig.ts';

// An operator's hand on a running schedule, as a fresh sidecar and the as-run see it:
// takes that outlive the sidecar that made them.

const T0 = Date.parse('2026-12-02T10:00:00Z');
const at = (m: number, s = 0) => T0 + minutes(m) + s * 1000;
const filler = [clip('fill', 30_000)];
const iso = (ms: number) => new Date(ms).toISOString();

describe('ScheduleRunner, an operator’s takes', () => {
  it('airs a MANUAL event taken on another sidecar from its take, not holding again, when the schedule is pushed with its takes', async () => {
    const events = [
      event('a', 'HARD', clip('open', minutes(1)), at(0)),
      event('m', 'MANUAL', clip('live', minutes(5))),
      event('h', 'HARD', clip('news', minutes(2)), at(10)),
    ];
    // The first sidecar: the event is taken at 10:02:00.
    const first = rig(at(0) - 1000);
    await first.runner.apply(schedule(3, events, filler));
    await first.clock.runUntil(at(2) - 500);
    await first.runner.take('m');
    const takenAt = frameStartMs(frameFrom(at(2), RATE), RATE);
    expect(first.runner.status()?.schedule.nextEvent).toMatchObject({ eventId: 'm', plannedStartAt: iso(takenAt) });

    // Failover at 10:03:30: a fresh sidecar on another node is sent the same version, with the take recorded.
    const fresh = rig(at(3, 30));
    await fresh.runner.apply({ ...schedule(3, events, filler), taken: { m: takenAt } });
    await fresh.clock.runUntil(at(11));
    const onAir = fresh.events().filter((e) => e.kind === 'ITEM_ON_AIR');
    // Joined in the taken event where the clock is, then the HARD event; no filler held for it.
    expect(onAir.map((e) => [e.itemId, e.schedule?.eventId, e.schedule?.fills, e.schedule?.plannedStartAt])).toEqual([
      ['item-live', 'm', null, iso(takenAt)],
      ['item-fill', null, 'GAP', iso(takenAt + minutes(5))],
      ['item-fill', null, 'GAP', iso(takenAt + minutes(5) + 30_000)],
      ['item-fill', null, 'GAP', iso(takenAt + minutes(5) + 60_000)],
      ['item-fill', null, 'GAP', iso(takenAt + minutes(5) + 90_000)],
      ['item-fill', null, 'GAP', iso(takenAt + minutes(5) + 120_000)],
      ['item-fill', null, 'GAP', iso(takenAt + minutes(5) + 150_000)],
      ['item-news', 'h', null, iso(at(10))],
    ]);
    expect(fresh.runner.status()?.schedule.onAir).toMatchObject({ eventId: 'h' });
  });
});
