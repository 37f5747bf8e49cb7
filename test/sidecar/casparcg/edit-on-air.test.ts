import { afterEach, describe, expect, it } from 'vitest';
import { ended, item, onAir, rig, until, type Rig } from './harness.ts';

// An edit of the playlist on air on CasparCG: the next clip is armed (LOADBG
// … AUTO) as soon as the one on air is; an edit that replaces it disarms it and
// arms the new one, so the server itself swaps to the new clip on the frame.
let r: Rig | null = null;
afterEach(async () => {
  await r?.close();
  r = null;
});

describe('editing the playlist on air on CasparCG', () => {
  it('a replaced armed clip is disarmed and the new next armed; the server plays the new order', async () => {
    r = await rig({ peer: { clips: { 'clips/a.mp4': 3, 'clips/b.mp4': 3, 'clips/c.mp4': 3 } } });
    const channel = r;
    await channel.load({
      loop: false,
      items: [item('A', 'a.mp4', 2500), item('B', 'b.mp4', 1000), item('C', 'c.mp4', 1000)],
    });
    await until(() => channel.peer.playoutCommands().some((c) => c.startsWith('LOADBG 1-10 "clips/b.mp4"')), 'B armed');

    await channel.sequencer.update({
      playlistId: 'p1',
      items: [item('A', 'a.mp4', 2500), item('C', 'c.mp4', 1000, { transition: 'MIX', transitionMs: 200 })],
    });
    const events = await channel.waitFor((evs) => evs.some((e) => e.kind === 'STATE_CHANGED' && e.state === 'STOPPED'));
    // The layer's CLEAR travels over AMCP after STOPPED is reported: wait for it to reach the server.
    const layerCommands = () => channel.peer.playoutCommands().filter((c) => / 1-10/.test(c));
    await until(() => layerCommands().filter((c) => c === 'CLEAR 1-10').length === 2, 'the emptied layer cleared');

    const layer = layerCommands();
    expect(layer).toEqual([
      'CLEAR 1-10',
      'PLAY 1-10 "clips/a.mp4" LENGTH 125',
      'LOADBG 1-10 "clips/b.mp4" LENGTH 50 AUTO',
      'LOADBG 1-10 EMPTY',
      'LOADBG 1-10 "clips/c.mp4" LENGTH 50 MIX 10 AUTO',
      'CLEAR 1-10',
    ]);
    expect(channel.peer.history.map((h) => h.name)).toEqual(['clips/a.mp4', 'clips/c.mp4']);
    expect(events.filter((e) => 'itemId' in e && e.itemId === 'B')).toEqual([]);
    // A aired whole (less C's MIX, which starts 10 ticks before A's out point); C took over on the server's frame.
    expect(ended(events, 'A')).toMatchObject({ how: 'PLAYED', endedAt: onAir(events, 'C')!.startedAt });
    expect(ended(events, 'C')).toMatchObject({ how: 'PLAYED' });
    expect(events.filter((e) => e.kind === 'ERROR')).toEqual([]);
  });

  it('an edit within the lock window before the handover leaves the armed clip to air, and applies after it', async () => {
    r = await rig({ peer: { clips: { 'clips/a.mp4': 3, 'clips/b.mp4': 3, 'clips/c.mp4': 3 } } });
    const channel = r;
    const lock = channel.engine.cueLockMs;
    expect(lock).toBeGreaterThan(0);
    await channel.load({
      loop: false,
      items: [item('A', 'a.mp4', 2000), item('B', 'b.mp4', 1000), item('C', 'c.mp4', 1000)],
    });
    // Within the window: less than `lock` left of A.
    await until(
      () =>
        channel.sequencer.status().current?.itemId === 'A' &&
        2000 - (channel.sequencer.status().current?.positionMs ?? 0) < lock - 100,
      'A near its end',
      15_000,
    );
    await channel.sequencer.update({ playlistId: 'p1', items: [item('A', 'a.mp4', 2000), item('C', 'c.mp4', 1000)] });
    const events = await channel.waitFor((evs) => evs.some((e) => e.kind === 'STATE_CHANGED' && e.state === 'STOPPED'));
    expect(channel.peer.playoutCommands()).not.toContain('LOADBG 1-10 EMPTY');
    // B airs as armed; C (what follows it in the edited list) after it.
    expect(channel.peer.history.map((h) => h.name)).toEqual(['clips/a.mp4', 'clips/b.mp4', 'clips/c.mp4']);
    expect(events.filter((e) => e.kind === 'ITEM_ENDED').map((e) => [e.itemId, e.how])).toEqual([
      ['A', 'PLAYED'],
      ['B', 'PLAYED'],
      ['C', 'PLAYED'],
    ]);
  });
});
