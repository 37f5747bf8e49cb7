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
// A FOLLOW clip with a MIX or WIPE goes as LOADBG … <transition> AUTO: the
// server swaps it in that many ticks before the clip on air runs out, which
// is where the plan starts it (the cursor less the transition), the outgoing
// clip ending there PLAYED.

const TICK_MS = 40; // 1080p2500
const FORMAT = '1080p2500';
/**
 * A reported start against the server's: within a tick (an INFO sample held up on a loaded machine dates
 * a swap on the tick next to it), plus the ms the engine's tick phase and the peer's rounding add (41 seen).
 */
const REPORTED_WITHIN_MS = TICK_MS + 2;

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

const mixed = (name: string, file: string, durationMs: number, transition: 'MIX' | 'WIPE', transitionMs: number) => ({
  ...clip(name, file, durationMs),
  transition,
  transitionMs,
});

type OnAir = Extract<SidecarEvent, { kind: 'ITEM_ON_AIR' }>;
type Ended = Extract<SidecarEvent, { kind: 'ITEM_ENDED' }>;
type Event = Record<string, unknown>;

/**
 * The runner on the rig's engine, given the events of a schedule (`at(ms)`: the instant ms after t0) with
 * filler in 1.2 s pieces of c.mp4 around them.
 */
async function runSchedule(rig: Rig, events: (at: (ms: number) => string) => Event[]) {
  runner = new ScheduleRunner({
    engine: rig.engine,
    log: rig.log,
    alarms: rig.alarms,
    mediaDir: rig.mediaDir,
    videoFormat: FORMAT,
  });
  // On a frame about 4.7 s ahead: the filler before it is laid backwards from it in 1.2 s pieces, so the join
  // (half a second from now) lands some 600 ms into the piece from t0 − 4.8 s to t0 − 3.6 s.
  const t0 = Math.ceil((Date.now() + 4700) / TICK_MS) * TICK_MS;
  await runner.apply(
    ScheduleSchema.parse({
      version: 1,
      videoFormat: FORMAT,
      timeZone: 'UTC',
      events: events((ms) => new Date(t0 + ms).toISOString()),
      filler: [clip('fill', 'c.mp4', 1200)],
    }),
  );
  const log = () => rig.log.after(0);
  const onAir = () => log().filter((e): e is OnAir => e.kind === 'ITEM_ON_AIR');
  const ended = () => log().filter((e): e is Ended => e.kind === 'ITEM_ENDED');
  /** Resolves once the segment planned `ms` after t0 is on air; else fails naming what the log holds. */
  const onAirAt = async (ms: number, what: string) => {
    try {
      await until(() => onAir().some((e) => Date.parse(e.schedule!.plannedStartAt) === t0 + ms), what);
    } catch (err) {
      const seen = log().map((e) =>
        [
          e.kind,
          'itemId' in e ? e.itemId : '',
          'schedule' in e && e.schedule ? Date.parse(e.schedule.plannedStartAt) - t0 : '',
          'how' in e ? e.how : '',
          'message' in e ? e.message : '',
        ].join(' '),
      );
      throw new Error(
        `${(err as Error).message}; t0 ${t0}, the log: ${seen.join('; ')}; server: ${rig.peer.playoutCommands().join('; ')}`,
      );
    }
  };
  return { t0, log, onAir, ended, onAirAt };
}

/**
 * The join (the filler piece on air half a second after apply, t0 − 4.8 s, or t0 − 3.6 s on a slow start,
 * seeked to the join's frame), the filler pieces before t0, and what the server showed against the plan in
 * frames (the peer's first tick at or after each planned instant; the join's is its piece's start plus the
 * seek), and what the runner reported against the server.
 */
function joinedAndServer(rig: Rig, t0: number, aired: OnAir[], commands: string[]) {
  const join = /^LOADBG 1-10 "clips\/c\.mp4" SEEK (\d+) LENGTH (\d+)$/.exec(commands[0]);
  if (!join) throw new Error(`the first command is not the join: ${commands[0]}`);
  const [seek, length] = [Number(join[1]), Number(join[2])];
  const joinedPiece = Date.parse(aired[0].schedule!.plannedStartAt) - t0;
  const before = Array.from({ length: -joinedPiece / 1200 }, (_, i) => joinedPiece + i * 1200);
  const history = rig.peer.history;
  const tick0 = history[0].atMs - history[0].tick * TICK_MS;
  const planned = aired.map((e, i) => Date.parse(e.schedule!.plannedStartAt) + (i === 0 ? seek * TICK_MS : 0));
  const report = {
    framesOff: history.map((h, i) => h.tick - Math.ceil((planned[i] - tick0) / TICK_MS - 1e-9)),
    reportedMinusServerMs: aired.map((e, i) => (history[i] ? Date.parse(e.startedAt) - history[i].atMs : null)),
  };
  return { seek, length, before, history, planned, report };
}

describe('a schedule on the CasparCG engine', () => {
  it('joins in progress, sends FOLLOW as LOADBG AUTO and HARD as a timed PLAY, each clip on air on its planned frame', async () => {
    r = await rig({ mode: FORMAT, peer: { clips: { 'clips/a.mp4': 3, 'clips/b.mp4': 4, 'clips/c.mp4': 3 } } });
    const {
      t0,
      log: events,
      onAir,
      ended: endedEvents,
      onAirAt,
    } = await runSchedule(r, (at) => [
      {
        eventId: 'h1',
        trigger: 'HARD',
        at: at(0),
        content: { kind: 'CLIP', clip: clip('one', 'a.mp4', 2000, 400) },
      },
      { eventId: 'f1', trigger: 'FOLLOW', content: { kind: 'CLIP', clip: clip('two', 'b.mp4', 1000) } },
      // A gap of two seconds: filler of 1.2 s, then 0.8 s of it, trimmed to end on h2's frame.
      {
        eventId: 'h2',
        trigger: 'HARD',
        at: at(5000),
        content: { kind: 'CLIP', clip: clip('three', 'a.mp4', 1000) },
      },
      // Two seconds long, cut after one by h3.
      { eventId: 'f2', trigger: 'FOLLOW', content: { kind: 'CLIP', clip: clip('four', 'b.mp4', 2000, 200) } },
      {
        eventId: 'h3',
        trigger: 'HARD',
        at: at(7000),
        content: { kind: 'CLIP', clip: clip('five', 'c.mp4', 1000) },
      },
    ]);
    // The filler after the schedule's end on air: 'five' has ended.
    await onAirAt(8000, 'filler after h3');
    await sleep(100);

    const aired = onAir();
    const commands = r.peer.playoutCommands().filter((line) => !/^(ADD|REMOVE|CLEAR) /.test(line));
    const { seek, length, before, history, planned, report } = joinedAndServer(r, t0, aired, commands);
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
    expect(endedEvents().map((e) => [e.itemId, Date.parse(e.schedule!.plannedStartAt) - t0, e.how])).toEqual([
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
    for (const ms of report.reportedMinusServerMs) expect(Math.abs(ms!)).toBeLessThanOrEqual(REPORTED_WITHIN_MS);
  }, 60_000);
  it('brings a FOLLOW clip in with its MIX or WIPE as LOADBG … AUTO, on the plan’s overlapped frame, the clip before PLAYED; a HARD event after one cuts', async () => {
    r = await rig({ mode: FORMAT, peer: { clips: { 'clips/a.mp4': 3, 'clips/b.mp4': 4, 'clips/c.mp4': 3 } } });
    // Transitions in frames of 40 ms: 'two' MIX 5 over 'one', 'three' WIPE 10 over 'two' (itself still in its
    // own clip's frames: the swap counts from the incoming clip's frames, as CasparCG's transition producer
    // reports them), 'four' HARD right after 'three' (its MIX ignored: a HARD event cuts), 'five' MIX of 1 s
    // over 'four', at most half the shorter clip: 12 frames.
    const T = { two: 5, three: 10, five: 12 };
    const { t0, log, onAir, ended, onAirAt } = await runSchedule(r, (at) => [
      { eventId: 'h1', trigger: 'HARD', at: at(0), content: { kind: 'CLIP', clip: clip('one', 'a.mp4', 2000) } },
      {
        eventId: 'f1',
        trigger: 'FOLLOW',
        content: { kind: 'CLIP', clip: mixed('two', 'b.mp4', 1000, 'MIX', T.two * TICK_MS) },
      },
      {
        eventId: 'f2',
        trigger: 'FOLLOW',
        content: { kind: 'CLIP', clip: mixed('three', 'c.mp4', 1000, 'WIPE', T.three * TICK_MS) },
      },
      {
        eventId: 'h2',
        trigger: 'HARD',
        at: at(2000 - T.two * TICK_MS + 1000 - T.three * TICK_MS + 1000),
        content: { kind: 'CLIP', clip: mixed('four', 'a.mp4', 1000, 'MIX', 400) },
      },
      { eventId: 'f3', trigger: 'FOLLOW', content: { kind: 'CLIP', clip: mixed('five', 'b.mp4', 1000, 'MIX', 1000) } },
    ]);
    // Each FOLLOW clip starts where the clip before it runs out (the cursor) less its transition.
    const starts = { one: 0, two: 2000 - T.two * TICK_MS, three: 0, four: 0, five: 0, fill: 0 };
    starts.three = starts.two + 1000 - T.three * TICK_MS;
    starts.four = starts.three + 1000;
    starts.five = starts.four + 1000 - T.five * TICK_MS;
    starts.fill = starts.five + 1000;
    await onAirAt(starts.fill, 'filler after f3');
    await sleep(100);

    const aired = onAir();
    const commands = r.peer.playoutCommands().filter((line) => !/^(ADD|REMOVE|CLEAR) /.test(line));
    const { before, history, planned, report } = joinedAndServer(r, t0, aired, commands);
    console.info(`CasparCG schedule with transitions: ${JSON.stringify(report)}`);

    // The plan's segments on air, in order, each clip with a transition from the cursor less it.
    const names = ['one', 'two', 'three', 'four', 'five', 'fill'] as const;
    expect(aired.map((e) => [e.itemId, Date.parse(e.schedule!.plannedStartAt) - t0])).toEqual([
      ...before.map((at) => ['item-fill', at]),
      ...names.map((n) => [`item-${n}`, starts[n]]),
    ]);
    // Every clip ends PLAYED where the next starts: a clip under a transition airs its tail then, not cut.
    const n = before.length;
    const ends = ended().slice(n);
    expect(ends.map((e) => [e.itemId, e.how, Date.parse(e.schedule!.plannedEndAt) - t0])).toEqual(
      names.slice(0, -1).map((name, i) => [`item-${name}`, 'PLAYED', starts[names[i + 1]]]),
    );
    // The outgoing clip's as-run end is the incoming one's as-run start: the same frame.
    for (const [i, e] of ends.entries()) expect(e.endedAt, e.itemId).toBe(aired[n + i + 1].startedAt);
    expect(log().filter((e) => e.kind === 'ERROR')).toEqual([]);

    // The commands: a transition's ticks after the clip, before AUTO; none on the HARD event ('four'), loaded
    // without AUTO and PLAYed on its frame. Each clip's LENGTH runs to the end of its tail (the frames it airs
    // under the next one's transition): 'one' 50, 'four' 25 (13 alone, 12 under 'five').
    expect(commands.slice(n + 1, n + 9)).toEqual([
      'LOADBG 1-10 "clips/a.mp4" LENGTH 50',
      'PLAY 1-10',
      `LOADBG 1-10 "clips/b.mp4" LENGTH 25 MIX ${T.two} AUTO`,
      `LOADBG 1-10 "clips/c.mp4" LENGTH 25 WIPE ${T.three} AUTO`,
      'LOADBG 1-10 "clips/a.mp4" LENGTH 25',
      'PLAY 1-10',
      `LOADBG 1-10 "clips/b.mp4" LENGTH 25 MIX ${T.five} AUTO`,
      'LOADBG 1-10 "clips/c.mp4" LENGTH 30 AUTO',
    ]);

    // On the server: one first frame per segment, within a frame of plan; a clip coming in with a transition
    // exactly its ticks before the clip before it runs out (the server's own swap), which is the plan's start.
    const files: Record<string, string> = { fill: 'c', one: 'a', two: 'b', three: 'c', four: 'a', five: 'b' };
    expect(history.map((h) => h.name)).toEqual(aired.map((e) => `clips/${files[e.clipName]}.mp4`));
    const timed = new Set([0, n, n + 3]);
    for (const [i, off] of report.framesOff.entries()) {
      expect(Math.abs(off), aired[i].itemId).toBeLessThanOrEqual(1);
      if (!timed.has(i))
        expect(history[i].tick - history[i - 1].tick, aired[i].itemId).toBe(
          Math.round((planned[i] - planned[i - 1]) / TICK_MS),
        );
    }
    // 'two' 45 ticks after 'one' (its 50 less MIX 5), 'three' 15 after 'two', 'five' 13 after 'four'.
    expect(history[n + 1].tick - history[n].tick).toBe(50 - T.two);
    expect(history[n + 2].tick - history[n + 1].tick).toBe(25 - T.three);
    expect(history[n + 4].tick - history[n + 3].tick).toBe(25 - T.five);
    for (const ms of report.reportedMinusServerMs) expect(Math.abs(ms!)).toBeLessThanOrEqual(REPORTED_WITHIN_MS);
  }, 60_000);
});
