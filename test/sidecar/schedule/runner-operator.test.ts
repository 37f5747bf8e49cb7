import { describe, expect, it } from 'vitest';
import { frameFrom, frameStartMs } from '../../../src/schedule/frames.ts';
import { clip, event, minutes } from '../../schedule/helpers.ts';
import { hms, RATE, rig, schedule } from './rig.ts';

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

describe('ScheduleRunner, skip while the schedule airs', () => {
  /** ITEM_ENDED as `itemId how startedAt→endedAt planned→plannedEnd reason`. */
  const ended = (r: ReturnType<typeof rig>) =>
    r
      .events()
      .flatMap((e) =>
        e.kind === 'ITEM_ENDED'
          ? [
              `${e.itemId} ${e.how} ${hms(e.startedAt)}→${hms(e.endedAt)} planned ${hms(e.schedule?.plannedStartAt ?? null)}→${hms(e.schedule?.plannedEndAt ?? null)}${e.reason ? ` (${e.reason})` : ''}`,
            ]
          : [],
      );

  it('cuts the event on air (SKIPPED) and moves the FOLLOW chain up to the frame of the cut; a SOFT event keeps its time, a HARD one too', async () => {
    const r = rig(at(0) - 1000);
    await r.runner.apply(
      schedule(
        1,
        [
          event('a', 'HARD', clip('one', minutes(2)), at(0)),
          event('b', 'FOLLOW', clip('two', minutes(2))),
          event('c', 'FOLLOW', clip('three', minutes(1))),
          event('s', 'SOFT', clip('soft', minutes(1)), at(4, 30)),
          event('h', 'HARD', clip('news', minutes(1)), at(10)),
        ],
        filler,
      ),
    );
    await r.clock.runUntil(at(0, 40) - 500);
    const cut = await r.runner.skip();
    expect(cut).toEqual({ eventId: 'a', atMs: at(0, 40) });
    // The plan shown from the runner: the next event is b, moved up to the cut.
    expect(r.runner.status()?.schedule.nextEvent).toEqual({ eventId: 'b', plannedStartAt: iso(at(0, 40)) });
    await r.clock.runUntil(at(11));
    expect(ended(r).slice(1)).toEqual([
      'item-one SKIPPED 10:00:00.000→10:00:40.000 planned 10:00:00.000→10:02:00.000 (skipped by an operator)',
      'item-two PLAYED 10:00:40.000→10:02:40.000 planned 10:00:40.000→10:02:40.000',
      'item-three PLAYED 10:02:40.000→10:03:40.000 planned 10:02:40.000→10:03:40.000',
      // Moved up, the chain ends before the SOFT event's time: filler until then, the SOFT event on its time.
      'item-fill PLAYED 10:03:40.000→10:04:10.000 planned 10:03:40.000→10:04:10.000',
      'item-fill TRUNCATED 10:04:10.000→10:04:30.000 planned 10:04:10.000→10:04:30.000',
      'item-soft PLAYED 10:04:30.000→10:05:30.000 planned 10:04:30.000→10:05:30.000',
      ...Array.from({ length: 9 }, (_, i) => {
        const from = hms(iso(at(5, 30) + i * 30_000));
        const to = hms(iso(Math.min(at(5, 30) + (i + 1) * 30_000, at(10))));
        return `item-fill PLAYED ${from}→${to} planned ${from}→${to}`;
      }),
      'item-news PLAYED 10:10:00.000→10:11:00.000 planned 10:10:00.000→10:11:00.000',
    ]);
  });

  it('before a HARD event: the gap the skip opens is filler trimmed to its frame, which it keeps', async () => {
    const r = rig(at(0) - 1000);
    await r.runner.apply(
      schedule(
        1,
        [event('a', 'HARD', clip('one', minutes(2)), at(0)), event('h', 'HARD', clip('news', minutes(1)), at(2))],
        filler,
      ),
    );
    await r.clock.runUntil(at(1, 10) - 500);
    expect(await r.runner.skip()).toEqual({ eventId: 'a', atMs: at(1, 10) });
    expect(r.runner.status()?.schedule.nextEvent).toEqual({ eventId: 'h', plannedStartAt: iso(at(2)) });
    await r.clock.runUntil(at(3, 1));
    expect(ended(r).slice(1)).toEqual([
      'item-one SKIPPED 10:00:00.000→10:01:10.000 planned 10:00:00.000→10:02:00.000 (skipped by an operator)',
      'item-fill PLAYED 10:01:10.000→10:01:40.000 planned 10:01:10.000→10:01:40.000',
      'item-fill TRUNCATED 10:01:40.000→10:02:00.000 planned 10:01:40.000→10:02:00.000',
      'item-news PLAYED 10:02:00.000→10:03:00.000 planned 10:02:00.000→10:03:00.000',
    ]);
  });

  it('of the last event: filler from the cut; a skip in filler between events is refused, nothing changes', async () => {
    const r = rig(at(0) - 1000);
    await r.runner.apply(
      schedule(
        1,
        [event('a', 'HARD', clip('one', minutes(1)), at(0)), event('b', 'FOLLOW', clip('two', minutes(5)))],
        filler,
      ),
    );
    await r.clock.runUntil(at(1, 20) - 500);
    expect(await r.runner.skip()).toEqual({ eventId: 'b', atMs: at(1, 20) });
    await r.clock.runUntil(at(1, 55));
    expect(r.runner.status()?.schedule.onAir).toMatchObject({ eventId: null, kind: 'FILLER', fills: 'GAP' });
    await expect(r.runner.skip()).rejects.toThrow(/no scheduled event on air to skip/);
    await r.clock.runUntil(at(2, 30));
    expect(ended(r).slice(1)).toEqual([
      'item-one PLAYED 10:00:00.000→10:01:00.000 planned 10:00:00.000→10:01:00.000',
      'item-two SKIPPED 10:01:00.000→10:01:20.000 planned 10:01:00.000→10:06:00.000 (skipped by an operator)',
      'item-fill PLAYED 10:01:20.000→10:01:50.000 planned 10:01:20.000→10:01:50.000',
      'item-fill PLAYED 10:01:50.000→10:02:20.000 planned 10:01:50.000→10:02:20.000',
    ]);
  });

  it('in the last 0.5 s of the event on air it is refused, naming that event: it plays out and the next event keeps its time', async () => {
    const r = rig(at(0) - 1000);
    await r.runner.apply(
      schedule(
        1,
        [event('a', 'HARD', clip('one', minutes(1)), at(0)), event('b', 'FOLLOW', clip('two', minutes(1)))],
        filler,
      ),
    );
    // 500 ms before a's end the first frame a skip could cut is a's end itself: the cut would land in b.
    await r.clock.runUntil(at(1) - 500);
    await expect(r.runner.skip()).rejects.toMatchObject({
      code: 'CONFLICT',
      eventId: 'a',
      message: expect.stringMatching(/^event a ends in 500 ms, before the first frame a skip can cut \(500 ms ahead\)/),
    });
    expect(r.runner.status()?.schedule.skipped).toBeUndefined();
    await r.clock.runUntil(at(2, 10));
    expect(ended(r).slice(1)).toEqual([
      'item-one PLAYED 10:00:00.000→10:01:00.000 planned 10:00:00.000→10:01:00.000',
      'item-two PLAYED 10:01:00.000→10:02:00.000 planned 10:01:00.000→10:02:00.000',
    ]);
  });

  it('one frame more than 0.5 s before the end it cuts the last frame', async () => {
    const r = rig(at(0) - 1000);
    await r.runner.apply(
      schedule(
        1,
        [event('a', 'HARD', clip('one', minutes(1)), at(0)), event('b', 'FOLLOW', clip('two', minutes(1)))],
        filler,
      ),
    );
    await r.clock.runUntil(at(1) - 540);
    expect(await r.runner.skip()).toEqual({ eventId: 'a', atMs: at(1) - 40 });
  });

  it('a double press is refused, naming the event already skipped; the next event airs from the first cut, unskipped', async () => {
    const r = rig(at(0) - 1000);
    await r.runner.apply(
      schedule(
        1,
        [
          event('a', 'HARD', clip('one', minutes(1)), at(0)),
          event('b', 'FOLLOW', clip('two', minutes(1))),
          event('c', 'FOLLOW', clip('three', minutes(1))),
        ],
        filler,
      ),
    );
    await r.clock.runUntil(at(0, 20) - 500);
    expect(await r.runner.skip()).toEqual({ eventId: 'a', atMs: at(0, 20) });
    // Pressed again 300 ms later, while a is still on air: the cut it would make is in b.
    await r.clock.runUntil(at(0, 20) - 200);
    await expect(r.runner.skip()).rejects.toMatchObject({
      code: 'CONFLICT',
      eventId: 'a',
      message:
        'event a is already skipped: it leaves air at 2026-12-02T10:00:20.000Z, and the next event is not on air yet',
    });
    expect(r.runner.status()?.schedule.skipped).toEqual({ a: iso(at(0, 20)) });
    await r.clock.runUntil(at(2, 30));
    expect(ended(r).slice(1)).toEqual([
      'item-one SKIPPED 10:00:00.000→10:00:20.000 planned 10:00:00.000→10:01:00.000 (skipped by an operator)',
      'item-two PLAYED 10:00:20.000→10:01:20.000 planned 10:00:20.000→10:01:20.000',
      'item-three PLAYED 10:01:20.000→10:02:20.000 planned 10:01:20.000→10:02:20.000',
    ]);
  });
});
