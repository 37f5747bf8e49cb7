import { describe, expect, it } from 'vitest';
import { frameAt, frameFrom, frameRateOf, frameStartMs, framesToMs } from '../../src/schedule/frames.ts';
import { ScheduleSchema, type Schedule, type ScheduleEvent } from '../../src/schedule/model.ts';
import { nowAndNext, onAirAt } from '../../src/schedule/on-air.ts';
import { planSchedule, type Plan } from '../../src/schedule/plan.ts';
import { broadcastDay, localToUtc } from '../../src/schedule/time-zone.ts';
import { clip, event, minutes, plannedEvent, segmentsOf, tilingFaults } from './helpers.ts';

// A simulated broadcast day with an injected clock and no waiting: Saturday
// 24 October 2026 in London, 06:00 BST to 06:00 GMT on Sunday, 25 hours (the
// clocks go back at 02:00 BST). Hard, soft, follow and manual events, gaps,
// over-runs and a clip whose media is missing; planned at 25 and 29.97 fps.

const ZONE = 'Europe/London';
const DAY = broadcastDay('2026-10-24', ZONE);
const local = (hour: number, minute = 0, second = 0, day = 24) =>
  localToUtc({ year: 2026, month: 10, day, hour, minute, second }, ZONE);
const TAKE_E08 = local(10, 15, 3) + 500;

function daySchedule(
  videoFormat: string,
  filler = [clip('filler-a', 30_000), clip('filler-b', 45_000), clip('filler-c', 20_000)],
): Schedule {
  const events: ScheduleEvent[] = [
    event(
      'e01',
      'HARD',
      [clip('news-1', minutes(20)), clip('news-2', minutes(20)), clip('news-3', minutes(15))],
      local(6),
    ),
    event('e02', 'FOLLOW', clip('weather', minutes(3))), // ends 06:58: two minutes of filler before 07:00
    event('e03', 'SOFT', clip('magazine', minutes(50)), local(7)),
    event('e04', 'FOLLOW', clip('cartoon', minutes(15))), // 07:50 to 08:05: cut at 08:00
    event('e05', 'HARD', clip('film', minutes(62)), local(8)), // runs to 09:02
    event('e06', 'SOFT', clip('quiz', minutes(30)), local(9)), // pushed to 09:02
    event('e07', 'FOLLOW', clip('talk', minutes(30))), // ends 10:02
    event('e08', 'MANUAL', clip('live-link', minutes(20))), // taken at 10:15:03.5
    event('e09', 'FOLLOW', clip('documentary', minutes(10), 'asset-missing')), // its media is missing
    event('e10', 'SOFT', [clip('series-1', minutes(30)), clip('series-2', minutes(30))], local(11)),
    event('e11', 'MANUAL', clip('press-conference', minutes(10))), // never taken
    event('e12', 'FOLLOW', clip('reaction', minutes(5))),
    event('e13', 'HARD', clip('sport', minutes(240)), local(14)),
    event('e14', 'SOFT', clip('evening-news', minutes(45)), local(18)), // due exactly when sport ends
  ];
  // The night: a programme every half hour of UTC from 19:00 BST, through the
  // change (local 01:00 and 01:30 come twice), some short (filler), some long (cut).
  for (let k = 0; k < 24; k++) {
    const length = minutes(20 + ((k * 7) % 16)) + 13_000;
    events.push(
      event(`n${k}`, 'HARD', clip(`night-${k}`, length), Date.parse('2026-10-24T18:00:00Z') + k * minutes(30)),
    );
    events.push(event(`n${k}-promo`, 'FOLLOW', clip(`promo-${k % 3}`, 45_000)));
  }
  return ScheduleSchema.parse({ version: 7, videoFormat, timeZone: ZONE, events, filler });
}

function plan(schedule: Schedule, nowMs: number, window = DAY): Plan {
  return planSchedule(schedule, frameRateOf(schedule.videoFormat), {
    window,
    nowMs,
    taken: new Map([['e08', TAKE_E08]]),
    missingAssets: new Set(['asset-missing']),
  });
}

describe.each([
  ['1080i5000', 25],
  ['1080i5994', 30000 / 1001],
])('a 25-hour day across the change to GMT at %s', (videoFormat, fps) => {
  const schedule = daySchedule(videoFormat);
  const rate = frameRateOf(videoFormat);
  const day = plan(schedule, local(12, 30));
  const frames = (ms: number) => frameFrom(ms, rate);
  const ev = (id: string) => plannedEvent(day, id);

  it('covers every frame of the 25 hours with a clip or filler, no gap and no overlap', () => {
    expect(day.toFrame - day.fromFrame).toBe(frames(DAY.toMs) - frames(DAY.fromMs));
    expect(Math.abs(day.toFrame - day.fromFrame - 25 * 3600 * fps)).toBeLessThan(1);
    expect(tilingFaults(day)).toEqual([]);
    expect(day.segments.filter((s) => s.kind === 'HOLD' || s.clip === null)).toEqual([]);
    expect(day.segments.some((s) => s.alarm)).toBe(false);
  });

  it('starts every HARD event on its frame exactly, across the change of clocks', () => {
    const hard = schedule.events.filter((e) => e.trigger === 'HARD');
    expect(hard).toHaveLength(27);
    for (const e of hard) {
      const p = ev(e.eventId);
      expect(p.status).toBe('PLANNED');
      expect(p.startFrame).toBe(frames(Date.parse(e.at!)));
      expect(day.segments.find((s) => s.startFrame === p.startFrame)?.eventId).toBe(e.eventId);
    }
    // The night's programmes in London time: 01:00 and 01:30 twice, 02:00 once.
    const clock = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, hour: '2-digit', minute: '2-digit' });
    const times = hard.filter((e) => e.eventId.startsWith('n')).map((e) => clock.format(Date.parse(e.at!)));
    expect(times.filter((t) => t === '01:30')).toHaveLength(2);
    expect(times.filter((t) => t === '02:00')).toHaveLength(1);
  });

  it('cuts an over-run at a HARD event (TRUNCATED) and pushes a SOFT one', () => {
    // cartoon: 07:50 + 15 min, cut at 08:00.
    expect(ev('e04')).toMatchObject({
      endFrame: frames(local(8)),
      truncatedFrames: ev('e04').startFrame! + ev('e04').durationFrames - frames(local(8)),
    });
    // Five minutes, within the frame each of 07:50, 08:00 and the clip's length is rounded to at 29.97 fps.
    expect(Math.abs(ev('e04').truncatedFrames - (minutes(5) / 1000) * fps)).toBeLessThan(2);
    expect(segmentsOf(day, 'e04').at(-1)!.truncated).toBe(true);
    // film: 08:00 + 62 min pushes the 09:00 quiz by two minutes.
    expect(ev('e06').startFrame).toBe(ev('e05').endFrame);
    expect(ev('e06').lateFrames).toBe(ev('e05').endFrame! - frames(local(9)));
    expect(segmentsOf(day, 'e06').map((s) => [s.pushed, s.startMs])).toEqual([
      [true, frameStartMs(ev('e06').startFrame!, rate)],
    ]);
    expect(new Date(segmentsOf(day, 'e06')[0].startMs).toISOString()).toMatch(/^2026-10-24T08:02:00\.0\d\dZ$/);
    expect(segmentsOf(day, 'e05').every((s) => !s.pushed)).toBe(true);
    expect(ev('e05').overrunFrames).toBe(ev('e06').lateFrames);
    expect(Math.abs(ev('e06').lateFrames - (minutes(2) / 1000) * fps)).toBeLessThan(2);
    // Every pair of events, whatever the trigger, as the trigger says.
    const planned = day.events.filter((e) => e.status === 'PLANNED');
    for (let i = 1; i < planned.length; i++) {
      const [a, b] = [planned[i - 1], planned[i]];
      const nominalEnd = a.startFrame! + a.durationFrames;
      if (b.trigger === 'HARD' || b.trigger === 'MANUAL') {
        expect(a.endFrame).toBe(Math.min(nominalEnd, b.startFrame!));
        expect(a.truncatedFrames).toBe(Math.max(0, nominalEnd - b.startFrame!));
      } else {
        expect(a.endFrame).toBe(nominalEnd);
        expect(b.startFrame).toBe(b.trigger === 'SOFT' ? Math.max(b.timedFrame!, nominalEnd) : nominalEnd);
      }
    }
    // The night: a programme longer than its half hour is cut by the next and its promo never airs.
    for (let k = 0; k < 23; k++) {
      const long = (k * 7) % 16 >= 10;
      expect([ev(`n${k}`).truncatedFrames > 0, ev(`n${k}-promo`).status]).toEqual(
        long ? [true, 'SKIPPED'] : [false, 'PLANNED'],
      );
    }
  });

  it('fills a gap before a timed event with filler, the last one trimmed to end on its frame', () => {
    const gap = day.segments.filter((s) => s.startFrame >= ev('e02').endFrame! && s.endFrame <= ev('e03').startFrame!);
    expect(gap.every((s) => s.kind === 'FILLER' && s.fills === 'GAP')).toBe(true);
    expect(gap.map((s) => s.clip!.clipName).slice(0, 4)).toEqual(
      ['filler-a', 'filler-b', 'filler-c', 'filler-a'].slice(0, Math.min(4, gap.length)),
    );
    expect(gap.at(-1)!.endFrame).toBe(frames(local(7)));
    expect(ev('e02').underrunFrames).toBe(frames(local(7)) - ev('e02').endFrame!);
  });

  it('holds on filler until a MANUAL event is taken, and starts it at the take', () => {
    expect(ev('e08')).toMatchObject({ status: 'PLANNED', startFrame: frames(TAKE_E08) });
    const held = day.segments.filter((s) => s.startFrame >= ev('e07').endFrame! && s.endFrame <= ev('e08').startFrame!);
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((s) => s.kind === 'FILLER' && s.fills === 'MANUAL')).toBe(true);
  });

  it('plans an untaken MANUAL event as holding until a HARD event passes it, then skipped', () => {
    expect([ev('e11').status, ev('e12').status, ev('e11').startFrame]).toEqual(['HOLDING', 'HOLDING', null]);
    const held = day.segments.filter((s) => s.startFrame >= ev('e10').endFrame! && s.endFrame <= ev('e13').startFrame!);
    expect(held.every((s) => s.fills === 'MANUAL')).toBe(true);
    const later = plan(schedule, local(15));
    expect([plannedEvent(later, 'e11').status, plannedEvent(later, 'e12').status]).toEqual(['SKIPPED', 'SKIPPED']);
    expect(later.segments).toEqual(day.segments);
  });

  it('replaces a clip whose media is missing with filler for its planned length', () => {
    const e09 = ev('e09');
    expect(e09).toMatchObject({ status: 'PLANNED', missingClips: 1, durationFrames: Math.round(600 * fps) });
    const instead = segmentsOf(day, 'e09');
    expect(instead.every((s) => s.kind === 'FILLER' && s.fills === 'MISSING')).toBe(true);
    expect([instead[0].startFrame, instead.at(-1)!.endFrame]).toEqual([e09.startFrame, e09.endFrame]);
    expect(ev('e10').startFrame).toBe(frames(local(11)));
  });

  it('lays out the same segments whatever window is asked for', () => {
    const window = { fromMs: local(10), toMs: local(12) };
    const part = plan(schedule, local(12, 30), window);
    expect(tilingFaults(part)).toEqual([]);
    const [from, to] = [frames(window.fromMs), frames(window.toMs)];
    expect(part.segments).toEqual(day.segments.filter((s) => s.endFrame > from && s.startFrame < to));
    expect(part.events).toEqual(day.events);
  });

  it('tiles any window, before the first event or long after the last, with the same filler every time', () => {
    const hour = 3_600_000;
    for (const window of [
      { fromMs: DAY.fromMs - 30 * hour, toMs: DAY.fromMs - 29 * hour },
      { fromMs: DAY.fromMs - 2 * hour, toMs: DAY.fromMs + hour },
      { fromMs: DAY.toMs + 48 * hour, toMs: DAY.toMs + 49 * hour },
    ]) {
      const part = plan(schedule, local(12, 30), window);
      expect(tilingFaults(part)).toEqual([]);
      expect(part.segments.every((s) => s.endFrame > part.fromFrame && s.startFrame < part.toFrame)).toBe(true);
      // Half of it planned again: the same segments where the two overlap.
      const half = plan(schedule, local(12, 30), { fromMs: window.fromMs + hour / 2, toMs: window.toMs });
      expect(half.segments).toEqual(part.segments.filter((s) => s.endFrame > half.fromFrame));
    }
  });

  it('joins in progress: the segment on air at an instant and the frame to seek to', () => {
    const at = local(8, 10, 0) + 500;
    const now = onAirAt(day, at)!;
    expect(now.segment).toMatchObject({ eventId: 'e05', kind: 'CLIP' });
    expect(now.offsetFrames).toBe(frameAt(at, rate) - ev('e05').startFrame!);
    expect(now.seekMs).toBe(framesToMs(now.offsetFrames, rate));
    // Within two frames of 10:00.5 (the start is the first frame at or after 08:00, the instant's the frame on air).
    expect(Math.abs(now.seekMs - minutes(10) - 500)).toBeLessThan(2000 / fps);
    // In a block: the second clip of the news, from its own start.
    const news2 = onAirAt(day, local(6, 25))!;
    expect(news2.segment.clip!.clipName).toBe('news-2');
    expect(news2.offsetFrames).toBe(frameAt(local(6, 25), rate) - news2.segment.startFrame);
    // In the filler before 07:00, then what follows.
    const inGap = nowAndNext(day, local(6, 59));
    expect(inGap.now!.segment.kind).toBe('FILLER');
    expect(inGap.event).toBeNull();
    expect(inGap.nextEvent!.eventId).toBe('e03');
    const first = nowAndNext(day, local(6, 0, 1));
    expect([first.event!.eventId, first.nextSegment!.clip!.clipName]).toEqual(['e01', 'news-2']);
    expect(onAirAt(day, DAY.fromMs - 3_600_000)).toBeNull();
  });
});

describe('a day with no filler at all', () => {
  it('holds black where filler would be, and raises an alarm there', () => {
    const schedule = daySchedule('1080p2500', []);
    const day = plan(schedule, local(12, 30));
    expect(tilingFaults(day)).toEqual([]);
    const black = day.segments.filter((s) => s.kind === 'HOLD');
    expect(black.length).toBeGreaterThan(0);
    expect(black.every((s) => s.alarm && s.clip === null)).toBe(true);
    expect(black.map((s) => s.fills)).toEqual(expect.arrayContaining(['GAP', 'MANUAL', 'MISSING']));
    expect(day.segments.filter((s) => s.kind === 'CLIP').every((s) => !s.alarm)).toBe(true);
  });
});

describe('a 23-hour day in New York at 59.94 fps, the clocks going forward', () => {
  const zone = 'America/New_York';
  const day = broadcastDay('2026-03-08', zone, '00:00');
  const rate = frameRateOf('1080p5994');
  // A programme on every local hour the day has (02:00 does not exist), each 50 min + a 30 s promo.
  const hours = Array.from({ length: 24 }, (_, h) => h).filter((h) => h !== 2);
  const events = hours.flatMap((h) => [
    event(`h${h}`, 'HARD', clip(`prog-${h}`, minutes(50)), localToUtc({ year: 2026, month: 3, day: 8, hour: h }, zone)),
    event(`h${h}-promo`, 'FOLLOW', clip('promo', 30_000)),
  ]);
  const schedule = ScheduleSchema.parse({
    version: 1,
    videoFormat: '1080p5994',
    timeZone: zone,
    events,
    filler: [clip('loop', 20_020)],
  });
  const p = planSchedule(schedule, rate, { window: day, nowMs: day.fromMs });

  it('has 23 hours of frames, all covered, each programme on its frame, an hour apart in UTC across the change', () => {
    expect(day.toMs - day.fromMs).toBe(23 * 3_600_000);
    expect(tilingFaults(p)).toEqual([]);
    expect(p.segments.some((s) => s.kind === 'HOLD')).toBe(false);
    for (const h of hours)
      expect(plannedEvent(p, `h${h}`).startFrame).toBe(
        frameFrom(Date.parse(schedule.events.find((e) => e.eventId === `h${h}`)!.at!), rate),
      );
    // 01:00 EST to 03:00 EDT is one hour: 215,784.2 frames, so 215,784 or 215,785 between the two starts.
    const gap = plannedEvent(p, 'h3').startFrame! - plannedEvent(p, 'h1').startFrame!;
    expect([215_784, 215_785]).toContain(gap);
    // Each gap after a promo is filler trimmed to the next hour's frame.
    const before3 = p.segments.filter((s) => s.endFrame === plannedEvent(p, 'h3').startFrame);
    expect(before3).toMatchObject([{ kind: 'FILLER', fills: 'GAP' }]);
  });
});
