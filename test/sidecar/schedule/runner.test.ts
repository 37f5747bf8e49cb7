import { describe, expect, it } from 'vitest';
import { frameFrom, frameStartMs } from '../../../src/schedule/frames.ts';
import { StateConflictError } from '../../../src/sidecar/sequencer.ts';
import { clip, event, minutes } from '../../schedule/helpers.ts';
import { hms, RATE, rig, schedule } from './rig.ts';

// The runner's behaviour around the simulated day: restart, live edits,
// manual play over a schedule, no filler, a clip failing on air, takes.

const T0 = Date.parse('2026-12-02T10:00:00Z');
const at = (m: number, s = 0) => T0 + minutes(m) + s * 1000;
const filler = [clip('fill', 30_000)];

describe('ScheduleRunner', () => {
  it('joins in progress at start: the clip on air at the next frame, seeked in by the frames already played', async () => {
    const { clock, device, runner, events } = rig(at(5, 12));
    await runner.apply(schedule(1, [event('a', 'HARD', clip('prog', minutes(20)), at(0))], filler));
    await clock.runUntil(at(6));
    const joinFrame = frameFrom(at(5, 12) + 500, RATE);
    expect(device.output[0]).toMatchObject({
      itemId: 'item-prog',
      startFrame: joinFrame,
      inPointMs: frameStartMs(joinFrame, RATE) - at(0),
    });
    expect(device.output[0].endFrame).toBe(frameFrom(at(20), RATE));
    const onAir = events().find((e) => e.kind === 'ITEM_ON_AIR')!;
    expect(onAir).toMatchObject({
      itemId: 'item-prog',
      startedAt: new Date(frameStartMs(joinFrame, RATE)).toISOString(),
      schedule: { version: 1, eventId: 'a', plannedStartAt: new Date(at(0)).toISOString(), fills: null },
    });
    expect(events().filter((e) => e.kind === 'STATE_CHANGED')).toMatchObject([{ state: 'PLAYING' }]);
  });

  it('pins the segment after a join that reached air late to its planned frame, so the lateness does not carry on', async () => {
    const { clock, device, runner, asRun } = rig(at(1, 10));
    device.timedLateMs = 700; // the engine was still starting
    await runner.apply(
      schedule(
        1,
        [event('a', 'HARD', clip('one', minutes(2)), at(0)), event('b', 'FOLLOW', clip('two', minutes(1)))],
        [],
      ),
    );
    await clock.runUntil(at(3, 1));
    const join = frameFrom(at(1, 10) + 500, RATE);
    expect(device.output.map((s) => [s.itemId, s.startFrame, s.endFrame])).toEqual([
      ['item-one', frameFrom(frameStartMs(join, RATE) + 700, RATE), frameFrom(at(2), RATE)],
      ['item-two', frameFrom(at(2), RATE), frameFrom(at(3), RATE)],
    ]);
    expect(asRun()).toEqual([
      'item-one TRUNCATED 10:01:11.240→10:02:00.000',
      'item-two PLAYED 10:02:00.000→10:03:00.000',
    ]);
  });

  it('applies a new version from the next segment boundary; the same version changes nothing, an older one is STALE', async () => {
    const { clock, device, runner, asRun } = rig(at(0) - 500);
    const v1 = [
      event('a', 'HARD', clip('one', minutes(2)), at(0)),
      event('b', 'FOLLOW', clip('two', minutes(2))),
      event('c', 'HARD', clip('three', minutes(1)), at(4)),
    ];
    await runner.apply(schedule(1, v1, filler));
    await clock.runUntil(at(1, 59)); // 'two' is cued behind 'one' by now
    // v2: 'two' replaced, and a HARD event in the middle of the clip on air, which plays on.
    const v2 = [
      event('a', 'HARD', clip('one', minutes(2)), at(0)),
      event('x', 'HARD', clip('inserted', minutes(1)), at(1, 30)),
      event('b2', 'FOLLOW', clip('two-bis', minutes(2))),
      event('c', 'HARD', clip('three', minutes(1)), at(4)),
    ];
    expect(await runner.apply(schedule(2, v2, filler))).toEqual({ version: 2 });
    expect(await runner.apply(schedule(2, v1, filler))).toEqual({ version: 2 });
    await expect(runner.apply(schedule(1, v1, filler))).rejects.toMatchObject({ code: 'STALE' });
    await clock.runUntil(at(5, 1));
    expect(asRun()).toEqual([
      'item-one PLAYED 10:00:00.000→10:02:00.000',
      // From the boundary at 10:02, the new plan: 'inserted' (10:01:30 to 10:02:30) joined 30 s in,
      // then 'two-bis', cut by the HARD event at 10:04.
      'item-inserted PLAYED 10:02:00.000→10:02:30.000',
      'item-two-bis TRUNCATED 10:02:30.000→10:04:00.000',
      'item-three PLAYED 10:04:00.000→10:05:00.000',
    ]);
    expect(device.output.map((s) => s.itemId)).toEqual([
      'item-one',
      'item-inserted',
      'item-two-bis',
      'item-three',
      'item-fill',
    ]);
    expect(device.output[1].inPointMs).toBe(30_000);
    expect(runner.status()!.schedule.version).toBe(2);
  });

  it('suspends for manual play, comes back at the next HARD event on its frame, and at resume joining in progress', async () => {
    const { clock, device, runner, manual, asRun, events } = rig(at(0) - 500);
    await runner.apply(
      schedule(
        1,
        [
          event('a', 'HARD', clip('one', minutes(10)), at(0)),
          event('b', 'HARD', clip('two', minutes(10)), at(10)),
          event('c', 'SOFT', clip('three', minutes(10)), at(20)),
        ],
        filler,
      ),
    );
    await clock.runUntil(at(2));
    manual.on = true;
    await runner.suspend();
    expect(runner.status()!.schedule).toMatchObject({ suspended: true, onAir: null });
    expect(asRun()).toEqual(['item-one TRUNCATED 10:00:00.000→10:02:00.000']);
    expect(events().find((e) => e.kind === 'ITEM_ENDED')).toMatchObject({ reason: 'a playlist was loaded' });
    await clock.runUntil(at(10, 1));
    expect(manual.calls).toEqual(['handBack 2026-12-02T10:10:00.000Z', 'handedBack 2026-12-02T10:10:00.000Z']);
    expect(device.output.at(-1)).toMatchObject({ itemId: 'item-two', startFrame: frameFrom(at(10), RATE) });
    expect(runner.status()!.schedule.suspended).toBe(false);

    manual.on = true;
    await runner.suspend();
    await clock.runUntil(at(12));
    await runner.resume();
    await clock.runUntil(at(13));
    const join = frameFrom(at(12) + 500, RATE);
    expect(device.output.at(-1)).toMatchObject({
      itemId: 'item-two',
      startFrame: join,
      inPointMs: frameStartMs(join, RATE) - at(10),
    });
    await expect(runner.resume()).rejects.toBeInstanceOf(StateConflictError);
  });

  it('holds black with SCHEDULE_HOLD up where there is no filler, and clears it when the next clip airs', async () => {
    const { clock, device, runner, events } = rig(at(0) - 500);
    await runner.apply(
      schedule(
        1,
        [event('a', 'HARD', clip('one', minutes(1)), at(0)), event('b', 'HARD', clip('two', minutes(1)), at(3))],
        [],
      ),
    );
    await clock.runUntil(at(3, 30));
    expect(device.output.map((s) => [s.itemId, hms(new Date(frameStartMs(s.startFrame, RATE)).toISOString())])).toEqual(
      [
        ['item-one', '10:00:00.000'],
        ['item-two', '10:03:00.000'],
      ],
    );
    const alarms = events()
      .filter((e) => e.kind === 'ALARM_RAISED' || e.kind === 'ALARM_CLEARED')
      .map((e) => `${e.kind} ${'alarm' in e ? e.alarm : ''} ${hms(e.at)}`);
    expect(alarms).toEqual(['ALARM_RAISED SCHEDULE_HOLD 10:01:00.000', 'ALARM_CLEARED SCHEDULE_HOLD 10:03:00.000']);
  });

  it('replaces a clip that fails on air with filler for its planned remainder, joined at the next frames', async () => {
    const { clock, device, runner, asRun } = rig(at(0) - 500);
    device.failOnAir.set('media/bad.mxf', 20_000);
    await runner.apply(
      schedule(
        1,
        [event('a', 'HARD', clip('bad', minutes(1)), at(0)), event('b', 'FOLLOW', clip('two', minutes(1)))],
        [clip('fill', 15_000)],
      ),
    );
    await clock.runUntil(at(2, 1));
    expect(asRun()).toEqual([
      'item-bad FAILED 10:00:00.000→10:00:20.000',
      // Filler from the join 0.5 s after the failure, seeked to where the pool stands then, to the clip's planned end.
      'item-fill PLAYED 10:00:20.520→10:00:30.000',
      'item-fill PLAYED 10:00:30.000→10:00:45.000',
      'item-fill PLAYED 10:00:45.000→10:01:00.000',
      'item-two PLAYED 10:01:00.000→10:02:00.000',
    ]);
  });

  it('takes a MANUAL event at once, cutting the filler it held on; refuses one that is not holding', async () => {
    const { clock, device, runner, asRun } = rig(at(0) - 500);
    await runner.apply(
      schedule(
        1,
        [event('a', 'HARD', clip('one', minutes(1)), at(0)), event('m', 'MANUAL', clip('live', minutes(1)))],
        filler,
      ),
    );
    await expect(runner.take('a')).rejects.toThrow(/no MANUAL event a/);
    await clock.runUntil(at(1, 10));
    await runner.take('m');
    await expect(runner.take('m')).rejects.toThrow(/not holding/);
    await clock.runUntil(at(3));
    expect(asRun()).toEqual([
      'item-one PLAYED 10:00:00.000→10:01:00.000',
      'item-fill TRUNCATED 10:01:00.000→10:01:10.520',
      'item-live PLAYED 10:01:10.520→10:02:10.520',
      'item-fill PLAYED 10:02:10.520→10:02:40.520',
    ]);
    expect(device.output.find((s) => s.itemId === 'item-live')!.startFrame).toBe(frameFrom(at(1, 10) + 500, RATE));
  });
});
