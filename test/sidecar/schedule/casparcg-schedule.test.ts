import { afterEach, describe, expect, it } from 'vitest';
import type { SidecarEvent } from '../../../src/protocol/sidecar-api.ts';
import { ScheduleSchema } from '../../../src/schedule/model.ts';
import { ScheduleRunner } from '../../../src/sidecar/schedule/runner.ts';
import { rig, sleep, until, type Rig } from '../casparcg/harness.ts';

// The schedule runner driving the CasparCG engine against the AMCP test peer,
// joined in progress in pre-schedule filler: a FOLLOW clip goes to the server
// as LOADBG … AUTO (the server's own swap, exact to the frame), a HARD event as
// LOADBG then a PLAY timed to its frame, filler in the gap before a HARD event
// (the last piece trimmed to end on its frame). What a user checks: the
// commands the server got, the frame each clip took air on the server (the
// peer's ticks are not on the epoch's grid, so a planned instant's frame is
// the peer's first tick at or after it), and the as-run events against plan.

const TICK_MS = 40; // 1080p2500
const FORMAT = '1080p2500';

let r: Rig | null = null;
let runner: ScheduleRunner | null = null;
afterEach(async () => {
  await runner?.close();
  await r?.close();
  r = null;
  runner = null;
});

const clip = (name: string, file: string, durationMs: number, inPointMs = 0) => ({
  itemId: `item-${name}`,
  assetId: `asset-${name}`,
  clipName: name,
  mediaPath: `clips/${file}`,
  inPointMs,
  durationMs,
  transition: 'CUT' as const,
  transitionMs: 0,
});

type OnAir = Extract<SidecarEvent, { kind: 'ITEM_ON_AIR' }>;
type Ended = Extract<SidecarEvent, { kind: 'ITEM_ENDED' }>;

describe('a schedule on the CasparCG engine', () => {
  it('joins in progress, sends FOLLOW as LOADBG AUTO and HARD as a timed PLAY, each clip on air on its planned frame', async () => {
    r = await rig({ mode: FORMAT, peer: { clips: { 'clips/a.mp4': 3, 'clips/b.mp4': 4, 'clips/c.mp4': 3 } } });
    runner = new ScheduleRunner({
      engine: r.engine,
      log: r.log,
      alarms: r.alarms,
      mediaDir: r.mediaDir,
      videoFormat: FORMAT,
    });
    // On a frame about 4.7 s ahead: the filler before it is laid backwards from it in 1.2 s pieces, so the join
    // (half a second from now) lands some 600 ms into the piece from t0 − 4.8 s to t0 − 3.6 s.
    const t0 = Math.ceil((Date.now() + 4700) / TICK_MS) * TICK_MS;
    const iso = (ms: number) => new Date(ms).toISOString();
    await runner.apply(
      ScheduleSchema.parse({
        version: 1,
        videoFormat: FORMAT,
        timeZone: 'UTC',
        events: [
          {
            eventId: 'h1',
            trigger: 'HARD',
            at: iso(t0),
            content: { kind: 'CLIP', clip: clip('one', 'a.mp4', 2000, 400) },
          },
          { eventId: 'f1', trigger: 'FOLLOW', content: { kind: 'CLIP', clip: clip('two', 'b.mp4', 1000) } },
          // A gap of two seconds: filler of 1.2 s, then 0.8 s of it, trimmed to end on h2's frame.
          {
            eventId: 'h2',
            trigger: 'HARD',
            at: iso(t0 + 5000),
            content: { kind: 'CLIP', clip: clip('three', 'a.mp4', 1000) },
          },
          // Two seconds long, cut after one by h3.
          { eventId: 'f2', trigger: 'FOLLOW', content: { kind: 'CLIP', clip: clip('four', 'b.mp4', 2000, 200) } },
          {
            eventId: 'h3',
            trigger: 'HARD',
            at: iso(t0 + 7000),
            content: { kind: 'CLIP', clip: clip('five', 'c.mp4', 1000) },
          },
        ],
        filler: [clip('fill', 'c.mp4', 1200)],
      }),
    );
    const events = () => r!.log.after(0);
    const onAir = () => events().filter((e): e is OnAir => e.kind === 'ITEM_ON_AIR');
    // The filler after the schedule's end on air: 'five' has ended.
    await until(() => onAir().some((e) => Date.parse(e.schedule!.plannedStartAt) === t0 + 8000), 'filler after h3');
    await sleep(100);

    const aired = onAir();
    const commands = r.peer.playoutCommands().filter((line) => !/^(ADD|REMOVE|CLEAR) /.test(line));
    const history = r.peer.history;
    // The join: the filler piece on air half a second after apply (t0 − 4.8 s, or t0 − 3.6 s on a slow start),
    // seeked to the join's frame.
    const join = /^LOADBG 1-10 "clips\/c\.mp4" SEEK (\d+) LENGTH (\d+)$/.exec(commands[0]);
    expect(join, commands[0]).not.toBeNull();
    const [seek, length] = [Number(join![1]), Number(join![2])];
    const joinedPiece = Date.parse(aired[0].schedule!.plannedStartAt) - t0;
    const before = Array.from({ length: -joinedPiece / 1200 }, (_, i) => joinedPiece + i * 1200);
    // What the server showed against the plan, in frames (the peer's first tick at or after each planned
    // instant; the join's is its piece's start plus the seek), and what the runner reported against the server.
    const tick0 = history[0].atMs - history[0].tick * TICK_MS;
    const planned = aired.map((e, i) => Date.parse(e.schedule!.plannedStartAt) + (i === 0 ? seek * TICK_MS : 0));
    const report = {
      framesOff: history.map((h, i) => h.tick - Math.ceil((planned[i] - tick0) / TICK_MS - 1e-9)),
      reportedMinusServerMs: aired.map((e, i) => (history[i] ? Date.parse(e.startedAt) - history[i].atMs : null)),
    };
    console.info(`CasparCG schedule: ${JSON.stringify(report)}`);

    // The runner's view: each segment of the plan on air, in order, then ended as the plan says.
    expect(aired.map((e) => [e.itemId, Date.parse(e.schedule!.plannedStartAt) - t0])).toEqual([
      ...before.map((at) => ['item-fill', at]),
      ['item-one', 0],
      ['item-two', 2000],
      ['item-fill', 3000],
      ['item-fill', 4200],
      ['item-three', 5000],
      ['item-four', 6000],
      ['item-five', 7000],
      ['item-fill', 8000],
    ]);
    const ended = events().filter((e): e is Ended => e.kind === 'ITEM_ENDED');
    expect(ended.map((e) => [e.itemId, Date.parse(e.schedule!.plannedStartAt) - t0, e.how])).toEqual([
      ...before.map((at) => ['item-fill', at, 'PLAYED']),
      ['item-one', 0, 'PLAYED'],
      ['item-two', 2000, 'PLAYED'],
      ['item-fill', 3000, 'PLAYED'],
      // The filler trimmed to h2's frame, and the FOLLOW clip h3 cut.
      ['item-fill', 4200, 'TRUNCATED'],
      ['item-three', 5000, 'PLAYED'],
      ['item-four', 6000, 'TRUNCATED'],
      ['item-five', 7000, 'PLAYED'],
    ]);
    expect(events().filter((e) => e.kind === 'ERROR')).toEqual([]);

    // The commands: the join seeked into its piece and PLAYed on its frame; FOLLOW armed with AUTO; HARD
    // loaded without AUTO, then PLAYed (the background) on time; in and out points as SEEK and LENGTH. Up to
    // the filler after h3, armed behind 'five' (its next piece is armed once that one airs).
    expect(seek + length).toBe(30);
    expect(commands.slice(0, before.length + 12)).toEqual([
      `LOADBG 1-10 "clips/c.mp4" SEEK ${seek} LENGTH ${length}`,
      'PLAY 1-10',
      ...before.slice(1).map(() => 'LOADBG 1-10 "clips/c.mp4" LENGTH 30 AUTO'),
      'LOADBG 1-10 "clips/a.mp4" SEEK 10 LENGTH 50',
      'PLAY 1-10',
      'LOADBG 1-10 "clips/b.mp4" LENGTH 25 AUTO',
      'LOADBG 1-10 "clips/c.mp4" LENGTH 30 AUTO',
      'LOADBG 1-10 "clips/c.mp4" LENGTH 20 AUTO',
      'LOADBG 1-10 "clips/a.mp4" LENGTH 25',
      'PLAY 1-10',
      'LOADBG 1-10 "clips/b.mp4" SEEK 5 LENGTH 25 AUTO',
      'LOADBG 1-10 "clips/c.mp4" LENGTH 25',
      'PLAY 1-10',
      'LOADBG 1-10 "clips/c.mp4" LENGTH 30 AUTO',
    ]);

    // The server's history: one first frame per segment, within one frame of plan (a timed PLAY lands a frame
    // off only when this process, the engine's timer or the peer's tick, ran late by more than the tick's slack;
    // docs/schedule.md); a FOLLOW exactly on the frame the clip before it ends (the server's own swap).
    const files: Record<string, string> = { fill: 'c', one: 'a', two: 'b', three: 'a', four: 'b', five: 'c' };
    expect(history.map((h) => h.name)).toEqual(aired.map((e) => `clips/${files[e.clipName]}.mp4`));
    const n = before.length;
    const timed = new Set([0, n, n + 4, n + 6]);
    for (const [i, off] of report.framesOff.entries()) {
      expect(Math.abs(off), aired[i].itemId).toBeLessThanOrEqual(1);
      if (!timed.has(i))
        expect(history[i].tick - history[i - 1].tick).toBe(Math.round((planned[i] - planned[i - 1]) / TICK_MS));
    }
    // What the runner reported: the server's times, from INFO samples put on the channel's ticks.
    for (const ms of report.reportedMinusServerMs) expect(Math.abs(ms!)).toBeLessThanOrEqual(TICK_MS);
  }, 60_000);
});
