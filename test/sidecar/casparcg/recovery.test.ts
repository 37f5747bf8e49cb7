import { afterEach, describe, expect, it } from 'vitest';
import type { SidecarEvent } from '../../../src/protocol/sidecar-api.ts';
import { ended, item, onAir, rig, sleep, until, type Rig } from './harness.ts';

let current: Rig | null = null;
afterEach(async () => {
  await current?.close();
  current = null;
});

const errors = (events: SidecarEvent[]) =>
  events.filter((e): e is Extract<SidecarEvent, { kind: 'ERROR' }> => e.kind === 'ERROR');
const seqOf = (events: SidecarEvent[], pick: (e: SidecarEvent) => boolean) => events.find(pick)?.seq ?? -1;
const time = (iso: string | null | undefined) => Date.parse(iso ?? '');

/**
 * The PLAY the engine sent after the restart, with its SEEK in ticks, when the
 * peer got it, and when the peer got the command before it: the engine worked
 * out the SEEK in between (after that command's answer, before this one
 * arrived), a window of a few ms that grows when the machine is loaded.
 */
function replay(r: Rig, clip: string, after: number) {
  const at = r.peer.commands.findIndex((c) => c.atMs >= after && c.line.startsWith(`PLAY 1-10 "${clip}"`));
  const cmd = at > 0 ? r.peer.commands[at] : null;
  const m = cmd && /SEEK (\d+) LENGTH (\d+)/.exec(cmd.line);
  return cmd && m
    ? {
        atMs: cmd.atMs,
        decidedAfterMs: r.peer.commands[at - 1].atMs,
        seek: Number(m[1]),
        length: Number(m[2]),
        line: cmd.line,
      }
    : null;
}

/**
 * The SEEK (ticks) is where the wall clock had the item (on air since
 * `startedAt`) at some moment the engine could have worked it out, give or
 * take 3 ticks (rounding, and the start as INFO samples refine it).
 */
function expectWallClockSeek(again: NonNullable<ReturnType<typeof replay>>, startedAt: number, tick: number) {
  expect(again.seek * tick).toBeGreaterThanOrEqual(again.decidedAfterMs - startedAt - 3 * tick);
  expect(again.seek * tick).toBeLessThanOrEqual(again.atMs - startedAt + 3 * tick);
}

describe('a CasparCG Server that restarts mid-playlist', () => {
  it('gets the item that should be on air back at its wall-clock position, and the event log shows the interruption', async () => {
    const r = (current = await rig({ peer: { clips: { 'clips/a.mp4': 2, 'clips/b.mp4': 4, 'clips/c.mp4': 2 } } }));
    await r.load({
      loop: false,
      items: [item('A', 'a.mp4', 1500), item('B', 'b.mp4', 3000), item('C', 'c.mp4', 1500)],
    });
    await r.waitFor((evs) => !!onAir(evs, 'B'));
    await sleep(800);
    await r.peer.stop();
    await r.waitFor((evs) => errors(evs).some((e) => e.message.startsWith('lost the connection')));
    await sleep(600);
    const restartedAt = Date.now();
    await r.peer.start();
    const events = await r.waitFor((evs) => !!ended(evs, 'C'));
    // C's end is logged as the engine clears the layer: the CLEAR may reach the server a moment later.
    await until(
      () => r.peer.commands.some((c) => c.atMs >= restartedAt && c.line === 'CLEAR 1-10'),
      'layer 1-10 cleared at the end of the list',
    );

    const b = onAir(events, 'B')!;
    // Put back where the wall clock says B is: SEEK = ticks since B went on air, LENGTH = what is left of its 150.
    const again = replay(r, 'clips/b.mp4', restartedAt);
    expect(again).not.toBeNull();
    const tick = r.peer.tickMs();
    expectWallClockSeek(again!, time(b.startedAt), tick);
    expect(again!.seek + again!.length).toBe(150);
    const after = r.peer.commands
      .filter((c) => c.atMs >= restartedAt && !/^(INFO|VERSION)/.test(c.line))
      .map((c) => c.line.split(' -format')[0]);
    expect(after).toEqual([
      'ADD 1-700 STREAM "udp://127.0.0.1:9?pkt_size=1316"',
      expect.stringMatching(/^ADD 1-701 STREAM "\/srv\/onair-media\/live\/.+\/index\.m3u8"$/),
      again!.line,
      'LOADBG 1-10 "clips/c.mp4" LENGTH 75 AUTO',
      'CLEAR 1-10',
    ]);

    // C still starts when the schedule says, as if nothing had happened: B's 3 s after B's start
    // (late by at most how long B's PLAY took to reach the server: its SEEK was the position when it left).
    const c = r.peer.history.find((h) => h.name === 'clips/c.mp4')!;
    expect(Math.abs(c.atMs - (time(b.startedAt) + 3000))).toBeLessThanOrEqual(
      3 * tick + (again!.atMs - again!.decidedAfterMs),
    );
    expect(ended(events, 'B')).toMatchObject({ how: 'PLAYED', endedAt: onAir(events, 'C')!.startedAt });

    // The interruption, between B going on air and B ending.
    const [lost, back] = errors(events);
    expect(lost.message).toBe(
      `lost the connection to CasparCG Server at 127.0.0.1:${r.peer.port} while B (clips/b.mp4) was on air; reconnecting (what the channel shows meanwhile is up to the server)`,
    );
    expect(back.message).toMatch(
      new RegExp(
        `^reconnected to CasparCG Server at 127\\.0\\.0\\.1:${r.peer.port} after \\d+\\.\\d\\d s; outputs added again: UDP udp://127\\.0\\.0\\.1:9, HLS preview; ` +
          'the server had lost layer 1-10 \\(restarted\\?\\): B \\(clips/b\\.mp4\\) back on air at \\d+\\.\\d\\d s into it$',
      ),
    );
    const order = [
      seqOf(events, (e) => e === b),
      lost.seq,
      back.seq,
      seqOf(events, (e) => e.kind === 'ITEM_ENDED' && e.itemId === 'B'),
      seqOf(events, (e) => e.kind === 'ITEM_ON_AIR' && e.itemId === 'C'),
    ];
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect([...r.peer.consumers(1).keys()]).toEqual([700, 701]);
  });

  it('lets items whose time ran out during a long outage end on schedule, and puts the present one back', async () => {
    const r = (current = await rig({ peer: { clips: { 'clips/a.mp4': 2, 'clips/b.mp4': 2, 'clips/c.mp4': 5 } } }));
    await r.load({
      loop: false,
      items: [item('A', 'a.mp4', 1000), item('B', 'b.mp4', 1000), item('C', 'c.mp4', 4000)],
    });
    await r.waitFor((evs) => !!onAir(evs, 'A'));
    await sleep(300);
    await r.peer.stop();
    await sleep(2000);
    const restartedAt = Date.now();
    await r.peer.start();
    const events = await r.waitFor((evs) => errors(evs).some((e) => e.message.startsWith('reconnected')));

    const tick = r.peer.tickMs();
    const a = time(onAir(events, 'A')!.startedAt);
    expect(Math.abs(time(onAir(events, 'B')!.startedAt) - (a + 1000))).toBeLessThanOrEqual(2 * tick);
    expect(Math.abs(time(onAir(events, 'C')!.startedAt) - (a + 2000))).toBeLessThanOrEqual(2 * tick);
    expect(ended(events, 'A')).toMatchObject({ how: 'PLAYED', endedAt: onAir(events, 'B')!.startedAt });
    expect(ended(events, 'B')).toMatchObject({ how: 'PLAYED', endedAt: onAir(events, 'C')!.startedAt });
    expect(errors(events).at(-1)!.message).toMatch(
      /ran out meanwhile by the wall clock: A, B; the server had lost layer 1-10 \(restarted\?\): C \(clips\/c\.mp4\) back on air at \d+\.\d\d s into it$/,
    );

    // The log says C is back only once the server has taken its PLAY.
    const again = replay(r, 'clips/c.mp4', restartedAt);
    expect(again).not.toBeNull();
    expectWallClockSeek(again!, time(onAir(events, 'C')!.startedAt), tick);
    expect(replay(r, 'clips/b.mp4', restartedAt)).toBeNull();
    // B never reached the server: its scheduled time passed while it was down (the ERROR events say so).
    await until(() => r.peer.history.length >= 2, 'C shown on the restarted server');
    expect(r.peer.history.map((h) => h.name)).toEqual(['clips/a.mp4', 'clips/c.mp4']);
  });

  it('says so when the restarted server refuses the item due on air, and plays on from the next', async () => {
    const r = (current = await rig({ peer: { clips: { 'clips/a.mp4': 2, 'clips/b.mp4': 5, 'clips/c.mp4': 2 } } }));
    await r.load({
      loop: false,
      items: [item('A', 'a.mp4', 1000), item('B', 'b.mp4', 4000), item('C', 'c.mp4', 1000)],
    });
    await r.waitFor((evs) => !!onAir(evs, 'A'));
    await sleep(300);
    await r.peer.stop();
    await sleep(1500);
    const restartedAt = Date.now();
    r.peer.failNext(/^PLAY 1-10 "clips\/b\.mp4"/, '404 PLAY FAILED');
    await r.peer.start();
    const events = await r.waitFor((evs) => !!ended(evs, 'C'));

    const refusal = String.raw`PLAY 1-10 "clips/b\.mp4" SEEK \d+ LENGTH \d+: 404 PLAY \(.+\)`;
    const messages = errors(events).map((e) => e.message);
    expect(messages).toHaveLength(3);
    expect(messages[0]).toMatch(/^lost the connection/);
    expect(messages[1]).toMatch(new RegExp(String.raw`^item B \(b\.mp4\) failed: ${refusal}$`));
    expect(messages[2]).toMatch(
      new RegExp(
        String.raw`^reconnected .*; ran out meanwhile by the wall clock: A; the server had lost layer 1-10 \(restarted\?\): B \(clips/b\.mp4\) could not be put back: ${refusal}$`,
      ),
    );
    // The reconnection note waited for the server's answer: B's failure is in the log before it. C then played from its start.
    const bEnded = seqOf(events, (e) => e.kind === 'ITEM_ENDED' && e.itemId === 'B');
    expect(ended(events, 'B')!.how).toBe('FAILED');
    expect(bEnded).toBeLessThan(errors(events)[2].seq);
    expect(bEnded).toBeLessThan(seqOf(events, (e) => e.kind === 'ITEM_ON_AIR' && e.itemId === 'C'));
    expect(ended(events, 'C')!.how).toBe('PLAYED');
    expect(
      r.peer.commands
        .filter((c) => c.atMs >= restartedAt && c.line.startsWith('PLAY'))
        .map((c) => c.line.replace(/SEEK \d+ LENGTH \d+/, 'SEEK … LENGTH …')),
    ).toEqual(['PLAY 1-10 "clips/b.mp4" SEEK … LENGTH …', 'PLAY 1-10 "clips/c.mp4" LENGTH 50']);
    expect(r.peer.history.map((h) => h.name)).toEqual(['clips/a.mp4', 'clips/c.mp4']);
  });

  it('only reads where playout is when the connection drops but the server played on', async () => {
    const r = (current = await rig());
    await r.load({ loop: false, items: [item('A', 'a.mp4', 1500), item('B', 'b.mp4', 1500)] });
    await r.waitFor((evs) => !!onAir(evs, 'A'));
    await sleep(300);
    const droppedAt = Date.now();
    r.peer.dropConnections();
    const events = await r.waitFor((evs) => !!ended(evs, 'B'));
    // The playlist is over: the layer is cleared (the CLEAR follows B's end in the log).
    await until(() => r.peer.layer(1, 10).foreground === null, 'layer 1-10 cleared');

    expect(errors(events).map((e) => e.message.replace(/after \d+\.\d\d s/, 'after …'))).toEqual([
      `lost the connection to CasparCG Server at 127.0.0.1:${r.peer.port} while A (clips/a.mp4) was on air; reconnecting (what the channel shows meanwhile is up to the server)`,
      `reconnected to CasparCG Server at 127.0.0.1:${r.peer.port} after …; the server had kept playing the layer`,
    ]);
    // Nothing played again: the server's own LOADBG AUTO took B in.
    expect(
      r.peer.commands.filter((c) => c.atMs >= droppedAt && !/^(INFO|VERSION)/.test(c.line)).map((c) => c.line),
    ).toEqual(['CLEAR 1-10']);
    expect(r.peer.history.map((h) => h.name)).toEqual(['clips/a.mp4', 'clips/b.mp4']);
    expect(ended(events, 'A')).toMatchObject({ how: 'PLAYED', endedAt: onAir(events, 'B')!.startedAt });
    expect(Math.abs(time(onAir(events, 'B')!.startedAt) - r.peer.history[1].atMs)).toBeLessThanOrEqual(
      3 * r.peer.tickMs(),
    );
  });
});
