import { describe, expect, it } from 'vitest';
import { bxfDuration, bxfStartDateTime, frameClock, smpteTimeCode, xmlAttr, xmlText } from '../../src/domain/as-run-export/bxf.ts';
import { csvField, neutralizeFormula } from '../../src/domain/as-run-export/csv.ts';

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
    expect(bxfDuration(90_000_500, frameClock('1080i5000'))).toBe('<Duration><UtcDuration>PT90000.5S</UtcDuration></Duration>');
  });

  it('an unknown format still gives valid time code, without a frame rate', () => {
    expect(bxfDuration(1_500, frameClock('nonsense'))).toBe('<Duration><SmpteDuration><SmpteTimeCode>00:00:01:12</SmpteTimeCode></SmpteDuration></Duration>');
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
