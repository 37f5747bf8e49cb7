import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadPlaylist, UpdatePlaylist } from '../../src/protocol/sidecar-api.ts';
import { buildSidecarApp, type SidecarApp } from '../../src/sidecar/app.ts';
import { loadSidecarConfig } from '../../src/sidecar/config.ts';
import type { ClipListener, Engine, EngineClip } from '../../src/sidecar/engines/engine.ts';
import { EventLog } from '../../src/sidecar/event-log.ts';
import { Sequencer, StateConflictError } from '../../src/sidecar/sequencer.ts';
import { until } from '../helpers/until.ts';
import { CHANNEL_ID, client, item as httpItem, makeMediaDir, readEventsUntil, SECRET } from './helpers.ts';

/** An engine whose clips go on air, ask for their successor and end when the test says so. */
class FakeEngine implements Engine {
  readonly name = 'fake';
  played: { clip: EngineClip; listener: ClipListener; stopped: boolean }[] = [];
  async start() {}
  async close() {}
  play(clip: EngineClip, listener: ClipListener) {
    const p = { clip, listener, stopped: false };
    this.played.push(p);
    return { pause: () => undefined, resume: () => undefined, stop: async () => void (p.stopped = true) };
  }
  /** Clips handed over and not withdrawn, by item id. */
  get live() {
    return this.played.filter((p) => !p.stopped).map((p) => p.clip.itemId);
  }
}

function setup() {
  let t = Date.parse('2026-01-01T00:00:00Z');
  const now = () => t;
  const engine = new FakeEngine();
  const log = new EventLog({ now });
  const seq = new Sequencer({ engine, log, mediaDir: '/media', channelId: 'c', now });
  const onAir = () => engine.played.filter((p) => !p.stopped).at(-1)!;
  /** The newest clip reaches air, plays `ms` and ends on its own (no cue asked). */
  const playOut = (ms: number) => {
    const p = onAir();
    p.listener.onAir(t);
    t += ms;
    p.listener.onEnd({ ok: true });
  };
  /** What aired, in order. */
  const aired = () => log.after(0).flatMap((e) => (e.kind === 'ITEM_ON_AIR' ? [e.itemId] : []));
  return { engine, log, seq, playOut, aired, now, advance: (ms: number) => void (t += ms) };
}

const item = (id: string, durationMs = 1000, extra: object = {}) => ({
  itemId: id,
  assetId: `a${id}`,
  clipName: `${id}.mov`,
  mediaPath: `${id}.mov`,
  durationMs,
  transition: 'CUT' as const,
  transitionMs: 0,
  ...extra,
});
const load = (loop: boolean, ids: string[], version?: number): LoadPlaylist => ({
  playlistId: 'p',
  loop,
  items: ids.map((id) => item(id)),
  ...(version !== undefined && { version }),
});
const edit = (ids: string[], extra: Partial<UpdatePlaylist> = {}): UpdatePlaylist => ({
  playlistId: 'p',
  items: ids.map((id) => item(id)),
  ...extra,
});

describe('Sequencer.update: edits of the playlist on air apply from the next item', () => {
  it('an added item airs in its place, after the item on air', async () => {
    const { seq, playOut, aired } = setup();
    await seq.load(load(false, ['1', '2']));
    await seq.update(edit(['1', 'new', '2']));
    expect(seq.status().next).toMatchObject({ itemId: 'new', index: 1 });
    playOut(1000);
    playOut(1000);
    playOut(1000);
    expect(aired()).toEqual(['1', 'new', '2']);
    expect(seq.status().state).toBe('STOPPED');
  });

  it('a removed item is not aired again, however often the list loops', async () => {
    const { seq, playOut, aired } = setup();
    await seq.load(load(true, ['1', '2', '3']));
    playOut(1000);
    await seq.update(edit(['1', '2']));
    for (let i = 0; i < 5; i++) playOut(1000);
    expect(aired()).toEqual(['1', '2', '1', '2', '1', '2']);
  });

  it('a reorder changes what comes next', async () => {
    const { seq, playOut, aired } = setup();
    await seq.load(load(false, ['1', '2', '3']));
    await seq.update(edit(['3', '1', '2']));
    // 1 is now second: 2 follows it, and 3 (now first) has gone by.
    expect(seq.status()).toMatchObject({ current: { itemId: '1', index: 1 }, next: { itemId: '2', index: 2 } });
    playOut(1000);
    playOut(1000);
    expect(aired()).toEqual(['1', '2']);
  });

  it('the item on air finishes as it was loaded when the edit changes it', async () => {
    const { seq, engine, playOut, log } = setup();
    await seq.load(load(false, ['1', '2']));
    await seq.update({
      playlistId: 'p',
      items: [item('1', 400, { outPointMs: 400, clipName: 'renamed.mov' }), item('2')],
    });
    expect(engine.played).toHaveLength(1);
    expect(engine.played[0]).toMatchObject({ stopped: false, clip: { itemId: '1', durationMs: 1000 } });
    expect(seq.status().current).toMatchObject({ itemId: '1', clipName: '1.mov', durationMs: 1000 });
    playOut(1000);
    const ended = log.after(0).find((e) => e.kind === 'ITEM_ENDED');
    expect(ended).toMatchObject({ itemId: '1', clipName: '1.mov', durationMs: 1000, how: 'PLAYED' });
  });

  it('the item on air, removed, finishes; the item now at its position follows', async () => {
    const { seq, playOut, aired } = setup();
    await seq.load(load(true, ['1', '2', '3']));
    playOut(1000);
    await seq.update(edit(['1', '3']));
    expect(seq.status()).toMatchObject({ current: { itemId: '2', index: -1 }, next: { itemId: '3', index: 1 } });
    playOut(1000);
    playOut(1000);
    expect(aired()).toEqual(['1', '2', '3']);
    expect(seq.status().current).toMatchObject({ itemId: '1', index: 0 });
  });

  it('the last item on air, removed, is followed by the first when the list loops, by the end otherwise', async () => {
    const looping = setup();
    await looping.seq.load(load(true, ['1', '2']));
    looping.playOut(1000);
    await looping.seq.update(edit(['1', 'x']));
    await looping.seq.update(edit(['1', 'x', 'y']));
    // Still no longer listed: the position it had (1) is what follows, now x.
    expect(looping.seq.status().next).toMatchObject({ itemId: 'x' });
    await looping.seq.update(edit(['1']));
    expect(looping.seq.status().next).toMatchObject({ itemId: '1' });
    const once = setup();
    await once.seq.load(load(false, ['1', '2']));
    once.playOut(1000);
    await once.seq.update(edit(['1']));
    expect(once.seq.status().next).toBeNull();
    once.playOut(1000);
    expect(once.seq.status().state).toBe('STOPPED');
  });

  it('withdraws a cued item that changed and cues the new next; keeps an identical one cued', async () => {
    const { seq, engine, playOut, aired } = setup();
    await seq.load(load(false, ['1', '2', '3']));
    engine.played[0].listener.onCue!();
    expect(engine.live).toEqual(['1', '2']);
    // 2 stays next, unchanged: nothing is re-cued.
    await seq.update(edit(['1', '2', 'x']));
    expect(engine.played).toHaveLength(2);
    expect(engine.live).toEqual(['1', '2']);
    // 2 changed its out point: withdrawn, cued again as it is now.
    await seq.update({ playlistId: 'p', items: [item('1'), item('2', 500, { outPointMs: 500 }), item('x')] });
    expect(engine.live).toEqual(['1', '2']);
    expect(engine.played.map((p) => [p.clip.itemId, p.clip.durationMs, p.stopped])).toEqual([
      ['1', 1000, false],
      ['2', 1000, true],
      ['2', 500, false],
    ]);
    // Removed: withdrawn, x cued instead.
    await seq.update(edit(['1', 'x']));
    expect(engine.live).toEqual(['1', 'x']);
    // The engine takes the cued clip over at the end of the one on air.
    const first = engine.played[0];
    first.listener.onEnd({ ok: true });
    expect(seq.status().current).toMatchObject({ itemId: 'x' });
    playOut(1000);
    expect(aired()).toEqual(['x']);
    expect(seq.status().state).toBe('STOPPED');
  });

  it('leaves a cued item to air when the edit comes too close to the handover for the engine to withdraw it', async () => {
    const { seq, engine, advance, playOut, aired, now } = setup();
    Object.assign(engine, { cueLockMs: 500 });
    await seq.load(load(false, ['1', '2', '3']));
    engine.played[0].listener.onAir(now());
    engine.played[0].listener.onCue!();
    // 1 s item, 100 ms in: 900 ms left, outside the window: 2 is withdrawn.
    advance(100);
    await seq.update(edit(['1', 'x', '2', '3']));
    expect(engine.live).toEqual(['1', 'x']);
    // 300 ms left: x stays cued though the edit removes it; what follows x comes from the new list.
    advance(600);
    await seq.update(edit(['1', '3']));
    expect(engine.live).toEqual(['1', 'x']);
    expect(seq.status().next).toMatchObject({ itemId: 'x', index: -1 });
    engine.played[0].listener.onEnd({ ok: true });
    playOut(1000);
    playOut(1000);
    expect(aired()).toEqual(['1', 'x', '3']);
    expect(seq.status().state).toBe('STOPPED');
  });

  it('cues an added item at once when the engine already asked for a next and there was none', async () => {
    const { seq, engine } = setup();
    await seq.load(load(false, ['1']));
    engine.played[0].listener.onCue!();
    expect(engine.live).toEqual(['1']);
    await seq.update(edit(['1', '2']));
    expect(engine.live).toEqual(['1', '2']);
  });

  it('refuses an edit of another playlist, with nothing on air, or older than what is loaded', async () => {
    const { seq } = setup();
    await expect(seq.update(edit(['1']))).rejects.toThrow(/not on air \(playout is IDLE\)/);
    await seq.load(load(false, ['1', '2'], 5));
    await expect(seq.update({ ...edit(['1']), playlistId: 'other' })).rejects.toThrow(
      'playlist other is not on air (p is)',
    );
    const stale = await seq.update(edit(['1'], { version: 4 })).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(StateConflictError);
    expect(stale).toMatchObject({ code: 'STALE' });
    expect(seq.status().next).toMatchObject({ itemId: '2' });
    await seq.update(edit(['1', '3'], { version: 7 }));
    await expect(seq.update(edit(['1', '2'], { version: 6 }))).rejects.toMatchObject({ code: 'STALE' });
    // The same version again is the same list: accepted.
    await seq.update(edit(['1', '3'], { version: 7 }));
    expect(seq.status().next).toMatchObject({ itemId: '3' });
  });

  it('an emptied playlist lets the item on air finish, then stops', async () => {
    const { seq, engine, playOut, aired } = setup();
    await seq.load(load(true, ['1', '2']));
    engine.played[0].listener.onCue!();
    await seq.update(edit([]));
    expect(engine.live).toEqual(['1']);
    expect(seq.status()).toMatchObject({ state: 'PLAYING', current: { itemId: '1', index: -1 }, next: null });
    playOut(1000);
    expect(aired()).toEqual(['1']);
    expect(seq.status().state).toBe('STOPPED');
  });

  it('takes a new loop setting, and keeps the old one when none is given', async () => {
    const { seq, playOut } = setup();
    await seq.load(load(false, ['1', '2']));
    playOut(1000);
    expect(seq.status().next).toBeNull();
    await seq.update(edit(['1', '2'], { loop: true }));
    expect(seq.status()).toMatchObject({ loop: true, next: { itemId: '1' } });
    await seq.update(edit(['1', '2']));
    expect(seq.status().loop).toBe(true);
  });
});

describe('PUT /playlist on a sidecar with the ffmpeg engine', () => {
  let mediaDir: string;
  let app: SidecarApp;
  let call: ReturnType<typeof client>;

  beforeAll(async () => {
    mediaDir = await makeMediaDir({ 'a.mp4': 3, 'b.mp4': 2, 'c.mp4': 2 });
    const config = loadSidecarConfig({
      CHANNEL_ID,
      PORT: '0',
      SIDECAR_SECRET: SECRET,
      ENGINE: 'ffmpeg',
      VIDEO_FORMAT: '576p2500',
      MEDIA_DIR: mediaDir,
      OUTPUT_JSON: JSON.stringify({ type: 'UDP', url: 'udp://127.0.0.1:9' }),
    });
    app = buildSidecarApp(config, { eventsFile: false });
    call = client(`http://127.0.0.1:${await app.start()}`);
  });

  afterAll(async () => {
    await app?.stop();
    if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
  });

  it('refuses a bad body with 400 naming the field, and an edit when nothing is on air with 409', async () => {
    const bad = await call('PUT', '/playlist', { playlistId: 'p', items: [httpItem('1', 'a.mp4', 0)] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'BAD_REQUEST', field: 'items.0.durationMs' });
    const twice = await call('PUT', '/playlist', {
      playlistId: 'p',
      items: [httpItem('1', 'a.mp4', 1000), httpItem('1', 'b.mp4', 1000)],
    });
    expect(twice.body.error).toMatchObject({
      code: 'BAD_REQUEST',
      field: 'items.1.itemId',
      message: 'items.1.itemId: must be unique',
    });
    const notList = await call('PUT', '/playlist', { playlistId: 'p', items: {} });
    expect(notList.body.error).toMatchObject({ code: 'BAD_REQUEST', field: 'items' });
    const noId = await call('PUT', '/playlist', { items: [] });
    expect(noId.body.error).toMatchObject({ code: 'BAD_REQUEST', field: 'playlistId' });
    expect((await call('PUT', '/playlist', '{nope')).body.error.message).toBe('body: must be JSON');
    const idle = await call('PUT', '/playlist', { playlistId: 'p', items: [httpItem('1', 'a.mp4', 1000)] });
    expect(idle.status).toBe(409);
    expect(idle.body.error).toMatchObject({ code: 'CONFLICT' });
  });

  it('airs an edit made while the next clip is already prerolled: the new next follows, the removed one never airs', async () => {
    const loaded = await call('POST', '/playlist', {
      playlistId: 'pl',
      loop: false,
      version: 1,
      items: [httpItem('a', 'a.mp4', 3000), httpItem('b', 'b.mp4', 2000)],
    });
    expect(loaded.status).toBe(200);
    await readEventsUntil(call, (ev) => ev.some((e) => e.kind === 'ITEM_ON_AIR' && e.itemId === 'a'));

    const other = await call('PUT', '/playlist', { playlistId: 'nope', items: [httpItem('a', 'a.mp4', 3000)] });
    expect(other.status).toBe(409);
    expect(other.body.error.message).toBe('playlist nope is not on air (pl is)');
    const missing = await call('PUT', '/playlist', {
      playlistId: 'pl',
      items: [httpItem('a', 'a.mp4', 3000), httpItem('z', 'zz.mp4', 1000)],
    });
    expect(missing.body.error).toMatchObject({ code: 'MEDIA_MISSING', items: ['z'] });

    // The engine asks for the next clip 2 s before a's end (about 1 s in): b is decoding by then.
    await until(
      async () => ((await call('GET', '/status')).body.current?.positionMs ?? 0) >= 1200,
      'a 1.2 s into air',
      10_000,
    );
    // c replaces the prerolled b.
    const edited = await call('PUT', '/playlist', {
      playlistId: 'pl',
      version: 2,
      items: [httpItem('a', 'a.mp4', 3000), httpItem('c', 'c.mp4', 2000)],
    });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ current: { itemId: 'a' }, next: { itemId: 'c' } });
    // An edit read before that one arrives late: refused, the newer list stays.
    const late = await call('PUT', '/playlist', {
      playlistId: 'pl',
      version: 1,
      items: [httpItem('a', 'a.mp4', 3000), httpItem('b', 'b.mp4', 2000)],
    });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('STALE');

    // Alarms (ENGINE_BEHIND on a loaded machine) are the engine's part, not the edit's.
    const events = (
      await readEventsUntil(call, (ev) => ev.some((e) => e.kind === 'STATE_CHANGED' && e.state === 'STOPPED'))
    ).filter((e) => !e.kind.startsWith('ALARM_'));
    // b never aired nor failed: withdrawn before its turn. a ended, then c took its turn.
    expect(events.filter((e) => e.itemId === 'b')).toEqual([]);
    expect(events.filter((e) => e.kind === 'ITEM_ENDED').map((e) => e.itemId)).toEqual(['a', 'c']);
    expect(events.at(-1)).toMatchObject({ kind: 'STATE_CHANGED', state: 'STOPPED' });
    // The edit cut nothing short. (An encoder the machine cannot keep in real time fails items,
    // FAILED, whatever the edit: the engine's part, reported as ERROR events.)
    const errors = events.filter((e) => e.kind === 'ERROR').map((e) => e.message);
    expect(events.filter((e) => e.kind === 'ITEM_ENDED').map((e) => e.how)).not.toContain('SKIPPED');
    if (errors.length === 0) {
      const shape = events.map((e) =>
        e.kind === 'STATE_CHANGED' ? e.state : `${e.kind} ${e.itemId} ${e.how ?? ''}`.trim(),
      );
      expect(shape).toEqual([
        'PLAYING',
        'ITEM_ON_AIR a',
        'ITEM_ENDED a PLAYED',
        'ITEM_ON_AIR c',
        'ITEM_ENDED c PLAYED',
        'STOPPED',
      ]);
      const endA = events.find((e) => e.kind === 'ITEM_ENDED' && e.itemId === 'a');
      const onC = events.find((e) => e.kind === 'ITEM_ON_AIR' && e.itemId === 'c');
      expect(endA.durationMs).toBeGreaterThanOrEqual(2900);
      // c followed a: at once when its decoder was ready in time, after a held frame otherwise.
      expect(Date.parse(onC.startedAt)).toBeGreaterThanOrEqual(Date.parse(endA.endedAt));
    } else console.warn(`playout faults during the edit test (machine load): ${errors.join(' | ')}`);
  });
});
