import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { buildSidecarApp, type SidecarApp } from '../../../src/sidecar/app.ts';
import { loadSidecarConfig } from '../../../src/sidecar/config.ts';
import { AmcpPeer } from '../../helpers/amcp-peer.ts';
import { client, readEventsUntil, SECRET } from '../helpers.ts';
import { CHANNEL_ID, capturedLogger, ended, item, mediaVolume, onAir } from './harness.ts';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  cleanup = [];
});

describe.each(['2.3', '2.4'] as const)('a channel on CasparCG %s through the sidecar API', (version) => {
  it("plays a three-item playlist with a MIX and in/out points, frame for frame, with the server's times in the event log", async () => {
    const peer = new AmcpPeer({
      channels: ['720p5000'],
      version,
      clips: { 'clips/a.mp4': 3, 'clips/b.mp4': 4, 'clips/c.mp4': 3 },
    });
    await peer.start();
    cleanup.push(() => peer.stop());
    const mediaDir = await mediaVolume(['clips/a.mp4', 'clips/b.mp4', 'clips/c.mp4']);
    cleanup.push(() => rm(mediaDir, { recursive: true, force: true }));
    const config = loadSidecarConfig({
      CHANNEL_ID,
      PORT: '0',
      SIDECAR_SECRET: SECRET,
      ENGINE: 'casparcg',
      VIDEO_FORMAT: '720p5000',
      MEDIA_DIR: mediaDir,
      OUTPUT_JSON: JSON.stringify({ type: 'DECKLINK', deviceIndex: 1 }),
      CASPARCG_PORT: String(peer.port),
      CASPARCG_MEDIA_DIR: '/srv/onair-media',
    });
    const { logger } = capturedLogger();
    const app: SidecarApp = buildSidecarApp(config, { logger, eventsFile: false });
    cleanup.push(() => app.stop());
    const call = client(`http://127.0.0.1:${await app.start()}`);

    const res = await call('POST', '/playlist', {
      playlistId: 'p1',
      loop: false,
      items: [
        item('A', 'a.mp4', 2000),
        item('B', 'b.mp4', 2000, { inPointMs: 500, outPointMs: 2500, transition: 'MIX', transitionMs: 400 }),
        item('C', 'c.mp4', 1000, { inPointMs: 1000 }),
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ engine: 'casparcg', state: 'PLAYING' });
    const events = await readEventsUntil(call, (evs) =>
      evs.some((e) => e.kind === 'STATE_CHANGED' && e.state === 'STOPPED'),
    );
    await app.stop();

    // The exact AMCP the engine sent, in order (INFO polls and VERSION aside). 50 ticks a second:
    // B's in point 500 ms = SEEK 25, its 2 s = LENGTH 100, its 400 ms MIX = 20; C from 1 s = SEEK 50.
    const run = /seg-([0-9a-z]+)-%d/.exec(peer.playoutCommands().join('\n'))![1];
    expect(peer.playoutCommands()).toEqual([
      'CLEAR 1-10',
      'ADD 1-700 DECKLINK 1 EMBEDDED_AUDIO',
      `ADD 1-701 STREAM "/srv/onair-media/live/${CHANNEL_ID}/index.m3u8" -format hls -hls_time 1 -hls_list_size 6 ` +
        '-hls_flags delete_segments+append_list+discont_start+omit_endlist+independent_segments+temp_file ' +
        `-hls_segment_filename /srv/onair-media/live/${CHANNEL_ID}/seg-${run}-%d.ts ` +
        '-codec:v libx264 -preset:v veryfast -tune:v zerolatency -g:v 50 -keyint_min:v 50 -b:v 400k -maxrate:v 400k -bufsize:v 800k -filter:v scale=-2:180 -codec:a aac -b:a 64k',
      'PLAY 1-10 "clips/a.mp4" LENGTH 100',
      'LOADBG 1-10 "clips/b.mp4" SEEK 25 LENGTH 100 MIX 20 AUTO',
      'LOADBG 1-10 "clips/c.mp4" SEEK 50 LENGTH 50 AUTO',
      'CLEAR 1-10',
      'REMOVE 1-700',
      'REMOVE 1-701',
    ]);

    // Frame for frame on the server: B's MIX starts 20 ticks before A's 100 are out, C right after B's 100.
    const [a, b, c] = peer.history;
    expect(peer.history.map((h) => [h.name, h.position])).toEqual([
      ['clips/a.mp4', 0],
      ['clips/b.mp4', 25],
      ['clips/c.mp4', 50],
    ]);
    expect(b.tick - a.tick).toBe(80);
    expect(c.tick - b.tick).toBe(100);

    // As-run times are the server's: each start within a tick or two of the tick it went out on.
    const tick = peer.tickMs();
    for (const [id, h] of [
      ['A', a],
      ['B', b],
      ['C', c],
    ] as const) {
      expect(Math.abs(Date.parse(onAir(events, id)!.startedAt) - h.atMs)).toBeLessThanOrEqual(3 * tick);
    }
    // An item ends as the next starts; durations follow the server's clock, not the sidecar's timers.
    expect(ended(events, 'A')).toMatchObject({ how: 'PLAYED', endedAt: onAir(events, 'B')!.startedAt });
    expect(ended(events, 'B')).toMatchObject({ how: 'PLAYED', endedAt: onAir(events, 'C')!.startedAt });
    expect(Math.abs(ended(events, 'A')!.durationMs - 80 * tick)).toBeLessThanOrEqual(3 * tick);
    expect(Math.abs(ended(events, 'C')!.durationMs - 1000)).toBeLessThanOrEqual(3 * tick);
    expect(events.filter((e) => e.kind === 'ERROR')).toEqual([]);
  });
});
