import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkDeviceOnNode, outputView, planOutput, type OutputInput } from '../../src/domain/channels/outputs.ts';
import { decryptSecret, encryptSecret } from '../../src/domain/channels/secrets.ts';
import { VIDEO_FORMAT_NAMES, framesToMs, msToFrames, videoFormatSchema } from '../../src/protocol/video-formats.ts';

const srt = (passphrase?: string | null): OutputInput => ({
  srt: { url: 'srt://h:1', latencyMs: 80, ...(passphrase !== undefined && { passphrase }) },
});
const rtmp = (streamKey?: string | null): OutputInput => ({
  rtmp: { url: 'rtmp://h/app', ...(streamKey !== undefined && { streamKey }) },
});

describe('planOutput', () => {
  const srtWithSecret = {
    outputType: 'SRT' as const,
    output: { url: 'srt://h:1', latencyMs: null, passphraseSet: true },
  };
  const rtmpWithKey = { outputType: 'RTMP' as const, output: { url: 'rtmp://h/app', streamKeySet: true } };
  const ndiBefore = { outputType: 'NDI' as const, output: { name: 'n' } };

  it.each([
    [
      'create SRT with a passphrase',
      srt('0123456789'),
      null,
      { passphraseSet: true },
      { kind: 'set', secret: { passphrase: '0123456789' } },
    ],
    ['create SRT without one', srt(), null, { passphraseSet: false }, { kind: 'set', secret: null }],
    ['same type, omitted: kept', srt(), srtWithSecret, { passphraseSet: true }, { kind: 'keep' }],
    ['same type, null: removed', srt(null), srtWithSecret, { passphraseSet: false }, { kind: 'set', secret: null }],
    [
      'same type, given: replaced',
      srt('abcdefghij'),
      srtWithSecret,
      { passphraseSet: true },
      { kind: 'set', secret: { passphrase: 'abcdefghij' } },
    ],
    [
      'type change, omitted: old secret dropped',
      srt(),
      rtmpWithKey,
      { passphraseSet: false },
      { kind: 'set', secret: null },
    ],
    ['RTMP kept', rtmp(), rtmpWithKey, { streamKeySet: true }, { kind: 'keep' }],
    ['RTMP to NDI drops the key', { ndi: { name: 'x' } }, rtmpWithKey, { name: 'x' }, { kind: 'set', secret: null }],
    ['NDI to NDI keeps (no secret)', { ndi: { name: 'x' } }, ndiBefore, { name: 'x' }, { kind: 'keep' }],
    [
      'NDI to RTMP with a key',
      rtmp('key'),
      ndiBefore,
      { streamKeySet: true },
      { kind: 'set', secret: { streamKey: 'key' } },
    ],
    // A secret belongs to its destination: a new host, port, path or scheme without a new secret drops it.
    [
      'SRT new host, omitted: dropped',
      { srt: { url: 'srt://evil.example:1' } },
      srtWithSecret,
      { passphraseSet: false },
      { kind: 'set', secret: null },
    ],
    [
      'SRT new port, omitted: dropped',
      { srt: { url: 'srt://h:2' } },
      srtWithSecret,
      { passphraseSet: false },
      { kind: 'set', secret: null },
    ],
    [
      'SRT new host with a new one: replaced',
      { srt: { url: 'srt://k:1', passphrase: 'abcdefghij' } },
      srtWithSecret,
      { passphraseSet: true },
      { kind: 'set', secret: { passphrase: 'abcdefghij' } },
    ],
    [
      'SRT latency and streamid only: kept',
      { srt: { url: 'srt://H:1?streamid=a', latencyMs: 500 } },
      srtWithSecret,
      { passphraseSet: true },
      { kind: 'keep' },
    ],
    [
      'RTMP new app, omitted: dropped',
      { rtmp: { url: 'rtmp://h/other' } },
      rtmpWithKey,
      { streamKeySet: false },
      { kind: 'set', secret: null },
    ],
    [
      'RTMP new host, omitted: dropped',
      { rtmp: { url: 'rtmp://evil.example/app' } },
      rtmpWithKey,
      { streamKeySet: false },
      { kind: 'set', secret: null },
    ],
    [
      'RTMP new port, omitted: dropped',
      { rtmp: { url: 'rtmp://h:1936/app' } },
      rtmpWithKey,
      { streamKeySet: false },
      { kind: 'set', secret: null },
    ],
    [
      'RTMP to RTMPS, omitted: dropped',
      { rtmp: { url: 'rtmps://h/app' } },
      rtmpWithKey,
      { streamKeySet: false },
      { kind: 'set', secret: null },
    ],
    [
      'RTMP trailing slash only: kept',
      { rtmp: { url: 'rtmp://h/app/' } },
      rtmpWithKey,
      { streamKeySet: true },
      { kind: 'keep' },
    ],
  ] as const)('%s', (_label, input, previous, output, secret) => {
    const plan = planOutput('input.output', input as OutputInput, previous);
    expect(plan.output).toMatchObject(output);
    expect(plan.secret).toEqual(secret);
    expect(JSON.stringify(plan.output)).not.toMatch(/0123456789|abcdefghij|"key"/);
  });

  it('keeps the DeckLink device in its own column and only for DeckLink', () => {
    expect(planOutput('o', { decklink: { deviceIndex: 3 } })).toMatchObject({
      outputType: 'DECKLINK',
      decklinkDevice: 3,
    });
    expect(planOutput('o', { ndi: { name: 'a' } }).decklinkDevice).toBeNull();
  });

  it('rejects no member or several', () => {
    expect(() => planOutput('input.output', {})).toThrow('input.output: exactly one');
    expect(() => planOutput('input.output', { ndi: { name: 'a' }, ...rtmp() })).toThrow('input.output: exactly one');
  });

  it('reads stored outputs back as union members', () => {
    expect(outputView('SRT', { url: 'srt://h:1', latencyMs: 5, passphraseSet: true })).toEqual({
      kind: 'SRT',
      url: 'srt://h:1',
      latencyMs: 5,
      passphraseSet: true,
    });
    expect(outputView('RTMP', { url: 'rtmp://h/a' })).toEqual({ kind: 'RTMP', url: 'rtmp://h/a', streamKeySet: false });
  });

  it('checks a DeckLink device against the node', () => {
    expect(() => checkDeviceOnNode('f', 2, { hostname: 'n1', decklinkDevices: 2 })).not.toThrow();
    expect(() => checkDeviceOnNode('f', 2, null)).not.toThrow();
    expect(() => checkDeviceOnNode('f', 3, { hostname: 'n1', decklinkDevices: 2 })).toThrow(
      'f: device 3 does not exist: node n1 has 2 DeckLink devices',
    );
    expect(() => checkDeviceOnNode('f', 1, { hostname: 'n0', decklinkDevices: 0 })).toThrow(
      'node n0 has 0 DeckLink devices',
    );
  });
});

describe('secrets', () => {
  const key = randomBytes(32);
  it('round-trips, with a fresh IV each time', () => {
    const a = encryptSecret(key, 'c1', { streamKey: 'k' });
    expect(a).not.toBe(encryptSecret(key, 'c1', { streamKey: 'k' }));
    expect(decryptSecret(key, 'c1', a)).toEqual({ streamKey: 'k' });
  });
  it('refuses another channel, another key or an altered text', () => {
    const a = encryptSecret(key, 'c1', { passphrase: 'p'.repeat(12) });
    expect(() => decryptSecret(key, 'c2', a)).toThrow();
    expect(() => decryptSecret(randomBytes(32), 'c1', a)).toThrow();
    const parts = a.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[3] = body.toString('base64url');
    expect(() => decryptSecret(key, 'c1', parts.join('.'))).toThrow();
  });
});

describe('video formats', () => {
  it("knows exactly CasparCG's 39 modes, by exact name", () => {
    expect(VIDEO_FORMAT_NAMES).toHaveLength(39);
    expect(videoFormatSchema.safeParse('1080i5000').success).toBe(true);
    expect(videoFormatSchema.safeParse('1080I5000').success).toBe(false);
  });
  it.each([
    ['1080i5000', 1000, 25],
    ['1080p5000', 1000, 50],
    ['1080p5994', 1001, 60],
    ['1080p5994', 1000, 59],
    ['1080i5994', 60_060, 1800],
    ['NTSC', 1001, 30],
    ['2160p2398', 3_600_000, 86313],
  ])('%s: %i ms is %i frames', (format, ms, frames) => {
    expect(msToFrames(ms, format)).toBe(frames);
  });
  it('converts frames back to ms', () => {
    expect(framesToMs(25, '1080i5000')).toBe(1000);
    expect(framesToMs(60, '1080p5994')).toBe(1001);
  });
});
