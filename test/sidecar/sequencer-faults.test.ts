import { describe, expect, it } from 'vitest';
import type { ClipListener, Engine, EngineClip } from '../../src/sidecar/engines/engine.ts';
import { Alarms } from '../../src/sidecar/alarms.ts';
import { EventLog } from '../../src/sidecar/event-log.ts';
import { Sequencer } from '../../src/sidecar/sequencer.ts';

/** An engine whose clips go on air, fail and end when the test says so. */
class FakeEngine implements Engine {
  readonly name = 'fake';
  played: { clip: EngineClip; listener: ClipListener }[] = [];
  async start() {}
  async close() {}
  play(clip: EngineClip, listener: ClipListener) {
    this.played.push({ clip, listener });
    return { pause: () => undefined, resume: () => undefined, stop: async () => undefined };
  }
  clip(id: string) {
    return this.played.filter((p) => p.clip.itemId === id).at(-1)!.listener;
  }
}

function setup() {
  let t = Date.parse('2026-01-01T00:00:00Z');
  const now = () => t;
  const engine = new FakeEngine();
  const log = new EventLog({ now });
  const alarms = new Alarms(log, now);
  const seq = new Sequencer({ engine, log, mediaDir: '/media', channelId: 'c', now, alarms });
  const shape = () =>
    log
      .after(0)
      .map((e) =>
        e.kind === 'STATE_CHANGED'
          ? e.state
          : e.kind === 'ITEM_ENDED'
            ? `END ${e.itemId} ${e.how} ${e.reason ?? '-'}`
            : e.kind === 'ITEM_ON_AIR'
              ? `AIR ${e.itemId}`
              : e.kind === 'ERROR'
                ? `ERROR ${e.message}`
                : `${e.kind} ${e.alarm}`,
      );
  return { engine, seq, shape, alarms, advance: (ms: number) => void (t += ms), now };
}

const item = (id: string) => ({
  itemId: id,
  assetId: `a${id}`,
  clipName: `${id}.mov`,
  mediaPath: `${id}.mov`,
  durationMs: 1000,
  transition: 'CUT' as const,
  transitionMs: 0,
});

describe('Sequencer faults', () => {
  it('fails a clip with its reason, raises MEDIA_MISSING naming it, plays the next, and clears the alarm once a later clip played', async () => {
    const { seq, engine, shape, alarms, now, advance } = setup();
    await seq.load({ playlistId: 'p', loop: false, items: [item('1'), item('2'), item('3')] });
    engine.clip('1').onAir(now());
    engine.clip('1').onCue!();
    engine.clip('2').onEnd({ ok: false, message: 'media file missing from the playout volume' });
    expect(alarms.list()).toMatchObject([
      { kind: 'MEDIA_MISSING', message: 'item 2 (2.mov) failed: media file missing from the playout volume' },
    ]);
    advance(1000);
    // Item 1 played out before the failure was fixed: the alarm stays up.
    engine.clip('1').onEnd({ ok: true });
    expect(alarms.list()).toHaveLength(1);
    engine.clip('3').onAir(now());
    advance(1000);
    engine.clip('3').onEnd({ ok: true });
    expect(shape()).toEqual([
      'PLAYING',
      'AIR 1',
      'ERROR item 2 (2.mov) failed: media file missing from the playout volume',
      'ALARM_RAISED MEDIA_MISSING',
      'END 2 FAILED media file missing from the playout volume',
      'END 1 PLAYED -',
      'AIR 3',
      'ALARM_CLEARED MEDIA_MISSING',
      'END 3 PLAYED -',
      'STOPPED',
    ]);
  });

  it('stops on an output that cannot be restarted: the item on air ends TRUNCATED with the reason, PLAYOUT_STOPPED until the next load', async () => {
    const { seq, engine, shape, alarms, now } = setup();
    await seq.load({ playlistId: 'p', loop: true, items: [item('1'), item('2')] });
    engine.clip('1').onAir(now());
    engine.clip('1').onCue!();
    const why = 'the output SRT srt://h:9000 cannot be opened: Protocol not found';
    engine.clip('1').onEnd({ ok: false, fatal: true, message: why });
    engine.clip('2').onEnd({ ok: false, fatal: true, message: why });
    expect(shape()).toEqual([
      'PLAYING',
      'AIR 1',
      `ERROR playout stopped: ${why}`,
      `END 1 TRUNCATED ${why}`,
      'ALARM_RAISED PLAYOUT_STOPPED',
      'STOPPED',
    ]);
    expect(seq.status()).toMatchObject({ state: 'STOPPED', alarms: [{ kind: 'PLAYOUT_STOPPED', message: why }] });
    await seq.load({ playlistId: 'p', loop: true, items: [item('1')] });
    expect(alarms.list()).toEqual([]);
    expect(shape().slice(-2)).toEqual(['ALARM_CLEARED PLAYOUT_STOPPED', 'PLAYING']);
  });

  it('logs an item during which the engine lost frames PLAYED, its reason saying how many', async () => {
    const { seq, engine, shape, now, advance } = setup();
    await seq.load({ playlistId: 'p', loop: false, items: [item('1'), item('2')] });
    engine.clip('1').onAir(now());
    engine.clip('1').onCue!();
    advance(1000);
    engine.clip('1').onEnd({ ok: true, framesLost: 75 });
    engine.clip('2').onAir(now());
    advance(1000);
    engine.clip('2').onEnd({ ok: true, framesLost: 1 });
    expect(shape().filter((e) => e.startsWith('END'))).toEqual([
      'END 1 PLAYED 75 frames lost: playout fell behind real time',
      'END 2 PLAYED 1 frame lost: playout fell behind real time',
    ]);
  });

  it('gives the reason of a stop by the operator', async () => {
    const { seq, engine, shape, now } = setup();
    await seq.load({ playlistId: 'p', loop: false, items: [item('1')] });
    engine.clip('1').onAir(now());
    await seq.stop();
    expect(shape().slice(-2)).toEqual(['END 1 TRUNCATED stopped by the operator', 'STOPPED']);
  });
});
