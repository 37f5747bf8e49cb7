import { afterEach, describe, expect, it } from 'vitest';
import { RESTORE_FIRST_MS } from '../../../src/sidecar/engines/casparcg/channel.ts';
import { ended, item, onAir, rig, type Rig } from './harness.ts';

let rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs) await r.close();
  rigs = [];
});

describe('the program output dropped by CasparCG Server', () => {
  it('raises OUTPUT_LOST, adds it again with back-off while the server refuses, clears once it is back; the clip plays on', async () => {
    const r = await rig({
      output: { type: 'SRT', url: 'srt://127.0.0.1:9000' },
      engine: { consumerCheckMs: 100 },
      peer: { clips: { 'clips/a.mp4': 12 } },
    });
    rigs.push(r);
    await r.load({ loop: false, items: [item('A', 'a.mp4', 12_000)] });
    await r.waitFor((evs) => !!onAir(evs, 'A'));

    // As when its ffmpeg consumer fails (receiver gone): the server drops it, and refuses the next two ADDs.
    r.peer.failNext(/^ADD 1-700/, '404 ADD FAILED');
    r.peer.failNext(/^ADD 1-700/, '404 ADD FAILED');
    const droppedAt = Date.now();
    r.peer.dropConsumer(1, 700);

    const raisedEvents = await r.waitFor((evs) =>
      evs.some((e) => e.kind === 'ALARM_RAISED' && e.alarm === 'OUTPUT_LOST'),
    );
    const raised = raisedEvents.find((e) => e.kind === 'ALARM_RAISED')!;
    // Seen at the next consumer check (100 ms here, 2 s by default) and the next INFO poll.
    expect(Date.parse(raised.at) - droppedAt).toBeLessThan(1000);
    expect(raised.kind === 'ALARM_RAISED' && raised.message).toBe(
      'CasparCG channel 1 dropped the SRT srt://127.0.0.1:9000 output (the server drops a failing consumer): adding it again',
    );
    expect(r.alarms.list().map((a) => a.kind)).toEqual(['OUTPUT_LOST']);

    const events = await r.waitFor(
      (evs) => evs.some((e) => e.kind === 'ALARM_CLEARED' && e.alarm === 'OUTPUT_LOST'),
      20_000,
    );
    expect(r.peer.consumers(1).get(700)).toBe('ffmpeg');
    // Three ADDs: refused, refused a back-off later, taken twice that later.
    const adds = r.peer.commands
      .filter((c) => c.line.startsWith('ADD 1-700') && c.atMs >= droppedAt)
      .map((c) => c.atMs);
    expect(adds).toHaveLength(3);
    expect(adds[1] - adds[0]).toBeGreaterThanOrEqual(RESTORE_FIRST_MS - 50);
    expect(adds[2] - adds[1]).toBeGreaterThanOrEqual(2 * RESTORE_FIRST_MS - 50);
    const errors = events.flatMap((e) => (e.kind === 'ERROR' ? [e.message] : []));
    expect(
      errors.filter((m) => m.startsWith('CasparCG could not add the SRT srt://127.0.0.1:9000 output again')),
    ).toHaveLength(2);
    expect(errors).toContain(
      'CasparCG channel 1 had lost its SRT srt://127.0.0.1:9000 output (the server drops a failing consumer): added it again',
    );
    // Raised and cleared once each; the clip played on meanwhile.
    expect(events.filter((e) => e.kind === 'ALARM_RAISED' || e.kind === 'ALARM_CLEARED').map((e) => e.kind)).toEqual([
      'ALARM_RAISED',
      'ALARM_CLEARED',
    ]);
    expect(ended(events, 'A')).toBeUndefined();
    expect(r.peer.layer(1, 10).foreground).toMatch(/a\.mp4/i);
    expect(r.alarms.list()).toEqual([]);
    expect(r.alarms.counters().outputReconnects).toBe(1);
  });
});
