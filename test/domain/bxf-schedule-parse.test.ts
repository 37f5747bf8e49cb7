import { describe, expect, it } from 'vitest';
import type { ChannelClock } from '../../src/domain/schedules/bxf/bxf-time.ts';
import { parseBxfSchedule } from '../../src/domain/schedules/bxf/parse.ts';
import { frameRateOf } from '../../src/schedule/frames.ts';
import { bxfScheduleMessage, checkBxfStructure, type TestBxfEvent } from '../helpers/bxf-schedule.ts';

// A channel in London at 25 fps whose broadcast days start at 06:00. 2026-10-24's
// day runs 25 hours: the clocks go back at 02:00 BST on the 25th.
const LONDON: ChannelClock = { rate: frameRateOf('1080i5000'), timeZone: 'Europe/London', dayStart: '06:00' };
const DAY = '2026-10-24';
const uuid = (n: number) => `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const day = (events: TestBxfEvent[], over: Partial<Parameters<typeof bxfScheduleMessage>[0]> = {}) =>
  bxfScheduleMessage({ broadcastDate: DAY, events, ...over });

describe('parseBxfSchedule: a day of primary events', () => {
  const events: TestBxfEvent[] = [
    {
      eventId: uuid(1),
      startMode: 'Fixed',
      start: '06:00:00:00',
      duration: '00:29:30:00',
      houseNumber: 'NEWS-0600',
      name: 'Morning News',
    },
    {
      eventId: uuid(2),
      startMode: 'Follow',
      start: '06:29:30:00',
      duration: '00:00:30:00',
      houseNumber: 'JFMC1201',
      name: 'Johnson Motors',
    },
    { eventId: uuid(3), secondary: true, start: '06:29:30:00', duration: '00:00:10:00' },
    {
      eventId: uuid(4),
      startMode: 'Fixed',
      start: '06:30:00:12',
      duration: '00:10:00:00',
      name: 'Weather.mxf',
      som: '00:00:10:05',
    },
    { eventId: uuid(5), startMode: 'Manual', start: '06:40:00:00', duration: '00:05:00:00', houseNumber: 'LIVE-IN' },
    {
      eventId: uuid(6),
      startMode: 'Fixed',
      nominal: true,
      start: '07:00:00:00',
      duration: '01:00:00:00',
      houseNumber: 'FILM-1',
    },
    // Early hours of the next calendar date, after the clocks went back: 02:30 GMT.
    { eventId: uuid(7), startMode: 'Fixed', start: '02:30:00:00', duration: '00:30:00:00', houseNumber: 'NIGHT-1' },
  ];
  const document = day(events);

  it('is built from SMPTE schedule structure', () => checkBxfStructure(document));

  it('maps start modes to triggers, times to UTC instants, lengths and SOM to ms; secondary events are counted', () => {
    const read = parseBxfSchedule(document, LONDON);
    expect(read.problems).toEqual([]);
    expect(read.broadcastDate).toBe(DAY);
    expect(read.ignored).toBe(1);
    expect(read.events).toEqual([
      {
        eventId: uuid(1),
        index: 1,
        trigger: 'HARD',
        at: '2026-10-24T05:00:00.000Z',
        plannedAt: '2026-10-24T05:00:00.000Z',
        durationMs: 1_770_000,
        inPointMs: 0,
        houseNumber: 'NEWS-0600',
        name: 'Morning News',
      },
      {
        eventId: uuid(2),
        index: 2,
        trigger: 'FOLLOW',
        at: null,
        plannedAt: '2026-10-24T05:29:30.000Z',
        durationMs: 30_000,
        inPointMs: 0,
        houseNumber: 'JFMC1201',
        name: 'Johnson Motors',
      },
      {
        eventId: uuid(4),
        index: 4,
        trigger: 'HARD',
        at: '2026-10-24T05:30:00.480Z',
        plannedAt: '2026-10-24T05:30:00.480Z',
        durationMs: 600_000,
        inPointMs: 10_200,
        houseNumber: null,
        name: 'Weather.mxf',
      },
      {
        eventId: uuid(5),
        index: 5,
        trigger: 'MANUAL',
        at: null,
        plannedAt: '2026-10-24T05:40:00.000Z',
        durationMs: 300_000,
        inPointMs: 0,
        houseNumber: 'LIVE-IN',
        name: null,
      },
      {
        eventId: uuid(6),
        index: 6,
        trigger: 'SOFT',
        at: '2026-10-24T06:00:00.000Z',
        plannedAt: '2026-10-24T06:00:00.000Z',
        durationMs: 3_600_000,
        inPointMs: 0,
        houseNumber: 'FILM-1',
        name: null,
      },
      {
        eventId: uuid(7),
        index: 7,
        trigger: 'HARD',
        at: '2026-10-25T02:30:00.000Z',
        plannedAt: '2026-10-25T02:30:00.000Z',
        durationMs: 1_800_000,
        inPointMs: 0,
        houseNumber: 'NIGHT-1',
        name: null,
      },
    ]);
  });

  it('reads any BXF edition namespace, and prefixed elements', () => {
    const edition2017 = day(events.slice(0, 1), { namespace: 'http://smpte-ra.org/schemas/2021/2017/BXF' });
    expect(parseBxfSchedule(edition2017, LONDON).events).toHaveLength(1);
    const prefixed = edition2017
      .replace(
        'xmlns="http://smpte-ra.org/schemas/2021/2017/BXF"',
        'xmlns:bxf="http://smpte-ra.org/schemas/2021/2017/BXF"',
      )
      .replace(/<(\/?)(?!pmcp:|\?)([A-Za-z])/g, '<$1bxf:$2');
    const read = parseBxfSchedule(prefixed, LONDON);
    expect(read.problems).toEqual([]);
    expect(read.events[0]).toMatchObject({ eventId: uuid(1), houseNumber: 'NEWS-0600', trigger: 'HARD' });
  });
});

describe('parseBxfSchedule: frame-accurate time', () => {
  const NEW_YORK: ChannelClock = { rate: frameRateOf('1080i5994'), timeZone: 'America/New_York', dayStart: '00:00' };

  it('drop-frame time code at 29.97: the label is a frame count, not clock time', () => {
    const document = day(
      [
        // 1 078 920 frames after midnight EDT: 09:59:59.964, 36 ms before the clock's ten o'clock.
        { eventId: uuid(1), startMode: 'Fixed', start: '10:00:00;00', duration: '00:01:00;02', houseNumber: 'A' },
        { eventId: uuid(2), startMode: 'Fixed', start: '10:01:00;02', duration: '00:00:00;15', houseNumber: 'B' },
      ],
      { broadcastDate: '2026-06-01', frameRate: '29.97' },
    );
    checkBxfStructure(document);
    const read = parseBxfSchedule(document, NEW_YORK);
    expect(read.problems).toEqual([]);
    expect(read.events.map((e) => [e.at, e.durationMs])).toEqual([
      ['2026-06-01T13:59:59.964Z', 60_060], // 1800 frames of 1001/30 ms
      ['2026-06-01T14:01:00.024Z', 500], // 15 frames, rounded down to the ms
    ]);
    // The second starts exactly where the first ends, to the ms.
    expect(Date.parse(read.events[1].at!) - Date.parse(read.events[0].at!)).toBe(60_060);
  });

  it('a framecount is taken over the time code; UtcDateTime and UtcDuration are read too', () => {
    const document = day([
      {
        eventId: uuid(1),
        startMode: 'Fixed',
        start: '06:00:00:00',
        duration: '00:00:01:00',
        framecount: 30,
        houseNumber: 'A',
      },
    ]);
    expect(parseBxfSchedule(document, LONDON).events[0].durationMs).toBe(1200);
    const utc = day([
      {
        eventId: uuid(1),
        startMode: 'Fixed',
        utc: '2026-10-24T07:15:00.040+01:00',
        duration: '00:00:01:00',
        houseNumber: 'A',
      },
    ]).replace(
      /<LengthOption>.*?<\/LengthOption>/,
      '<LengthOption><Duration><UtcDuration>PT1M30.5S</UtcDuration></Duration></LengthOption>',
    );
    expect(parseBxfSchedule(utc, LONDON)).toMatchObject({
      broadcastDate: DAY,
      problems: [],
      events: [{ at: '2026-10-24T06:15:00.040Z', durationMs: 90_500 }],
    });
  });

  it("a time the clocks pass twice is its first passing; the day's start is checked against the channel's", () => {
    const twice = parseBxfSchedule(
      day([{ eventId: uuid(1), startMode: 'Fixed', start: '01:30:00:00', duration: '00:10:00:00', houseNumber: 'A' }]),
      LONDON,
    );
    expect(twice.events[0].at).toBe('2026-10-25T00:30:00.000Z');
    const agreed = day(
      [{ eventId: uuid(1), startMode: 'Fixed', start: '06:00:00:00', duration: '00:00:10:00', houseNumber: 'A' }],
      {
        utcStartofBroadcastDay: '2026-10-24T05:00:00Z',
      },
    );
    expect(parseBxfSchedule(agreed, LONDON).problems).toEqual([]);
    const other = agreed.replace('2026-10-24T05:00:00Z', '2026-10-24T00:00:00Z');
    expect(parseBxfSchedule(other, LONDON).problems).toEqual([
      {
        eventId: uuid(1),
        index: 1,
        reason:
          "StartDateTime: utcStartofBroadcastDay 2026-10-24T00:00:00Z is not the start of the channel's broadcast day " +
          '2026-10-24 (2026-10-24T05:00:00.000Z: 06:00 in Europe/London)',
      },
    ]);
  });
});

describe('parseBxfSchedule: what cannot be read is reported, never thrown', () => {
  const documentReason = (document: string) => {
    const read = parseBxfSchedule(document, LONDON);
    expect(read.events).toEqual([]);
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0]).toMatchObject({ eventId: null, index: null });
    return read.problems[0].reason;
  };
  const one = [
    { eventId: uuid(1), startMode: 'Fixed', start: '06:00:00:00', duration: '00:00:10:00', houseNumber: 'A' },
  ];

  it('documents that are not one BXF schedule', () => {
    expect(documentReason('')).toMatch(/^not a BXF message: its root is not BxfMessage|^not well-formed XML/);
    expect(documentReason('<BxfMessage><BxfData>')).toMatch(/^not well-formed XML \(line 1, column \d+\): /);
    expect(documentReason('{"events": []}')).toMatch(/^not well-formed XML|^not a BXF message/);
    expect(documentReason('<?xml version="1.0"?><Playlist/>')).toBe('not a BXF message: its root is not BxfMessage');
    expect(documentReason(day(one, { namespace: 'urn:something-else' }))).toBe(
      'not a BXF message: BxfMessage is not in a SMPTE ST 2021 namespace',
    );
    expect(documentReason(`<!DOCTYPE x [<!ENTITY a "aaaa">]>${day(one).slice(39)}`)).toBe(
      'a BXF message has no DOCTYPE; this one declares one',
    );
    expect(documentReason(day(one).replace('action="add"', 'action="delete"'))).toBe(
      'BxfData action "delete" is not a schedule to import (add or replace)',
    );
    const two = day(one).replace(/(<Schedule [\s\S]*<\/Schedule>)/, '$1$1');
    expect(documentReason(two)).toBe("the message holds 2 schedules; import one channel's schedule at a time");
    expect(documentReason(day(one).replace(/<ScheduledEvent>.*<\/ScheduledEvent>\n/, ''))).toBe(
      'the schedule holds no event',
    );
  });

  it('each event that cannot be read, by its id and why; the others are still read', () => {
    const read = parseBxfSchedule(
      day([
        { eventId: uuid(1), startMode: 'Fixed', start: '06:00:00:00', duration: '00:00:10:00', houseNumber: 'OK-1' },
        { eventId: '', startMode: 'Follow', duration: '00:00:10:00', houseNumber: 'A' },
        { eventId: uuid(3), startMode: 'External', duration: '00:00:10:00', houseNumber: 'A' },
        { eventId: uuid(4), startMode: 'Fixed', start: '06:10:00;00', duration: '00:00:10:00', houseNumber: 'A' },
        { eventId: uuid(5), startMode: 'Fixed', start: '06:20:00:25', duration: '00:00:10:00', houseNumber: 'A' },
        { eventId: uuid(6), startMode: 'Follow', duration: '00:00:00:00', houseNumber: 'A' },
        { eventId: uuid(7), startMode: 'Follow', duration: '00:00:10:00' },
        { eventId: uuid(8), startMode: 'Sometimes', duration: '00:00:10:00', houseNumber: 'A' },
        { eventId: uuid(1), startMode: 'Follow', duration: '00:00:10:00', houseNumber: 'OK-2' },
      ]),
      LONDON,
    );
    expect(read.events.map((e) => e.houseNumber)).toEqual(['OK-1', 'OK-2']);
    expect(read.problems).toEqual([
      { eventId: null, index: 2, reason: 'has no EventId (EventData/EventId/EventId)' },
      { eventId: uuid(3), index: 3, reason: 'StartMode External (started by another device) is not supported' },
      {
        eventId: uuid(4),
        index: 4,
        reason: 'StartDateTime: 06:10:00;00: drop-frame time code exists only at 29.97 and 59.94 fps, not 25',
      },
      { eventId: uuid(5), index: 5, reason: 'StartDateTime: 06:20:00:25: frame 25 does not exist at 25 fps (00-24)' },
      { eventId: uuid(6), index: 6, reason: 'its length is zero or negative' },
      { eventId: uuid(7), index: 7, reason: 'has no Content: nothing to play' },
      { eventId: uuid(8), index: 8, reason: 'StartMode "Sometimes" is not Fixed, Follow, Manual or External' },
      { eventId: uuid(1), index: 9, reason: 'its EventId is used by an event before it' },
    ]);
  });

  it('fixed times out of air order are refused, naming the event', () => {
    const read = parseBxfSchedule(
      day([
        { eventId: uuid(1), startMode: 'Fixed', start: '07:00:00:00', duration: '00:00:10:00', houseNumber: 'A' },
        {
          eventId: uuid(2),
          startMode: 'Fixed',
          nominal: true,
          start: '06:59:00:00',
          duration: '00:00:10:00',
          houseNumber: 'B',
        },
        { eventId: uuid(3), startMode: 'Fixed', start: '07:10:00:00', duration: '00:00:10:00', houseNumber: 'C' },
      ]),
      LONDON,
    );
    expect(read.problems).toEqual([
      {
        eventId: uuid(2),
        index: 2,
        reason: `its start 2026-10-24T05:59:00.000Z is not after that of ${uuid(1)} (2026-10-24T06:00:00.000Z), a timed event before it`,
      },
    ]);
  });

  it('events of two broadcast days are refused: one day is imported at a time', () => {
    const document = day(one).replace(
      '</ScheduledEvent>',
      `</ScheduledEvent>${day([{ eventId: uuid(2), startMode: 'Fixed', start: '07:00:00:00', duration: '00:00:10:00', houseNumber: 'B' }], { broadcastDate: '2026-10-25' }).match(/<ScheduledEvent>.*<\/ScheduledEvent>/)![0]}`,
    );
    expect(parseBxfSchedule(document, LONDON).problems).toEqual([
      {
        eventId: null,
        index: null,
        reason: 'the events name 2 broadcast days (2026-10-24, 2026-10-25); import one day at a time',
      },
    ]);
  });
});
