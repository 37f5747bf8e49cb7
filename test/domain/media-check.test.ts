import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkMediaFile, describeNonMedia, sniffContainer } from '../../src/domain/media/staging/media-check.ts';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'onair-media-check-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('media files at staging', () => {
  // What ffmpeg itself writes in each container staging accepts.
  it.each([
    ['clip.mxf', ['-c:v', 'mpeg2video', '-c:a', 'pcm_s16le'], 'MXF'],
    ['clip.mp4', ['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac'], 'QuickTime/MP4'],
    ['clip.mov', ['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac'], 'QuickTime/MP4'],
    ['clip.ts', ['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac'], 'MPEG-TS'],
    ['clip.mkv', ['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac'], 'Matroska/WebM'],
    ['clip.avi', ['-c:v', 'mpeg4', '-c:a', 'pcm_s16le'], 'AVI'],
    ['tone.wav', ['-vn', '-c:a', 'pcm_s16le'], 'WAV'],
  ])(
    'accepts %s as ffmpeg writes it',
    async (name, codec, container) => {
      const file = path.join(dir, name);
      await run('ffmpeg', [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        'testsrc=size=160x90:rate=25:duration=0.4',
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=48000:duration=0.4',
        ...codec,
        '-shortest',
        file,
      ]);
      await expect(checkMediaFile(file)).resolves.toBe(container);
    },
    60_000,
  );

  it.each([
    ['an HLS playlist', '#EXTM3U\n#EXTINF:10,\n/etc/passwd\n'],
    ['an HLS playlist', '\uFEFF  #EXTM3U\n#EXTINF:10,\nfile:///etc/shadow\n'],
    ['a concat list', "ffconcat version 1.0\nfile '/etc/passwd'\n"],
    ['a concat list', "# list\nfile '/etc/passwd'\n"],
    ['an SDP description', 'v=0\no=- 0 0 IN IP4 127.0.0.1\n'],
    ['an XML document', '<?xml version="1.0"?><MPD/>'],
    ['a text file', 'hello\n'],
    ['an empty file', ''],
  ])('refuses %s', async (what, content) => {
    const file = path.join(dir, `refused-${Math.random().toString(36).slice(2)}`);
    await writeFile(file, content);
    await expect(checkMediaFile(file)).rejects.toThrow(
      `not a media file: it is ${what} (staged are MXF, QuickTime/MP4`,
    );
  });

  it('an ID3 tag is not a container: ffmpeg would probe what follows it', () => {
    const tagged = Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), Buffer.from('#EXTM3U\n')]);
    expect(sniffContainer(tagged)).toBeNull();
    expect(describeNonMedia(Buffer.from([0, 1, 2, 255]))).toBe('no known media container');
  });

  it('a single 0x47 byte is not a transport stream', () => {
    expect(sniffContainer(Buffer.concat([Buffer.from('G'), Buffer.alloc(1000, 0x20)]))).toBeNull();
  });
});
