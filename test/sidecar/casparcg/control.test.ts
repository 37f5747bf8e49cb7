import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { SidecarEvent } from '../../../src/protocol/sidecar-api.ts';
import { buildSidecarApp } from '../../../src/sidecar/app.ts';
import { loadSidecarConfig } from '../../../src/sidecar/config.ts';
import { AmcpPeer } from '../../helpers/amcp-peer.ts';
import { client, SECRET } from '../helpers.ts';
import { CHANNEL_ID, capturedLogger, ended, item, mediaVolume, onAir, rig, sleep, until, type Rig } from './harness.ts';

let current: Rig | null = null;
let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await current?.close();
  current = null;
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  cleanup = [];
});

const errors = (events: SidecarEvent[]) =>
  events.filter((e) => e.kind === 'ERROR').map((e) => (e.kind === 'ERROR' ? e.message : ''));
const playout = (r: Rig) => r.peer.playoutCommands().filter((c) => !c.startsWith('ADD') && !c.startsWith('REMOVE'));

describe('transport on CasparCG', () => {
  it('maps pause, resume, skip and stop to AMCP', async () => {
    const r = (current = await rig());
    await r.load({
      loop: false,
      items: [item('A', 'a.mp4', 2500), item('B', 'b.mp4', 2500), item('C', 'c.mp4', 2500)],
    });
    await r.waitFor((evs) => !!onAir(evs, 'A'));
    await sleep(200);

    await r.sequencer.pause();
    await until(() => r.peer.layer(1, 10).paused, 'layer 1-10 paused');
    const held = r.peer.layer(1, 10);
    await sleep(400);
    expect(r.peer.layer(1, 10)).toEqual({ ...held, paused: true });
    await r.sequencer.resume();

    await r.sequencer.skip();
    await r.waitFor((evs) => !!onAir(evs, 'B'));
    expect(r.peer.layer(1, 10).foreground).toBe('clips/b.mp4');

    await r.sequencer.stop();
    const events = await r.waitFor((evs) => !!ended(evs, 'B'));
    expect(r.peer.layer(1, 10)).toEqual({ foreground: null, background: null, position: null, paused: false });
    expect(playout(r)).toEqual([
      'CLEAR 1-10',
      'PLAY 1-10 "clips/a.mp4" LENGTH 125',
      'LOADBG 1-10 "clips/b.mp4" LENGTH 125 AUTO',
      'PAUSE 1-10',
      'RESUME 1-10',
      // Skip: the armed clip goes on air at once.
      'PLAY 1-10',
      'LOADBG 1-10 "clips/c.mp4" LENGTH 125 AUTO',
      // Stop: the armed clip disarmed, the layer cleared.
      'LOADBG 1-10 EMPTY',
      'CLEAR 1-10',
    ]);
    expect(ended(events, 'A')!.how).toBe('SKIPPED');
    expect(ended(events, 'B')!.how).toBe('TRUNCATED');
    // Paused time does not count: A's time on air leaves out the 400 ms (and more) it was held paused.
    const a = ended(events, 'A')!;
    expect(a.durationMs).toBeGreaterThan(0);
    expect(a.durationMs).toBeLessThanOrEqual(Date.parse(a.endedAt) - Date.parse(a.startedAt!) - 400 + 5);
    expect(errors(events)).toEqual([]);
  });

  it('loops a one-item playlist: the same clip armed behind itself, each pass dated by the server', async () => {
    const r = (current = await rig());
    await r.load({ loop: true, items: [item('A', 'a.mp4', 600)] });
    const events = await r.waitFor((evs) => evs.filter((e) => e.kind === 'ITEM_ON_AIR').length >= 3);
    await r.sequencer.stop();
    const starts = events
      .filter((e) => e.kind === 'ITEM_ON_AIR')
      .map((e) => (e.kind === 'ITEM_ON_AIR' ? Date.parse(e.startedAt) : 0));
    const tick = r.peer.tickMs();
    expect(r.peer.history.slice(0, 3).map((h) => h.tick - r.peer.history[0].tick)).toEqual([0, 30, 60]);
    for (const [i, t] of starts.entries()) expect(Math.abs(t - r.peer.history[i].atMs)).toBeLessThanOrEqual(3 * tick);
    expect(playout(r).slice(0, 4)).toEqual([
      'CLEAR 1-10',
      'PLAY 1-10 "clips/a.mp4" LENGTH 30',
      'LOADBG 1-10 "clips/a.mp4" LENGTH 30 AUTO',
      'LOADBG 1-10 "clips/a.mp4" LENGTH 30 AUTO',
    ]);
  });
});

describe('AMCP errors', () => {
  it('fails an item the server refuses, naming the command, and plays on', async () => {
    const r = (current = await rig());
    await r.load({
      loop: false,
      items: [item('A', 'a.mp4', 1000), item('X', 'missing.mp4', 1000), item('C', 'c.mp4', 1000)],
    });
    const events = await r.waitFor((evs) => !!ended(evs, 'C'));
    expect(errors(events)).toEqual([
      'item X (missing.mp4) failed: LOADBG 1-10 "clips/missing.mp4" LENGTH 50 AUTO: 404 LOADBG (media file not found)',
    ]);
    expect(ended(events, 'X')).toMatchObject({ how: 'FAILED', startedAt: null });
    expect(ended(events, 'A')).toMatchObject({ how: 'PLAYED', endedAt: onAir(events, 'C')!.startedAt });
  });

  it('reports a refused transport command in the status and the event log, without stopping', async () => {
    const peer = new AmcpPeer({ channels: ['720p5000'], clips: { 'clips/a.mp4': 3 } });
    await peer.start();
    cleanup.push(() => peer.stop());
    const mediaDir = await mediaVolume(['clips/a.mp4']);
    cleanup.push(() => rm(mediaDir, { recursive: true, force: true }));
    const config = loadSidecarConfig({
      CHANNEL_ID,
      PORT: '0',
      SIDECAR_SECRET: SECRET,
      ENGINE: 'casparcg',
      VIDEO_FORMAT: '720p5000',
      MEDIA_DIR: mediaDir,
      OUTPUT_JSON: JSON.stringify({ type: 'NDI', name: 'onair one' }),
      CASPARCG_PORT: String(peer.port),
      CASPARCG_PREVIEW: 'false',
    });
    const app = buildSidecarApp(config, { logger: capturedLogger().logger, eventsFile: false });
    cleanup.push(() => app.stop());
    const call = client(`http://127.0.0.1:${await app.start()}`);
    await call('POST', '/playlist', { playlistId: 'p', loop: false, items: [item('A', 'a.mp4', 2500)] });
    peer.failNext(/^PAUSE/, '403 PAUSE FAILED');
    expect((await call('POST', '/transport/pause')).status).toBe(200);
    // The PAUSE goes out without holding up the answer: its refusal is reported once the server's reply is in.
    const status = async () => (await call('GET', '/status')).body;
    await until(async () => (await status()).errors.length > 0, 'the refusal reported');
    expect((await status()).errors.map((e: { message: string }) => e.message)).toEqual([
      'CasparCG: PAUSE 1-10: 403 PAUSE (illegal parameter)',
    ]);
    const events = (await call('GET', '/events?after=0')).body.events;
    expect(errors(events)).toEqual(['CasparCG: PAUSE 1-10: 403 PAUSE (illegal parameter)']);
    // Still in charge: resume and stop go through.
    expect((await call('POST', '/transport/resume')).status).toBe(200);
    expect((await call('POST', '/transport/stop')).status).toBe(200);
    expect(peer.playoutCommands()).toEqual([
      'CLEAR 1-10',
      'ADD 1-700 NDI NAME "onair one"',
      'PLAY 1-10 "clips/a.mp4" LENGTH 125',
      'PAUSE 1-10',
      'RESUME 1-10',
      'CLEAR 1-10',
    ]);
  });
});

describe('the channel video mode', () => {
  it('refuses a server channel in another mode, clearly', async () => {
    const r = (current = await rig({ mode: '720p5000', peer: { channels: ['1080i5000'] }, start: false }));
    await expect(r.engine.start()).rejects.toThrow(
      'CasparCG channel 1 runs 1080i5000 but this onair channel is 720p5000: set <video-mode>720p5000</video-mode> for channel 1 in casparcg.config, or CASPARCG_SET_MODE=true to let onair switch it',
    );
    expect(r.peer.playoutCommands()).toEqual([]);
  });

  it('switches it when allowed', async () => {
    const r = (current = await rig({
      mode: '720p5000',
      peer: { channels: ['1080i5000'] },
      settings: { setMode: true },
    }));
    expect(r.peer.playoutCommands()[0]).toBe('SET 1 MODE 720p5000');
    await r.load({ loop: false, items: [item('A', 'a.mp4', 400)] });
    await r.waitFor((evs) => !!ended(evs, 'A'));
  });

  it('names a missing channel and an unreachable server', async () => {
    const r = (current = await rig({ settings: { channel: 2 }, start: false }));
    await expect(r.engine.start()).rejects.toThrow(
      /CasparCG Server at 127\.0\.0\.1:\d+ has no channel 2 \(it has 1\): set CASPARCG_CHANNEL/,
    );
    const port = r.peer.port;
    await r.peer.stop();
    const r2 = await rig({ settings: { port }, engine: { connectTimeoutMs: 500 }, start: false });
    cleanup.push(() => r2.close());
    await r2.peer.stop();
    await expect(r2.engine.start()).rejects.toThrow(/did not answer within/);
  });
});
