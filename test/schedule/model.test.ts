import { describe, expect, it } from 'vitest';
import { ScheduleSchema } from '../../src/schedule/model.ts';
import { clip, event, minutes } from './helpers.ts';

const at = (iso: string) => Date.parse(iso);
const valid = {
  version: 1,
  videoFormat: '1080i5000',
  timeZone: 'Europe/London',
  events: [
    event('a', 'HARD', clip('one', minutes(1)), at('2026-10-24T05:00:00Z')),
    event('b', 'FOLLOW', clip('two', minutes(1))),
  ],
  filler: [clip('filler', 30_000)],
};
const issues = (input: unknown) => {
  const r = ScheduleSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('a schedule as the control plane and the sidecar parse it', () => {
  it('takes events with triggers, blocks of clips, a time zone, a video format and a filler pool', () => {
    expect(issues(valid)).toEqual([]);
    expect(
      issues({
        ...valid,
        events: [
          ...valid.events,
          event('c', 'SOFT', [clip('x', 1000), clip('y', 1000)], at('2026-10-24T06:00:00+01:00') + 1),
        ],
      }),
    ).toEqual([]);
  });

  it('says what is wrong with a schedule it refuses', () => {
    const { events } = valid;
    expect(
      issues({
        ...valid,
        events: [
          { ...events[0], at: undefined },
          { ...events[1], at: events[0].at },
        ],
      }),
    ).toEqual(['events.0.at: a HARD event needs a time', 'events.1.at: a FOLLOW event has no time']);
    expect(issues({ ...valid, events: [events[1], events[0]] })).toEqual([
      'events.0.trigger: the first event must be HARD or SOFT',
    ]);
    expect(
      issues({ ...valid, events: [events[0], event('a', 'SOFT', clip('z', 1000), at('2026-10-24T04:00:00Z'))] }),
    ).toEqual([
      'events.1.eventId: must be unique',
      'events.1.at: must be after the time of every timed event before it',
    ]);
    expect(issues({ ...valid, timeZone: 'Mars/Olympus', videoFormat: '1080p25' })).toEqual([
      'videoFormat: must be a CasparCG video mode, e.g. 1080i5000, 1080p5994, 720p5000 or 2160p5000',
      'timeZone: must be an IANA time zone, e.g. Europe/London',
    ]);
    expect(issues({ ...valid, events: [event('a', 'HARD', [], at('2026-10-24T05:00:00Z'))] })).toEqual([
      'events.0.content.clips: a block holds at least one clip',
    ]);
  });
});
