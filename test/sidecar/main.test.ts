import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { srtListening } from '../helpers/srt-receiver.ts';
import { until } from '../helpers/until.ts';
import { CHANNEL_ID, client, item, makeMediaDir, readEventsUntil, SECRET, sleep } from './helpers.ts';
import { testPort } from '../helpers/fixtures.ts';

const run = promisify(execFile);
const PASSPHRASE = 'srt-passphrase-xyz';
const SRT_PORT = testPort();

let mediaDir: string;
let sidecar: ChildProcess;
let receiver: ChildProcess;
let logs = '';
let base = '';

/** Waits for the child to print its listening line and returns the port. */
function portFromLogs(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sidecar did not start: ${logs}`)), 15_000);
    // The sidecar logs to stderr (see src/sidecar/main.ts).
    const read = (chunk: Buffer) => {
      logs += chunk.toString();
      const m = /"port":(\d+)/.exec(logs);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.on('exit', (code) => reject(new Error(`sidecar exited ${code}: ${logs}`)));
  });
}

beforeAll(async () => {
  mediaDir = await makeMediaDir({ 'a.mp4': 2 });
  // The channel's SRT output calls this listener, as a receiver at the far end would.
  receiver = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      // A short probe (300 ms, as a receiver tuned for a quick start has) and flushed packets, so the file
      // grows as program arrives: the connection must open on video for such a receiver to find it.
      '-probesize',
      '100000',
      '-analyzeduration',
      '300000',
      '-i',
      `srt://127.0.0.1:${SRT_PORT}?mode=listener&passphrase=${PASSPHRASE}`,
      '-c',
      'copy',
      '-f',
      'mpegts',
      '-flush_packets',
      '1',
      join(mediaDir, 'received.ts'),
    ],
    { stdio: 'ignore' },
  );
  await srtListening(SRT_PORT);
  sidecar = spawn(process.execPath, ['--import', 'tsx', 'src/sidecar/main.ts'], {
    env: {
      ...process.env,
      CHANNEL_ID,
      PORT: '0',
      SIDECAR_SECRET: SECRET,
      ENGINE: 'ffmpeg',
      VIDEO_FORMAT: 'PAL',
      MEDIA_DIR: mediaDir,
      OUTPUT_JSON: JSON.stringify({
        type: 'SRT',
        url: `srt://127.0.0.1:${SRT_PORT}`,
        latencyMs: 120,
        passphrase: PASSPHRASE,
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  base = `http://127.0.0.1:${await portFromLogs(sidecar)}`;
});

afterAll(async () => {
  if (sidecar?.exitCode === null) sidecar.kill('SIGKILL');
  if (receiver?.exitCode === null) receiver.kill('SIGKILL');
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true, maxRetries: 5 });
});

describe('sidecar as a process (node --import tsx src/sidecar/main.ts)', () => {
  it('plays two items and a pause to an SRT output over one connection, never logs secrets, and stops on SIGTERM', async () => {
    const call = client(base);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await client(base, 'wrong')('GET', '/status')).status).toBe(401);
    const loaded = await call('POST', '/playlist', {
      playlistId: 'p',
      loop: false,
      items: [item('1', 'a.mp4', 2000), item('2', 'a.mp4', 1000)],
    });
    expect(loaded.status).toBe(200);
    await readEventsUntil(call, (ev) => ev.some((e) => e.kind === 'ITEM_ON_AIR'));
    // The session (and its connection) starts with the first item: the pause is sent once the
    // receiver has program, so it is measured on the connection rather than on a sender still
    // connecting or a receiver waiting for its first keyframe.
    await until(
      async () => (await stat(join(mediaDir, 'received.ts')).catch(() => null))?.size,
      'the receiver to get program',
      15_000,
    );
    expect((await call('POST', '/transport/pause')).status).toBe(200);
    await sleep(600);
    expect((await call('POST', '/transport/resume')).status).toBe(200);
    const events = await readEventsUntil(call, (ev) =>
      ev.some((e) => e.kind === 'STATE_CHANGED' && e.state === 'STOPPED'),
    );
    const ended = events.filter((e) => e.kind === 'ITEM_ENDED').at(-1);
    expect(events.filter((e) => e.kind === 'ITEM_ENDED').map((e) => e.how)).toEqual(['PLAYED', 'PLAYED']);
    // The engine reports an end ahead of time (so the next item can pre-roll): let it air, plus a second of black.
    await sleep(Math.max(0, Date.parse(ended.endedAt) - Date.now()) + 1000);

    const status = await call('GET', '/status');
    expect(JSON.stringify(status.body)).not.toContain(PASSPHRASE);
    // The output connection lasts the whole session: it ends (and the receiver
    // with it) when the sidecar stops.
    const exited = new Promise<number | null>((r) => sidecar.once('exit', (code) => r(code)));
    sidecar.kill('SIGTERM');
    expect(await exited).toBe(0);
    await new Promise((r) => (receiver.exitCode !== null ? r(null) : receiver.once('exit', r)));
    expect((await stat(join(mediaDir, 'received.ts'))).size).toBeGreaterThan(10_000);
    const probe = await run('ffprobe', [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=codec_name,width,height',
      '-of',
      'csv=p=0',
      join(mediaDir, 'received.ts'),
    ]);
    expect(probe.stdout.trim().split('\n')[0]).toBe('h264,720,576');
    // The connection opened on a video keyframe: no stretch of audio ahead of the first picture.
    const opening = await run('ffprobe', [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_type,start_time',
      '-of',
      'json',
      join(mediaDir, 'received.ts'),
    ]);
    const { streams } = JSON.parse(opening.stdout);
    const start = (type: string) => Number(streams.find((s: any) => s.codec_type === type).start_time);
    console.log(
      `[output] first connection: video starts ${(start('video') - start('audio')).toFixed(3)} s after audio`,
    );
    expect(start('video') - start('audio')).toBeLessThanOrEqual(0.1);
    // One connection, one continuous timeline: consecutive frames are always one frame (40 ms) apart.
    const pts = await run('ffprobe', [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'packet=pts_time',
      '-of',
      'csv=p=0',
      join(mediaDir, 'received.ts'),
    ]);
    const times = pts.stdout
      .split('\n')
      .map((l) => parseFloat(l))
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const steps = times.slice(1).map((t, i) => Math.round((t - times[i]) * 1000));
    expect(new Set(steps)).toEqual(new Set([40]));
    // Both items (3 s), the pause and the black after them went down the one connection (the first
    // item's start may be lost while the connection comes up: that is what the margin allows).
    expect(times.at(-1)! - times[0]).toBeGreaterThan(2.5);
    expect(logs).toContain('sidecar listening');
    expect(logs).toContain('"passphraseSet":true');
    expect(logs).not.toContain(PASSPHRASE);
    expect(logs).not.toContain(SECRET);
  });
});
