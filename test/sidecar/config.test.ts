import { describe, expect, it } from 'vitest';
import {
  blackFrame,
  decoderArgs,
  encoderArgs,
  framesFor,
  probeArgs,
  programTarget,
  redact,
  samplesForFrame,
  senderArgs,
  senderPreset,
} from '../../src/sidecar/engines/ffmpeg/args.ts';
import { EngineError } from '../../src/sidecar/engines/engine.ts';
import { describeOutput, loadSidecarConfig } from '../../src/sidecar/config.ts';
import { hlsSettings } from '../../src/sidecar/hls.ts';
import { VIDEO_MODES } from '../../src/sidecar/video-modes.ts';

const env = {
  CHANNEL_ID: '5b1c1e64-7a49-4c1e-9d8f-2c7d3b6a9e01',
  PORT: '0',
  SIDECAR_SECRET: 's'.repeat(32),
  ENGINE: 'ffmpeg',
  VIDEO_FORMAT: '1080i5000',
  MEDIA_DIR: '/media',
  OUTPUT_JSON: JSON.stringify({
    type: 'SRT',
    url: 'srt://10.0.0.1:9000',
    latencyMs: 120,
    passphrase: 'topsecret-pass',
  }),
};

describe('sidecar config', () => {
  it('parses a valid environment with defaults', () => {
    const c = loadSidecarConfig(env);
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 0,
      engine: 'ffmpeg',
      videoMode: { width: 1920, height: 1080, rateNum: 25 },
    });
    expect(JSON.stringify(describeOutput(c.output))).not.toContain('topsecret');
  });

  it.each([
    [{ CHANNEL_ID: 'nope' }, /CHANNEL_ID: must be a UUID/],
    [{ SIDECAR_SECRET: 'short' }, /SIDECAR_SECRET: must be at least 32/],
    [{ VIDEO_FORMAT: '1080p2398' }, /VIDEO_FORMAT: must be a supported video mode/],
    [{ ENGINE: 'vlc' }, /ENGINE: must be one of/],
    [{ MEDIA_DIR: 'relative' }, /MEDIA_DIR: must be an absolute path/],
    [{ PORT: '70000' }, /PORT: /],
    [{ OUTPUT_JSON: '{' }, /OUTPUT_JSON: must be JSON/],
    [
      { OUTPUT_JSON: '{"type":"SRT","url":"http://x","passphrase":"topsecret-pass"}' },
      /OUTPUT_JSON.url: must start with srt/,
    ],
    [{ ENGINE: 'casparcg', CASPARCG_PORT: 'x' }, /CASPARCG_PORT: /],
  ])('refuses %j clearly, without echoing secrets', (patch, message) => {
    let err: Error | undefined;
    try {
      loadSidecarConfig({ ...env, ...patch });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toMatch(message);
    expect(err?.message).not.toContain('topsecret');
    expect(err?.message).not.toContain('s'.repeat(32));
  });
});

describe('ffmpeg command building', () => {
  it('maps outputs to ffmpeg targets, refusing NDI and DeckLink', () => {
    expect(
      programTarget({ type: 'SRT', url: 'srt://h:9000?mode=listener', latencyMs: 200, passphrase: 'pass word 12' }),
    ).toEqual({
      url: 'srt://h:9000?mode=listener&latency=200000&pkt_size=1316&passphrase=pass+word+12',
      openUrl: 'srt://h:9000?mode=listener&latency=200000&pkt_size=1316',
      options: { passphrase: 'pass word 12' },
      format: 'mpegts',
      secrets: ['pass word 12', 'pass%20word%2012', 'pass+word+12'],
    });
    expect(programTarget({ type: 'RTMP', url: 'rtmp://h/live/', streamKey: 'k3y' })).toEqual({
      url: 'rtmp://h/live/k3y',
      openUrl: 'rtmp://h/live',
      options: { rtmp_app: 'live', rtmp_playpath: 'k3y' },
      format: 'flv',
      secrets: ['k3y'],
    });
    // An application of several levels stays whole: ffmpeg would otherwise take its last level for the key.
    expect(programTarget({ type: 'RTMP', url: 'rtmps://h:443/app/inst', streamKey: 'k' }).options).toEqual({
      rtmp_app: 'app/inst',
      rtmp_playpath: 'k',
    });
    expect(programTarget({ type: 'RTMP', url: 'rtmp://h/live', streamKey: null })).toEqual({
      url: 'rtmp://h/live',
      openUrl: 'rtmp://h/live',
      options: {},
      format: 'flv',
      secrets: [],
    });
    expect(() => programTarget({ type: 'NDI', name: 'x' })).toThrow(EngineError);
    expect(() => programTarget({ type: 'DECKLINK', deviceIndex: 0 })).toThrow(/ffmpeg engine cannot drive DECKLINK/);
  });

  it('decodes one clip from its in point for its duration to raw frames of the channel mode', () => {
    const clip = {
      itemId: 'i',
      file: '/m/a.mov',
      inPointMs: 1500,
      durationMs: 2040,
      transition: 'CUT' as const,
      transitionMs: 0,
    };
    const args = decoderArgs(clip, VIDEO_MODES.get('1080p5994')!, true);
    const argAfter = (flag: string) => args[args.indexOf(flag) + 1];
    expect([argAfter('-ss'), argAfter('-t'), argAfter('-i')]).toEqual(['1.500', '2.040', '/m/a.mov']);
    expect(argAfter('-vf')).toContain('fps=60000/1001');
    expect(args).toContain('pipe:1');
    expect(args.at(-1)).toBe('pipe:3');
    expect(decoderArgs(clip, VIDEO_MODES.get('1080p5994')!, false)).not.toContain('pipe:3');
  });

  it('encodes one continuous raw stream to the program (MPEG-TS on a pipe, no network) and the HLS preview', () => {
    const args = encoderArgs(VIDEO_MODES.get('1080p5994')!, hlsSettings('/m', 'c'));
    const argAfter = (flag: string) => args[args.indexOf(flag) + 1];
    expect([argAfter('-video_size'), argAfter('-framerate')]).toEqual(['1920x1080', '60000/1001']);
    expect(args).toContain('pipe:1');
    expect(args.some((a) => /^(srt|rtmp|udp):/.test(a))).toBe(false);
    expect(args.at(-1)).toBe('/m/live/c/index.m3u8');
  });

  it('sends the program to the output with a separate sender that copies it and reports progress', () => {
    const udp = programTarget({ type: 'UDP', url: 'udp://127.0.0.1:9' });
    const args = senderArgs(udp);
    const argAfter = (flag: string) => args[args.indexOf(flag) + 1];
    expect([argAfter('-i'), argAfter('-c'), argAfter('-progress')]).toEqual(['pipe:0', 'copy', 'pipe:1']);
    expect(args.at(-1)).toBe('udp://127.0.0.1:9?pkt_size=1316');
    expect(args).not.toContain('-fpre');
    expect(senderPreset(udp)).toBeNull();
  });

  it("hands the sender an output's passphrase or stream key in a preset file on fd 3, never in its arguments", () => {
    const srt = programTarget({ type: 'SRT', url: 'srt://h:9000', latencyMs: null, passphrase: 'pass=word 12' });
    const args = senderArgs(srt);
    expect(args.slice(-5, -1)).toEqual(['-fpre', '/dev/fd/3', '-f', 'mpegts']);
    expect(args.at(-1)).toBe('srt://h:9000?pkt_size=1316');
    expect(args.join(' ')).not.toContain('pass');
    expect(senderPreset(srt)).toBe('passphrase=pass=word 12\n');
    const rtmp = programTarget({ type: 'RTMP', url: 'rtmp://h/live', streamKey: 'k3y-secret' });
    expect(senderArgs(rtmp).join(' ')).not.toContain('k3y');
    expect(senderPreset(rtmp)).toBe('rtmp_playpath=k3y-secret\nrtmp_app=live\n');
    expect(() => senderPreset({ ...rtmp, options: { rtmp_playpath: 'a\nloglevel=debug' } })).toThrow(EngineError);
  });

  it('reads media files only from local files with allowed demuxers (no HLS, concat or network)', () => {
    const clip = {
      itemId: 'i',
      file: '/m/a.mov',
      inPointMs: 0,
      durationMs: 1000,
      transition: 'CUT' as const,
      transitionMs: 0,
    };
    for (const args of [decoderArgs(clip, VIDEO_MODES.get('PAL')!, true), probeArgs('/m/a.mov')]) {
      const argAfter = (flag: string) => args[args.indexOf(flag) + 1];
      expect(argAfter('-protocol_whitelist')).toBe('file');
      const formats = argAfter('-format_whitelist').split(',');
      expect(formats).toContain('mov');
      for (const refused of ['hls', 'concat', 'image2', 'http', 'ffconcat']) expect(formats).not.toContain(refused);
      // The guard applies to the media input: it comes before it.
      expect(args.indexOf('-format_whitelist')).toBeLessThan(args.indexOf('/m/a.mov'));
    }
  });

  it('counts frames and audio samples per frame without drift', () => {
    const pal = VIDEO_MODES.get('PAL')!;
    const ntsc = VIDEO_MODES.get('1080p2997')!;
    expect(framesFor(pal, 2000)).toBe(50);
    expect(samplesForFrame(pal, 7)).toBe(1920);
    let total = 0;
    for (let n = 0; n < 30000; n++) total += samplesForFrame(ntsc, n);
    // 30000 frames at 29.97 fps last exactly 1001 s.
    expect(total).toBe(1001 * 48000);
    const black = blackFrame({ ...pal, width: 4, height: 2 });
    expect([...black]).toEqual([16, 16, 16, 16, 16, 16, 16, 16, 128, 128, 128, 128]);
  });

  it('redacts secrets', () => {
    expect(redact('srt://h?passphrase=abc: refused abc', ['abc'])).toBe(
      'srt://h?passphrase=[redacted]: refused [redacted]',
    );
  });

  it('redacts a passphrase however the log line spells it, form-encoded in the URL included', () => {
    const passphrase = "it's (a) pass phrase";
    const target = programTarget({ type: 'SRT', url: 'srt://h:9000', passphrase });
    // The URL carries it form-encoded: spaces as '+', parentheses and the apostrophe escaped.
    expect(target.url).toBe('srt://h:9000?pkt_size=1316&passphrase=it%27s+%28a%29+pass+phrase');
    const line = [
      `[srt @ 0x5581] Connection to ${target.url} failed: Connection refused`,
      `passphrase=${encodeURIComponent(passphrase)}`,
      `passphrase "${passphrase}" rejected`,
    ].join('\n');
    const shown = redact(line, target.secrets);
    expect(shown).toBe(
      '[srt @ 0x5581] Connection to srt://h:9000?pkt_size=1316&passphrase=[redacted] failed: Connection refused\npassphrase=[redacted]\npassphrase "[redacted]" rejected',
    );
  });
});
