import { describe, expect, it } from 'vitest';
import { type AssetCandidate, eventsAfter, matchEvents } from '../../src/domain/schedules/bxf/match.ts';
import type { BxfEvent } from '../../src/domain/schedules/bxf/parse.ts';

const event = (n: number, over: Partial<BxfEvent>): BxfEvent => ({
  eventId: `urn:uuid:${n}`,
  index: n,
  trigger: 'FOLLOW',
  at: null,
  plannedAt: null,
  durationMs: 10_000,
  inPointMs: 0,
  houseNumber: null,
  name: null,
  ...over,
});

const ASSETS: AssetCandidate[] = [
  { id: 'a-news', houseId: 'NEWS-0600', filename: 'news.mxf', durationMs: 1_800_000 },
  { id: 'a-spot', houseId: 'JFMC1201', filename: 'spot.mxf', durationMs: 30_000 },
  { id: 'a-weather', houseId: null, filename: 'Weather.mxf', durationMs: null },
  { id: 'a-twin1', houseId: null, filename: 'twin.mxf', durationMs: 5_000 },
  { id: 'a-twin2', houseId: null, filename: 'twin.mxf', durationMs: 5_000 },
];

describe('matchEvents', () => {
  it('by house ID first, else by clip name', () => {
    const { matched, problems } = matchEvents(
      [
        event(1, { houseNumber: 'NEWS-0600', name: 'spot.mxf' }),
        event(2, { houseNumber: 'UNKNOWN', name: 'Weather.mxf', durationMs: 600_000 }),
        event(3, { name: 'spot.mxf', durationMs: 30_000 }),
      ],
      ASSETS,
    );
    expect(problems).toEqual([]);
    expect(matched.map((m) => [m.eventId, m.assetId])).toEqual([
      ['urn:uuid:1', 'a-news'],
      ['urn:uuid:2', 'a-weather'],
      ['urn:uuid:3', 'a-spot'],
    ]);
  });

  it('reports every event it cannot match, and why', () => {
    const { matched, problems } = matchEvents(
      [
        event(1, { houseNumber: 'NOPE-1', name: 'nope.mxf' }),
        event(2, { houseNumber: 'NOPE-2' }),
        event(3, { name: 'twin.mxf', durationMs: 1000 }),
        event(4, { houseNumber: 'JFMC1201', durationMs: 30_000, inPointMs: 40 }),
        event(5, { houseNumber: 'JFMC1201', durationMs: 30_000 }),
      ],
      ASSETS,
    );
    expect(matched.map((m) => m.eventId)).toEqual(['urn:uuid:5']);
    expect(problems).toEqual([
      {
        eventId: 'urn:uuid:1',
        index: 1,
        reason: `no asset of the channel's project has house ID "NOPE-1" or the name "nope.mxf"`,
      },
      { eventId: 'urn:uuid:2', index: 2, reason: `no asset of the channel's project has house ID "NOPE-2"` },
      { eventId: 'urn:uuid:3', index: 3, reason: '2 assets are named "twin.mxf": give the right one the house ID' },
      {
        eventId: 'urn:uuid:4',
        index: 4,
        reason: 'plays 30 s from 0.04 s into asset a-spot ("spot.mxf"), which is 30 s long',
      },
    ]);
  });
});

describe('eventsAfter', () => {
  const day = Date.parse('2026-10-24T05:00:00Z');
  const events = [
    event(1, { trigger: 'HARD', at: '2026-10-24T05:00:00.000Z', durationMs: 600_000 }),
    event(2, { trigger: 'FOLLOW', durationMs: 600_000 }), // 05:10 - 05:20
    event(3, { trigger: 'SOFT', at: '2026-10-24T05:15:00.000Z', durationMs: 600_000 }), // pushed to 05:20
    event(4, { trigger: 'MANUAL', durationMs: 60_000 }), // 05:30
    event(5, { trigger: 'HARD', at: '2026-10-24T06:00:00.000Z', durationMs: 60_000 }),
  ];
  it('keeps the events that start after now by the document timeline', () => {
    const ids = (now: string) => eventsAfter(events, Date.parse(now), day).map((e) => e.index);
    expect(ids('2026-10-24T04:00:00Z')).toEqual([1, 2, 3, 4, 5]);
    expect(ids('2026-10-24T05:00:00Z')).toEqual([2, 3, 4, 5]);
    expect(ids('2026-10-24T05:19:59.999Z')).toEqual([3, 4, 5]);
    expect(ids('2026-10-24T05:20:00Z')).toEqual([4, 5]);
    expect(ids('2026-10-24T07:00:00Z')).toEqual([]);
  });

  it('a day that starts with a follow starts at the time the document gives it', () => {
    const follows = [
      event(1, { trigger: 'FOLLOW', plannedAt: '2026-10-24T05:30:00.000Z', durationMs: 600_000 }),
      event(2, { trigger: 'FOLLOW', plannedAt: '2026-10-24T05:40:00.000Z', durationMs: 600_000 }),
    ];
    expect(eventsAfter(follows, Date.parse('2026-10-24T05:29:59Z'), day).map((e) => e.index)).toEqual([1, 2]);
    expect(eventsAfter(follows, Date.parse('2026-10-24T05:30:00Z'), day).map((e) => e.index)).toEqual([2]);
  });
});
