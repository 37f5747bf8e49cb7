import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { previewUrlFor } from '../../src/domain/channels/preview.ts';
import { handlePreview } from '../../src/server/routes/preview.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { createActor, startTestServer, type TestServer } from '../helpers/server.ts';
import { until as waitUntil } from '../helpers/until.ts';

// Needs ffmpeg and Debian's chromium (scripts/browser.sh installs it).
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const previewKey = Buffer.alloc(32, 'preview-browser-key');
const require = createRequire(import.meta.url);

let server: TestServer;
let http: Server;
let base: string;
let media: string;
let channelId: string;
let ffmpeg: ChildProcess;
let browser: Browser | undefined;
let holder: string;

/** The shared until, for probes whose own failure means "not yet" unless it says it is fatal. */
function until<T>(what: string, probe: () => Promise<T | null | undefined>, timeoutMs = 15_000): Promise<T> {
  const tolerant = () =>
    probe().catch((err) => {
      if ((err as { fatal?: boolean }).fatal) throw err;
      return null;
    });
  return waitUntil(tolerant, what, timeoutMs, 200);
}

const mediaSequence = (playlist: string) => Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1] ?? -1);

beforeAll(async () => {
  server = await startTestServer();
  channelId = (await insertChannel(server.services, null, { status: 'RUNNING' })).id;
  // An admin's API token: the signed URL acts for it.
  holder = (await createActor(server.services, { isAdmin: true })).tokenId;
  media = await mkdtemp(join(tmpdir(), 'onair-preview-browser-'));
  const dir = join(media, 'live', channelId);
  await mkdir(dir, { recursive: true });

  // A live preview as the sidecar makes one: 1 s segments, a 6-segment window.
  ffmpeg = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=320x180:rate=25',
      '-t',
      '25',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-pix_fmt',
      'yuv420p',
      '-g',
      '25',
      '-f',
      'hls',
      '-hls_time',
      '1',
      '-hls_list_size',
      '6',
      '-hls_flags',
      'delete_segments+temp_file',
      '-hls_segment_filename',
      join(dir, 'seg-%d.ts'),
      join(dir, 'index.m3u8'),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );

  const page = await readFile(new URL('./page.html', import.meta.url));
  const hlsJs = await readFile(require.resolve('hls.js/dist/hls.min.js'));
  const deps = { services: server.services, previewKey, mediaVolumeDir: media };
  http = createServer((req, res) => {
    if (req.url?.startsWith('/page.html')) return void res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    if (req.url === '/hls.min.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(hlsJs);
    handlePreview(req, res, deps)
      .then((handled) => handled || server.app.server.emit('request', req, res))
      .catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  await until(
    'two segments',
    async () => ((await readFile(join(dir, 'index.m3u8'), 'utf8')).match(/\.ts$/gm)?.length ?? 0) >= 2,
  );
});

afterAll(async () => {
  await browser?.close();
  if (ffmpeg && ffmpeg.exitCode === null) ffmpeg.kill('SIGKILL');
  if (http) await new Promise((resolve) => http.close(resolve));
  await server?.close();
  if (media) await rm(media, { recursive: true, force: true });
});

describe('live preview of an ffmpeg HLS stream', () => {
  it('serves the live edge fresh as it moves', async () => {
    const url = `${base}${previewUrlFor(previewKey, channelId, holder, new Date())}`;
    const first = await (await fetch(url)).text();
    const later = await until('the live edge to move', async () => {
      const text = await (await fetch(url)).text();
      return mediaSequence(text) > mediaSequence(first) ? text : null;
    });
    expect(later).toMatch(new RegExp(`^/channels/${channelId}/preview/seg-\\d+\\.ts\\?token=`, 'm'));
    const segment = await fetch(`${base}${later.split('\n').find((l) => l.startsWith('/channels/'))}`);
    expect(segment.status).toBe(200);
    expect(segment.headers.get('content-type')).toBe('video/mp2t');
    expect((await segment.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  it('plays in a browser through hls.js with the signed preview URL', async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    const src = `${base}${previewUrlFor(previewKey, channelId, holder, new Date())}`;
    await page.goto(`${base}/page.html?src=${encodeURIComponent(src)}`);
    const errors = () => page.evaluate(() => (window as unknown as { previewErrors: string[] }).previewErrors);
    const currentTime = () => page.evaluate(() => document.querySelector('video')!.currentTime);

    await until('playback to start', async () => {
      const failed = await errors();
      if (failed.length) throw Object.assign(new Error(failed.join('; ')), { fatal: true });
      return (await currentTime()) > 0;
    }).catch(async (err) => {
      throw new Error(`${err.message} (player errors: ${JSON.stringify(await errors())})`);
    });
    const start = await currentTime();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const end = await currentTime();
    expect(await errors()).toEqual([]);
    expect(end - start).toBeGreaterThan(2);
  });
});
