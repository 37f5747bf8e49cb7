import { describe, expect, it } from 'vitest';
import {
  bxfAsRun,
  bxfDuration,
  bxfStartDateTime,
  frameClock,
  planNote,
  smpteTimeCode,
  xmlAttr,
  xmlText,
} from '../../src/domain/as-run/export/bxf.ts';
import { CSV_HEADER, csvField, csvRow, neutralizeFormula } from '../../src/domain/as-run/export/csv.ts';
import type { ExportRow } from '../../src/domain/as-run/export/read.ts';
import { frameAt, frameRateOf } from '../../src/schedule/frames.ts';
import { parseTimeCode, timeCodeFrames } from '../../src/schedule/time-code.ts';

describe('BXF time code', () => {
  it.each([
    ['PAL', '25', 25, ':'],
    ['1080i5000', '25', 25, ':'],
    ['NTSC', '29.97', 30, ';'],
    ['1080i5994', '29.97', 30, ';'],
    ['720p5994', '59.94', 60, ';'],
    ['1080p2398', '23.976', 24, ':'],
    ['2160p6000', '60', 60, ':'],
  ])('%s: frameRate %s, %i labels a second, separator %s', (format, frameRate, nominal, separator) => {
    expect(frameClock(format)).toEqual({ frameRate, nominal, separator, videoFormat: format });
  });

  it('labels the last frame of a second and of a day', () => {
    expect(smpteTimeCode(999, frameClock('1080i5000'))).toBe('00:00:00:24');
    expect(smpteTimeCode(86_399_999, frameClock('1080p5994'))).toBe('23:59:59;59');
  });

  it('drop-frame labels are the frame count the schedule import reads, not clock time', () => {
    // 23:00 by the clock is frame 2,481,518 at 29.97: 23:00:00;02 (clock-time labels said ;00, two frames early).
    expect(smpteTimeCode(82_800_000, frameClock('NTSC'))).toBe('23:00:00;02');
    expect(smpteTimeCode(82_800_000, frameClock('720p5994'))).toBe('23:00:00;04');
    expect(smpteTimeCode(60_000, frameClock('NTSC'))).toBe('00:00:59;28');
    for (const format of ['NTSC', '720p5994', '1080i5000', '1080p2398']) {
      const rate = frameRateOf(format);
      for (let ms = 0; ms < 86_390_000; ms += 997_003) {
        const label = parseTimeCode(smpteTimeCode(ms, frameClock(format)));
        const read = label.ok ? timeCodeFrames(label.value, rate) : label;
        expect([format, ms, read]).toEqual([format, ms, { ok: true, value: frameAt(ms, rate) }]);
      }
    }
  });

  it('writes the start in UTC whatever the time zone of the reader', () => {
    expect(bxfStartDateTime(new Date('2026-06-30T23:59:59.960+00:00'), frameClock('1080i5000'))).toBe(
      '<StartDateTime><SmpteDateTime broadcastDate="2026-06-30" utcStartofBroadcastDay="2026-06-30T00:00:00Z" frameRate="25">' +
        '<SmpteTimeCode>23:59:59:24</SmpteTimeCode></SmpteDateTime></StartDateTime>',
    );
  });

  it('a duration of a day or more does not fit time code: xs:duration', () => {
    expect(bxfDuration(86_399_960, frameClock('1080i5000'))).toBe(
      '<Duration><SmpteDuration frameRate="25" framecount="2159999"><SmpteTimeCode>23:59:59:24</SmpteTimeCode></SmpteDuration></Duration>',
    );
    expect(bxfDuration(90_000_500, frameClock('1080i5000'))).toBe(
      '<Duration><UtcDuration>PT90000.5S</UtcDuration></Duration>',
    );
  });

  it('an unknown format still gives valid time code, without a frame rate', () => {
    expect(bxfDuration(1_500, frameClock('nonsense'))).toBe(
      '<Duration><SmpteDuration><SmpteTimeCode>00:00:01:12</SmpteTimeCode></SmpteDuration></Duration>',
    );
  });
});

describe('escaping', () => {
  it('XML text and attributes', () => {
    expect(xmlText('a & <b> "c" \'d\'\r\n\u0000\uD800')).toBe('a &amp; &lt;b&gt; "c" \'d\'&#13;\n\uFFFD\uFFFD');
    expect(xmlAttr('a & <b> "c" \'d\'\t\r\n')).toBe('a &amp; &lt;b&gt; &quot;c&quot; &apos;d&apos;&#9;&#13;&#10;');
    expect(xmlText('🎬')).toBe('🎬');
  });

  it('CSV fields and formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(['=1+1', '+1', '-1', '@x', '\tx', '\rx', ' =x', 'a=b'].map(neutralizeFormula)).toEqual([
      "'=1+1",
      "'+1",
      "'-1",
      "'@x",
      "'\tx",
      "'\rx",
      ' =x',
      'a=b',
    ]);
  });
});

describe('as-run against plan in the exports', () => {
  const planned = new Date('2026-12-02T12:00:00.000Z');
  const row = (startedAt: string, extra: Partial<ExportRow> = {}): ExportRow => ({
    id: '00000000-0000-4000-8000-000000000001',
    channelId: '00000000-0000-4000-8000-000000000002',
    channelName: 'Main',
    playlistId: null,
    itemId: null,
    assetId: '00000000-0000-4000-8000-000000000003',
    clipName: 'news.mp4',
    startedAt: new Date(startedAt),
    endedAt: new Date('2026-12-02T12:00:30.000Z'),
    durationMs: 30_000,
    status: 'PLAYED',
    reason: null,
    scheduleEventId: '00000000-0000-4000-8000-000000000004',
    plannedStartAt: planned,
    plannedEndAt: new Date('2026-12-02T12:00:30.000Z'),
    fills: null,
    ...extra,
  });
  const clock = frameClock('1080i5000');

  it('a note says how the entry aired against its planned start, in frames; manual play has none', () => {
    expect(planNote(row('2026-12-02T12:00:00.000Z'), clock)).toBe(
      'Against plan: planned 2026-12-02 12:00:00:00 UTC, started on its frame.',
    );
    expect(planNote(row('2026-12-02T12:00:00.080Z'), clock)).toBe(
      'Against plan: planned 2026-12-02 12:00:00:00 UTC, started 2 frame(s) late (+80 ms).',
    );
    expect(planNote(row('2026-12-02T11:59:59.960Z', { fills: 'MISSING', scheduleEventId: null }), clock)).toBe(
      'Against plan: planned 2026-12-02 12:00:00:00 UTC, started 1 frame(s) early (-40 ms); filler in place of a scheduled clip that could not air.',
    );
    expect(planNote(row('2026-12-02T12:00:00.000Z', { plannedStartAt: null, plannedEndAt: null }), clock)).toBeNull();
  });

  it('BXF keeps its structure: the plan is an EventNote and onair attributes', () => {
    const xml = bxfAsRun(row('2026-12-02T12:00:00.040Z', { status: 'TRUNCATED' }), clock);
    expect(xml).toContain(
      '<EventNotes><EventNote>Truncated: cut short by a stop or a failure of the channel.</EventNote><EventNote>Against plan: planned 2026-12-02 12:00:00:00 UTC, started 1 frame(s) late (+40 ms).</EventNote></EventNotes>',
    );
    expect(xml).toContain(
      'scheduleEventId="00000000-0000-4000-8000-000000000004" plannedStartAt="2026-12-02T12:00:00.000Z" plannedEndAt="2026-12-02T12:00:30.000Z" offsetMs="40"/>',
    );
  });

  it('an event the schedule passed is "Did not air" in BXF, with a note saying so', () => {
    // As as-run-skipped.ts writes it: no asset, no length, its planned span empty.
    const xml = bxfAsRun(
      row('2026-12-02T12:00:00.000Z', {
        status: 'SKIPPED',
        assetId: null,
        durationMs: 0,
        endedAt: planned,
        plannedEndAt: planned,
        reason: 'the schedule passed it: it never aired',
      }),
      clock,
    );
    expect(xml).toContain('<Status>Did not air</Status>');
    expect(xml).toContain(
      '<EventNote>Skipped: the schedule passed it (a MANUAL event not taken, or overrun by a HARD event); it never aired.</EventNote>',
    );
  });

  it('an event an operator skipped on air aired, cut short: "Aired with Duration Discrepancy", its aired length, the plan it was cut from', () => {
    const skipped = row('2026-12-02T12:00:00.000Z', {
      status: 'SKIPPED',
      endedAt: new Date('2026-12-02T12:00:12.000Z'),
      durationMs: 12_000,
      reason: 'skipped by an operator',
    });
    const xml = bxfAsRun(skipped, clock);
    expect(xml).toContain(
      '<AsRunDetail><Status>Aired with Duration Discrepancy</Status><Type>Primary</Type>' +
        '<StartDateTime><SmpteDateTime broadcastDate="2026-12-02" utcStartofBroadcastDay="2026-12-02T00:00:00Z" frameRate="25"><SmpteTimeCode>12:00:00:00</SmpteTimeCode></SmpteDateTime></StartDateTime>' +
        '<Duration><SmpteDuration frameRate="25" framecount="300"><SmpteTimeCode>00:00:12:00</SmpteTimeCode></SmpteDuration></Duration>' +
        '<EventNotes><EventNote>Skipped: cut short by an operator.</EventNote><EventNote>Against plan: planned 2026-12-02 12:00:00:00 UTC, started on its frame.</EventNote></EventNotes></AsRunDetail>',
    );
    expect(xml).toContain(
      'status="SKIPPED" reason="skipped by an operator" scheduleEventId="00000000-0000-4000-8000-000000000004" plannedStartAt="2026-12-02T12:00:00.000Z" plannedEndAt="2026-12-02T12:00:30.000Z" offsetMs="0"/>',
    );
    // Even one cut a single frame after it went on air aired: never "Did not air".
    const brief = { durationMs: 40, endedAt: new Date('2026-12-02T12:00:00.040Z') };
    expect(bxfAsRun({ ...skipped, ...brief }, clock)).toContain('<Status>Aired with Duration Discrepancy</Status>');
    // The CSV carries the same: SKIPPED with its reason, the length it aired and the plan.
    expect(csvRow(skipped)).toMatch(
      /,2026-12-02T12:00:00\.000Z,2026-12-02T12:00:12\.000Z,12000,SKIPPED,skipped by an operator,00000000-0000-4000-8000-000000000004,2026-12-02T12:00:00\.000Z,2026-12-02T12:00:30\.000Z,0,\r\n$/,
    );
  });

  it('CSV: five columns after reason, empty for manual play', () => {
    expect(CSV_HEADER).toBe(
      'id,channel_id,channel_name,playlist_id,item_id,asset_id,clip_name,started_at,ended_at,duration_ms,status,reason,schedule_event_id,planned_start_at,planned_end_at,offset_ms,fills\r\n',
    );
    expect(csvRow(row('2026-12-02T11:59:59.960Z', { fills: 'GAP', scheduleEventId: null }))).toMatch(
      /,PLAYED,,,2026-12-02T12:00:00\.000Z,2026-12-02T12:00:30\.000Z,-40,GAP\r\n$/,
    );
    expect(csvRow(row('2026-12-02T12:00:00.000Z', { plannedStartAt: null, plannedEndAt: null }))).toMatch(
      /,PLAYED,,00000000-0000-4000-8000-000000000004,,,,\r\n$/,
    );
  });
});
