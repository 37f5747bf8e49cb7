import { describe, expect, it } from 'vitest';
import { Alarms } from '../../src/sidecar/alarms.ts';
import { isPermanentSenderError, retryDelay } from '../../src/sidecar/engines/ffmpeg/output-link.ts';
import { EventLog } from '../../src/sidecar/event-log.ts';

describe('alarm bookkeeping', () => {
  it('logs a raise once and a clear once, updates the message of an alarm already up, and lists what is up', () => {
    let now = Date.parse('2026-12-02T00:00:00Z');
    const log = new EventLog({ now: () => now });
    const alarms = new Alarms(log, () => now);
    alarms.raise('OUTPUT_LOST', 'output lost: SRT srt://h:9000: refused; reconnecting');
    now += 1000;
    alarms.raise('OUTPUT_LOST', 'output lost: SRT srt://h:9000: timed out; reconnecting');
    alarms.clear('ENGINE_BEHIND');
    expect(alarms.list()).toEqual([
      {
        kind: 'OUTPUT_LOST',
        message: 'output lost: SRT srt://h:9000: timed out; reconnecting',
        since: '2026-12-02T00:00:00.000Z',
      },
    ]);
    alarms.clear('OUTPUT_LOST');
    alarms.clear('OUTPUT_LOST');
    expect(log.after(0).map((e) => [e.kind, 'alarm' in e ? e.alarm : null])).toEqual([
      ['ALARM_RAISED', 'OUTPUT_LOST'],
      ['ALARM_CLEARED', 'OUTPUT_LOST'],
    ]);
    expect(alarms.list()).toEqual([]);
    alarms.count('outputReconnects');
    alarms.count('framesDropped', 3);
    expect(alarms.counters()).toEqual({ outputReconnects: 1, framesDropped: 3 });
  });
});

describe('output reconnection', () => {
  it('waits 250 ms doubling up to 1 s between sender restarts', () => {
    expect([0, 1, 2, 3, 10].map((n) => retryDelay(n))).toEqual([250, 500, 1000, 1000, 1000]);
  });

  it('gives up only on errors no retry can fix, never on a refused or lost connection', () => {
    expect(isPermanentSenderError("[NULL @ 0x1] Unable to find a suitable output format for 'x://h'")).toBe(true);
    expect(isPermanentSenderError('x://h: Protocol not found')).toBe(true);
    expect(isPermanentSenderError('[tcp @ 0x1] Connection to tcp://127.0.0.1:1935 failed: Connection refused')).toBe(
      false,
    );
    expect(isPermanentSenderError('[srt @ 0x1] Connection setup failure: connection timed out')).toBe(false);
    expect(isPermanentSenderError('av_interleaved_write_frame(): Broken pipe')).toBe(false);
  });
});
