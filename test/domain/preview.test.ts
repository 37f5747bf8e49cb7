import { describe, expect, it } from 'vitest';
import {
  derivePreviewKey,
  previewUrlFor,
  rewritePlaylist,
  segmentContentType,
  signPreviewToken,
  verifyPreviewToken,
} from '../../src/domain/channels/preview.ts';

const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 8);
const channel = '3f2c1b0a-1111-4222-8333-444455556666';
const otherChannel = '3f2c1b0a-1111-4222-8333-444455556667';
const now = new Date('2026-05-31T12:00:00Z');
const inOneHour = new Date(now.getTime() + 3600_000);
const holder = '9a8b7c6d-0000-4111-8222-333344445555';
const otherHolder = '9a8b7c6d-0000-4111-8222-333344445556';

describe('preview tokens', () => {
  it('accepts a token for its channel until it expires', () => {
    const token = signPreviewToken(key, channel, inOneHour, holder);
    expect(token).toMatch(new RegExp(`^\\d+\\.${holder}\\.[A-Za-z0-9_-]{43}$`));
    expect(verifyPreviewToken(key, channel, token, now)).toBe('valid');
    expect(verifyPreviewToken(key, channel.toUpperCase(), token, now)).toBe('valid');
    expect(verifyPreviewToken(key, channel, token, new Date(inOneHour.getTime() - 1000))).toBe('valid');
    expect(verifyPreviewToken(key, channel, token, inOneHour)).toBe('expired');
  });

  it('refuses a token of another channel or key, a tampered one and garbage', () => {
    const token = signPreviewToken(key, channel, inOneHour, holder);
    const [exp, , mac] = token.split('.');
    expect(verifyPreviewToken(key, otherChannel, token, now)).toBe('invalid');
    // Another holder with this holder's MAC: the token cannot be moved to another API token.
    expect(verifyPreviewToken(key, channel, `${exp}.${otherHolder}.${mac}`, now)).toBe('invalid');
    expect(verifyPreviewToken(otherKey, channel, token, now)).toBe('invalid');
    // A later expiry with the old MAC: invalid, not merely expired or valid.
    expect(verifyPreviewToken(key, channel, `${Number(exp) + 3600}.${holder}.${mac}`, now)).toBe('invalid');
    const flipped = mac.slice(0, 10) + (mac[10] === 'A' ? 'B' : 'A') + mac.slice(11);
    expect(verifyPreviewToken(key, channel, `${exp}.${holder}.${flipped}`, now)).toBe('invalid');
    // Same decoded bytes, other spelling of the last character's spare bits.
    const last = mac.at(-1)!;
    const alias = 'AEIMQUYcgkosw048'.includes(last) ? String.fromCharCode(last.charCodeAt(0) + 1) : null;
    if (alias)
      expect(verifyPreviewToken(key, channel, `${exp}.${holder}.${mac.slice(0, -1)}${alias}`, now)).toBe('invalid');
    for (const bad of [
      '',
      '.',
      `${token}x`,
      `${exp}.`,
      `.${mac}`,
      `-1.${holder}.${mac}`,
      `${exp}.${holder}.${mac}=`,
      `${exp}.${mac}`,
      'x'.repeat(500),
    ]) {
      expect(verifyPreviewToken(key, channel, bad, now)).toBe('invalid');
    }
  });

  it('an expired forgery reads as invalid, not expired', () => {
    const token = signPreviewToken(otherKey, channel, new Date(now.getTime() - 1000), holder);
    expect(verifyPreviewToken(key, channel, token, now)).toBe('invalid');
    expect(verifyPreviewToken(otherKey, channel, token, now)).toBe('expired');
  });

  it('derives a 32-byte key of its own from the secret key', () => {
    const derived = derivePreviewKey(key);
    expect(derived).toHaveLength(32);
    expect(derived.equals(key)).toBe(false);
    expect(derivePreviewKey(Buffer.from(key)).equals(derived)).toBe(true);
    expect(derivePreviewKey(otherKey).equals(derived)).toBe(false);
  });

  it('previewUrlFor gives the playlist route with a token valid for ttlSeconds', () => {
    const url = previewUrlFor(key, channel, holder, now);
    expect(url).toMatch(
      new RegExp(`^/channels/${channel}/preview\\.m3u8\\?token=\\d+\\.${holder}\\.[A-Za-z0-9_-]{43}$`),
    );
    const token = new URL(url, 'http://x').searchParams.get('token')!;
    expect(Number(token.split('.')[0])).toBe(now.getTime() / 1000 + 3600);
    expect(verifyPreviewToken(key, channel, token, now)).toBe('valid');
    const short = new URL(previewUrlFor(key, channel, holder, now, 60), 'http://x').searchParams.get('token')!;
    expect(verifyPreviewToken(key, channel, short, new Date(now.getTime() + 61_000))).toBe('expired');
  });
});

describe('segment names', () => {
  it('accepts plain media file names only', () => {
    expect(segmentContentType('seg-12.ts')).toBe('video/mp2t');
    expect(segmentContentType('seg_3.m4s')).toBe('video/iso.segment');
    expect(segmentContentType('init.mp4')).toBe('video/mp4');
    expect(segmentContentType('audio.1.aac')).toBe('audio/aac');
    for (const bad of [
      'index.m3u8',
      '../x.ts',
      'a/b.ts',
      '.hidden.ts',
      'a..b.ts',
      '%2e%2e.ts',
      '/etc/x.ts',
      'x.ts.tmp',
      'x.TS',
      'a b.ts',
      '.ts',
      'x.ts\n',
    ]) {
      expect(segmentContentType(bad), bad).toBeNull();
    }
  });
});

const TS_PLAYLIST = [
  '#EXTM3U',
  '#EXT-X-VERSION:3',
  '#EXT-X-TARGETDURATION:1',
  '#EXT-X-MEDIA-SEQUENCE:41',
  '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXTINF:1.000000,',
  'seg-41.ts',
  '#EXT-X-DISCONTINUITY',
  '#EXTINF:1.000000,',
  'seg-42.ts',
  '',
].join('\r\n');

const FMP4_PLAYLIST = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2.000000,
seg0.m4s
#EXT-X-PART:DURATION=0.5,URI="seg1.part0.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg1.part1.m4s"
`;

describe('rewritePlaylist', () => {
  it('points MPEG-TS segments at the preview route, passing the query token on', () => {
    expect(rewritePlaylist(TS_PLAYLIST, { channelId: channel, token: '17.abc' })).toBe(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:3',
        '#EXT-X-TARGETDURATION:1',
        '#EXT-X-MEDIA-SEQUENCE:41',
        '#EXT-X-INDEPENDENT-SEGMENTS',
        '#EXTINF:1.000000,',
        `/channels/${channel}/preview/seg-41.ts?token=17.abc`,
        '#EXT-X-DISCONTINUITY',
        '#EXTINF:1.000000,',
        `/channels/${channel}/preview/seg-42.ts?token=17.abc`,
        '',
      ].join('\n'),
    );
  });

  it('rewrites the fMP4 init section and parts; no token, no query', () => {
    expect(rewritePlaylist(FMP4_PLAYLIST, { channelId: channel })).toBe(`#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-MAP:URI="/channels/${channel}/preview/init.mp4"
#EXTINF:2.000000,
/channels/${channel}/preview/seg0.m4s
#EXT-X-PART:DURATION=0.5,URI="/channels/${channel}/preview/seg1.part0.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="/channels/${channel}/preview/seg1.part1.m4s"
`);
  });

  it('uses a configured segment base (never with the token: that origin does not check it)', () => {
    const out = rewritePlaylist(FMP4_PLAYLIST, {
      channelId: channel,
      segmentBase: 'https://cdn.example/live/',
      token: '17.abc',
    });
    expect(out).toContain(`#EXT-X-MAP:URI="https://cdn.example/live/${channel}/init.mp4"`);
    expect(out).toContain(`\nhttps://cdn.example/live/${channel}/seg0.m4s\n`);
    expect(out).not.toContain('token');
  });

  it('leaves other URIs and tags alone', () => {
    const body =
      '#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="key.bin"\n#EXTINF:1,\nhttps://elsewhere/x.ts\n#EXTINF:1,\n../up.ts\nsub/seg.ts\n';
    expect(rewritePlaylist(body, { channelId: channel })).toBe(body);
  });
});
