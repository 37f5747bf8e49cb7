import { describe, expect, it } from 'vitest';
import { frameRateOf } from '../../src/schedule/frames.ts';
import {
  formatTimeCode,
  frameRateFromDecimal,
  frameTimeCode,
  parseTimeCode,
  timeCodeFrames,
  timeCodeDayFrames,
  timeCodeMs,
} from '../../src/schedule/time-code.ts';

const tc = (text: string) => {
  const read = parseTimeCode(text);
  if (!read.ok) throw new Error(read.reason);
  return read.value;
};
const frames = (text: string, format: string) => timeCodeFrames(tc(text), frameRateOf(format));
const ms = (text: string, format: string) => timeCodeMs(tc(text), frameRateOf(format));

describe('SMPTE time code', () => {
  it('reads labels with either separator of each kind; ; and , are drop-frame', () => {
    expect(parseTimeCode('10:00:00:00')).toEqual({
      ok: true,
      value: { hours: 10, minutes: 0, seconds: 0, frames: 0, dropFrame: false },
    });
    expect(tc('23:59:59.24').dropFrame).toBe(false);
    expect(tc('01:02:03;04').dropFrame).toBe(true);
    expect(tc('01:02:03,04').dropFrame).toBe(true);
    expect(formatTimeCode(tc('01:02:03,04'))).toBe('01:02:03;04');
  });

  it('refuses what is not a label, saying so', () => {
    for (const bad of ['24:00:00:00', '10:60:00:00', '10:00:60:00', '1:00:00:00', '10:00:00', '10-00-00-00', 'x', '']) {
      const read = parseTimeCode(bad);
      expect([bad, read.ok]).toEqual([bad, false]);
      if (!read.ok) expect(read.reason).toMatch(/is not SMPTE time code/);
    }
  });

  it('non-drop-frame at 25 fps: whole frames of 40 ms, exactly', () => {
    expect(frames('00:00:01:00', '1080i5000')).toEqual({ ok: true, value: 25 });
    expect(ms('10:00:00:00', '1080i5000')).toEqual({ ok: true, value: 36_000_000 });
    expect(ms('23:59:59:24', '1080i5000')).toEqual({ ok: true, value: 86_399_960 });
    expect(frames('00:00:00:25', '1080i5000')).toEqual({
      ok: false,
      reason: '00:00:00:25: frame 25 does not exist at 25 fps (00-24)',
    });
  });

  it('drop-frame at 29.97: frames 0 and 1 of each minute but every tenth are skipped', () => {
    // The first label after a skip, the tenth minute (nothing skipped), an hour, ten hours.
    expect(frames('00:01:00;02', '1080i5994')).toEqual({ ok: true, value: 1800 });
    expect(frames('00:00:59;29', '1080i5994')).toEqual({ ok: true, value: 1799 });
    expect(frames('00:10:00;00', '1080i5994')).toEqual({ ok: true, value: 17_982 });
    expect(frames('01:00:00;00', '1080i5994')).toEqual({ ok: true, value: 107_892 });
    // 1 078 920 frames of 1001/30 ms: 36 ms short of the clock's ten hours, as drop-frame runs.
    expect(ms('10:00:00;00', '1080i5994')).toEqual({ ok: true, value: 35_999_964 });
    expect(frames('00:01:00;01', '1080i5994')).toEqual({
      ok: false,
      reason: '00:01:00;01: drop-frame time code skips this label (frames 00-01 of minute 1)',
    });
    expect(frames('00:10:00;01', '1080i5994')).toEqual({ ok: true, value: 17_983 });
  });

  it('drop-frame at 59.94 skips four labels a minute', () => {
    expect(frames('00:01:00;04', '1080p5994')).toEqual({ ok: true, value: 3600 });
    expect(frames('01:00:00;00', '1080p5994')).toEqual({ ok: true, value: 215_784 });
    expect(frames('00:02:00;03', '1080p5994').ok).toBe(false);
  });

  it('non-drop-frame at 29.97 counts 30 labels to a second of 1001 ms', () => {
    expect(frames('01:00:00:00', '1080i5994')).toEqual({ ok: true, value: 108_000 });
    expect(ms('01:00:00:00', '1080i5994')).toEqual({ ok: true, value: 3_603_600 });
  });

  it('drop-frame exists only at 29.97 and 59.94', () => {
    expect(frames('00:00:01;00', '1080i5000')).toEqual({
      ok: false,
      reason: '00:00:01;00: drop-frame time code exists only at 29.97 and 59.94 fps, not 25',
    });
    expect(frames('00:00:01;00', '1080p2398').ok).toBe(false);
  });

  it('frame rates as BXF writes them', () => {
    expect(frameRateFromDecimal('25')).toEqual({ num: 25, den: 1 });
    expect(frameRateFromDecimal('29.97')).toEqual({ num: 30000, den: 1001 });
    expect(frameRateFromDecimal('23.976')).toEqual({ num: 24000, den: 1001 });
    expect(frameRateFromDecimal('59.94')).toEqual({ num: 60000, den: 1001 });
    expect(frameRateFromDecimal('50.0')).toEqual({ num: 50, den: 1 });
    for (const bad of ['27.5', '0', '-25', 'PAL', '', '1e3'])
      expect([bad, frameRateFromDecimal(bad)]).toEqual([bad, null]);
  });

  it('labels a frame count, the exact inverse of reading one, over a whole day of labels', () => {
    for (const [format, dropFrame, last] of [
      ['NTSC', true, '23:59:59;29'],
      ['720p5994', true, '23:59:59;59'],
      ['NTSC', false, '23:59:59:29'],
      ['1080i5000', false, '23:59:59:24'],
    ] as const) {
      const rate = frameRateOf(format);
      const day = timeCodeDayFrames(rate, dropFrame);
      const wrong: string[] = [];
      // A step prime to every cycle of labels (a minute, ten) lands on each place in them.
      for (let f = 0; f < day; f += 7) {
        const read = timeCodeFrames(frameTimeCode(f, rate, dropFrame), rate);
        if (!read.ok || read.value !== f) wrong.push(`${format} frame ${f}: ${JSON.stringify(read)}`);
      }
      expect(wrong.slice(0, 5)).toEqual([]);
      expect(formatTimeCode(frameTimeCode(day - 1, rate, dropFrame))).toBe(last);
      expect(() => frameTimeCode(day, rate, dropFrame)).toThrow(RangeError);
    }
    expect(timeCodeDayFrames(frameRateOf('NTSC'), true)).toBe(2_589_408);
    expect(formatTimeCode(frameTimeCode(1800, frameRateOf('NTSC'), true))).toBe('00:01:00;02');
    expect(formatTimeCode(frameTimeCode(17_982, frameRateOf('NTSC'), true))).toBe('00:10:00;00');
    expect(() => frameTimeCode(0, frameRateOf('1080i5000'), true)).toThrow(/drop-frame/);
  });
});
