import { describe, expect, it } from 'vitest';
import type { LoadPlaylist } from '../../src/protocol/sidecar-api.ts';
import type { ClipListener, Engine, EngineClip } from '../../src/sidecar/engines/engine.ts';
import { EventLog } from '../../src/sidecar/event-log.ts';
import { Sequencer, StateConflictError } from '../../src/sidecar/sequencer.ts';

/** An engine whose clips go on air and end when the test says so. */
class FakeEngine implements Engine {
  readonly name = 'fake';
  played: { clip: EngineClip; listener: ClipListener; paused: boolean; stopped: boolean }[] = [];
  async start() {}
  async close() {}
  play(clip: EngineClip, listener: ClipListener) {
    const p = { clip, listener, paused: false, stopped: false };
    this.played.push(p);
    return {
      pause: () => void (p.paused = true),
      resume: () => void (p.paused = false),
      stop: async () => void (p.stopped = true),
    };
  }
  get last() {
    return this.played.at(-1)!;
  }
}

function setup() {
  let t = Date.parse('2026-01-01T00:00:00Z');
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  const engine = new FakeEngine();
  const log = new EventLog({ now: clock.now });
  const seq = new Sequencer({ engine, log, mediaDir: '/media', channelId: 'c', now: clock.now });
  const shape = () =>
    log
      .after(0)
      .map((e) =>
        e.kind === 'STATE_CHANGED'
          ? e.state
          : e.kind === 'ERROR'
            ? 'ERROR'
            : e.kind === 'ITEM_ENDED'
              ? `END ${e.itemId} ${e.how} ${e.durationMs}`
              : e.kind === 'ITEM_ON_AIR'
                ? `AIR ${e.itemId}`
                : `${e.kind} ${e.alarm}`,
      );
  /** The current clip reaches air now, plays `ms`, and ends on its own. */
  const playOut = (ms: number) => {
    engine.last.listener.onAir(clock.now());
    clock.advance(ms);
    engine.last.listener.onEnd({ ok: true });
  };
  return { clock, engine, log, seq, shape, playOut };
}

const item = (id: string, durationMs: number, extra: object = {}) => ({
  itemId: id,
  assetId: `a${id}`,
  clipName: `${id}.mov`,
  mediaPath: `${id}.mov`,
  durationMs,
  transition: 'CUT' as const,
  transitionMs: 0,
  ...extra,
});
const playlist = (loop: boolean, ...items: ReturnType<typeof item>[]): LoadPlaylist => ({
  playlistId: 'p',
  loop,
  items,
});

describe('Sequencer', () => {
  it('plays in order and stops at the end of a list that does not loop', async () => {
    const { seq, engine, shape, playOut } = setup();
    await seq.load(playlist(false, item('1', 1000), item('2', 500, { inPointMs: 200 })));
    expect(engine.last.clip).toMatchObject({ itemId: '1', file: '/media/1.mov', inPointMs: 0, durationMs: 1000 });
    playOut(1000);
    expect(engine.last.clip).toMatchObject({ itemId: '2', inPointMs: 200, durationMs: 500 });
    expect(seq.status().current).toMatchObject({ itemId: '2' });
    expect(seq.status().next).toBeNull();
    playOut(500);
    expect(shape()).toEqual(['PLAYING', 'AIR 1', 'END 1 PLAYED 1000', 'AIR 2', 'END 2 PLAYED 500', 'STOPPED']);
    expect(seq.status()).toMatchObject({ state: 'STOPPED', current: null });
  });

  it('loops back to the first item', async () => {
    const { seq, engine, playOut } = setup();
    await seq.load(playlist(true, item('1', 100), item('2', 100)));
    expect(seq.status().next).toMatchObject({ itemId: '2' });
    playOut(100);
    expect(seq.status().next).toMatchObject({ itemId: '1' });
    playOut(100);
    expect(engine.played.map((p) => p.clip.itemId)).toEqual(['1', '2', '1']);
  });

  it('starts at startAt with the offset added to the in point', async () => {
    const { seq, engine } = setup();
    await seq.load({
      ...playlist(false, item('1', 100), item('2', 1000, { inPointMs: 500 })),
      startAt: { index: 1, offsetMs: 300 },
    });
    expect(engine.last.clip).toMatchObject({ itemId: '2', inPointMs: 800, durationMs: 700 });
  });

  it('does not count paused time, and refuses commands the state forbids', async () => {
    const { seq, engine, clock, shape } = setup();
    await expect(seq.pause()).rejects.toBeInstanceOf(StateConflictError);
    await expect(seq.stop()).rejects.toBeInstanceOf(StateConflictError);
    await seq.load(playlist(false, item('1', 1000)));
    engine.last.listener.onAir(clock.now());
    clock.advance(400);
    await seq.pause();
    expect(engine.last.paused).toBe(true);
    await expect(seq.pause()).rejects.toBeInstanceOf(StateConflictError);
    clock.advance(5000);
    expect(seq.status().current?.positionMs).toBe(400);
    await seq.resume();
    await expect(seq.resume()).rejects.toBeInstanceOf(StateConflictError);
    clock.advance(600);
    engine.last.listener.onEnd({ ok: true });
    expect(shape()).toEqual(['PLAYING', 'AIR 1', 'PAUSED', 'PLAYING', 'END 1 PLAYED 1000', 'STOPPED']);
  });

  it('skip ends SKIPPED and plays the next; skip of the last item stops; stop ends TRUNCATED', async () => {
    const { seq, engine, clock, shape } = setup();
    await seq.load(playlist(false, item('1', 1000), item('2', 1000), item('3', 1000)));
    engine.last.listener.onAir(clock.now());
    clock.advance(250);
    await seq.skip();
    expect(engine.played[0].stopped).toBe(true);
    // A late callback from the skipped clip changes nothing.
    engine.played[0].listener.onEnd({ ok: true });
    engine.last.listener.onAir(clock.now());
    clock.advance(100);
    await seq.pause();
    await seq.skip();
    engine.last.listener.onAir(clock.now());
    clock.advance(50);
    await seq.stop();
    await expect(seq.skip()).rejects.toBeInstanceOf(StateConflictError);
    expect(shape()).toEqual([
      'PLAYING',
      'AIR 1',
      'END 1 SKIPPED 250',
      'AIR 2',
      'PAUSED',
      'END 2 SKIPPED 100',
      'PLAYING',
      'AIR 3',
      'END 3 TRUNCATED 50',
      'STOPPED',
    ]);
  });

  it('a failed item ends FAILED with an ERROR and playout moves on; a list that all fails stops', async () => {
    const { seq, engine, shape, playOut } = setup();
    await seq.load(playlist(true, item('1', 100), item('2', 100)));
    engine.last.listener.onEnd({ ok: false, message: 'no such file' });
    playOut(100);
    engine.last.listener.onEnd({ ok: false, message: 'boom' });
    engine.last.listener.onEnd({ ok: false, message: 'boom' });
    expect(shape()).toEqual([
      'PLAYING',
      'ERROR',
      'END 1 FAILED 0',
      'AIR 2',
      'END 2 PLAYED 100',
      'ERROR',
      'END 1 FAILED 0',
      'ERROR',
      'END 2 FAILED 0',
      'ERROR',
      'STOPPED',
    ]);
    expect(seq.status().errors.at(-1)?.message).toMatch(/every item/);
  });

  it('loading a playlist while playing truncates the current item', async () => {
    const { seq, engine, clock, shape } = setup();
    await seq.load(playlist(false, item('1', 1000)));
    engine.last.listener.onAir(clock.now());
    clock.advance(10);
    await seq.load({ ...playlist(false, item('9', 1000)), playlistId: 'q' });
    expect(shape()).toEqual(['PLAYING', 'AIR 1', 'END 1 TRUNCATED 10']);
    expect(seq.status()).toMatchObject({ playlistId: 'q', state: 'PLAYING', current: { itemId: '9' } });
  });
});

describe('EventLog', () => {
  it('numbers from 1, keeps the last N, and pages from any seq', async () => {
    const log = new EventLog({ capacity: 3 });
    for (let i = 0; i < 5; i++) log.append({ kind: 'ERROR', message: String(i) });
    expect(log.after(0).map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(log.after(4).map((e) => e.seq)).toEqual([5]);
    expect(await log.wait(5, 0)).toEqual({ events: [], lastSeq: 5 });
    const waiting = log.wait(5, 5000);
    log.append({ kind: 'ERROR', message: 'x' });
    expect((await waiting).events.map((e) => e.seq)).toEqual([6]);
    // A reader still on a previous epoch's numbering is answered at once.
    expect(await log.wait(99, 5000)).toEqual({ events: [], lastSeq: 6 });
  });
});

describe('Sequencer with an engine that cues the next clip (onCue)', () => {
  it('hands the next item over ahead of the end; it stays next until the switch', async () => {
    const { seq, engine, shape, clock } = setup();
    await seq.load(playlist(false, item('1', 1000), item('2', 500)));
    const first = engine.last;
    first.listener.onAir(clock.now());
    clock.advance(600);
    first.listener.onCue!();
    expect(engine.played.map((p) => p.clip.itemId)).toEqual(['1', '2']);
    expect(seq.status().current).toMatchObject({ itemId: '1' });
    clock.advance(400);
    first.listener.onEnd({ ok: true, endedAtMs: clock.now() });
    engine.played[1].listener.onAir(clock.now());
    expect(seq.status().current).toMatchObject({ itemId: '2' });
    // No third play(): the cued clip was already in the engine.
    expect(engine.played).toHaveLength(2);
    clock.advance(500);
    engine.played[1].listener.onEnd({ ok: true });
    expect(shape()).toEqual(['PLAYING', 'AIR 1', 'END 1 PLAYED 1000', 'AIR 2', 'END 2 PLAYED 500', 'STOPPED']);
  });

  it('a skip in the cue window puts the cued item on air; a stop withdraws it without an event', async () => {
    const { seq, engine, shape, clock } = setup();
    await seq.load(playlist(false, item('1', 1000), item('2', 500), item('3', 500)));
    engine.last.listener.onAir(clock.now());
    clock.advance(700);
    engine.last.listener.onCue!();
    await seq.skip();
    expect(engine.played[0].stopped).toBe(true);
    expect(engine.played[1].stopped).toBe(false);
    expect(engine.played).toHaveLength(2);
    expect(seq.status().current).toMatchObject({ itemId: '2' });
    engine.played[1].listener.onAir(clock.now());
    clock.advance(300);
    engine.played[1].listener.onCue!();
    expect(engine.last.clip.itemId).toBe('3');
    await seq.stop();
    expect(engine.played[2].stopped).toBe(true);
    expect(shape()).toEqual(['PLAYING', 'AIR 1', 'END 1 SKIPPED 700', 'AIR 2', 'END 2 TRUNCATED 300', 'STOPPED']);
  });

  it('pause in the cue window counts against the item on air, not the cued one', async () => {
    const { seq, engine, shape, clock } = setup();
    await seq.load(playlist(false, item('1', 1000), item('2', 500)));
    engine.last.listener.onAir(clock.now());
    clock.advance(600);
    engine.last.listener.onCue!();
    await seq.pause();
    expect(engine.played[0].paused).toBe(true);
    clock.advance(2000);
    await seq.resume();
    clock.advance(400);
    engine.played[0].listener.onEnd({ ok: true });
    expect(shape()).toEqual(['PLAYING', 'AIR 1', 'PAUSED', 'PLAYING', 'END 1 PLAYED 1000']);
  });

  it('a cued item that fails before its turn is logged FAILED and the one after it is cued', async () => {
    const { seq, engine, shape, clock } = setup();
    await seq.load(playlist(false, item('1', 1000), item('2', 500), item('3', 500)));
    engine.last.listener.onAir(clock.now());
    engine.last.listener.onCue!();
    engine.played[1].listener.onEnd({ ok: false, message: 'cannot decode' });
    expect(engine.last.clip.itemId).toBe('3');
    expect(seq.status().current).toMatchObject({ itemId: '1' });
    clock.advance(1000);
    engine.played[0].listener.onEnd({ ok: true });
    expect(seq.status().current).toMatchObject({ itemId: '3' });
    expect(shape()).toEqual(['PLAYING', 'AIR 1', 'ERROR', 'END 2 FAILED 0', 'END 1 PLAYED 1000']);
  });
});

describe('Sequencer, a load anchored in time (resume after a failover or restart)', () => {
  const three = (loop: boolean) => playlist(loop, item('1', 3000), item('2', 3000), item('3', 3000));
  const iso = (ms: number) => new Date(ms).toISOString();

  it('starts where the list would be as it reaches air: seconds after the anchor, into a later item', async () => {
    const { seq, engine, clock, shape } = setup();
    const anchorAt = iso(clock.now());
    clock.advance(6500); // the new sidecar took 6.5 s to take the load
    await seq.load({ ...three(false), startAt: { index: 0, offsetMs: 1000 }, anchorAt });
    // Timed 0.5 s ahead (time to open the file), 7 s after the anchor: 1 s into item 1 then is 2 s into item 3.
    expect(engine.played).toHaveLength(1);
    expect(engine.last.clip).toMatchObject({
      itemId: '3',
      inPointMs: 2000,
      durationMs: 1000,
      startAtMs: clock.now() + 500,
    });
    clock.advance(500);
    engine.last.listener.onAir(clock.now());
    expect(seq.status().current).toMatchObject({ itemId: '3', index: 2, positionMs: 2000 });
    expect(shape()).toEqual(['PLAYING', 'AIR 3']);
  });

  it('goes round a looping list as many times as it would have', async () => {
    const { seq, engine, clock } = setup();
    const anchorAt = iso(clock.now());
    clock.advance(10_000 + 9000 * 2 - 500); // two whole rounds more, less the lead
    await seq.load({ ...three(true), startAt: { index: 1, offsetMs: 500 }, anchorAt });
    // 0.5 s into item 2, 10 s later: the rest of 2 and 3 (5.5 s), 3 s of 1, 1.5 s into 2.
    expect(engine.last.clip).toMatchObject({ itemId: '2', inPointMs: 1500, durationMs: 1500 });
    expect(seq.status()).toMatchObject({ state: 'PLAYING', current: { index: 1 } });
  });

  it('refuses a list that does not loop and would have ended, and plays nothing', async () => {
    const { seq, engine, clock } = setup();
    const anchorAt = iso(clock.now());
    clock.advance(8000);
    await expect(seq.load({ ...three(false), startAt: { index: 0, offsetMs: 1000 }, anchorAt })).rejects.toThrow(
      StateConflictError,
    );
    expect(engine.played).toHaveLength(0);
    expect(seq.status().state).toBe('IDLE');
  });

  it('an anchor ahead of its own clock (hosts a little apart) starts at startAt as given; no anchor, likewise', async () => {
    const { seq, engine, clock } = setup();
    await seq.load({ ...three(false), startAt: { index: 1, offsetMs: 700 }, anchorAt: iso(clock.now() + 1000) });
    expect(engine.last.clip).toMatchObject({ itemId: '2', inPointMs: 700 });
    clock.advance(5000);
    await seq.load({ ...three(false), startAt: { index: 2, offsetMs: 100 } });
    expect(engine.last.clip).toMatchObject({ itemId: '3', inPointMs: 100 });
    expect(engine.last.clip.startAtMs).toBeUndefined();
  });
});
