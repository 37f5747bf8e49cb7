import { describe, expect, it } from 'vitest';
import type { SidecarEvent } from '../../../src/protocol/sidecar-api.ts';
import { frameFrom, frameStartMs } from '../../../src/schedule/frames.ts';
import type { Schedule, ScheduleClip, ScheduleEvent } from '../../../src/schedule/model.ts';
import { planSchedule, type Segment } from '../../../src/schedule/plan.ts';
import { sameClipRun } from '../../../src/sidecar/schedule/airing.ts';
import { clip, event } from '../../schedule/helpers.ts';
import { RATE, rig, schedule } from './rig.ts';

// Many generated schedules, each run through the runner on the virtual clock
// for three hours: whatever the mix of triggers, gaps, over-runs, takes and
// clips that cannot be opened, the output has no frame without a clip or
// filler, every HARD event starts on its frame, and the as-run equals the plan
// (with the takes made and the clips that failed) entry for entry.

const T0 = Date.parse('2026-12-02T06:00:00Z');
const HOURS = 3;

/** A small fixed pseudo-random sequence (Park–Miller), so a failure names its seed. */
function prng(seed: number) {
  let s = seed;
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

function generated(seed: number) {
  const r = prng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const events: ScheduleEvent[] = [];
  const takes: [string, number][] = [];
  const missing = new Set<string>();
  let at = T0 + Math.floor(r() * 60_000);
  let k = 0;
  while (at < T0 + HOURS * 3_600_000) {
    const id = `e${k}`;
    const ms = 5_000 + Math.floor(r() * 600_000);
    const name = `c${seed}-${k}`;
    // A third of the clips come in with a transition of up to 3 s (planned overlapping the clip before them).
    const maybeMix = (c: ScheduleClip): ScheduleClip =>
      r() < 0.33 ? { ...c, transition: pick(['MIX', 'WIPE'] as const), transitionMs: 40 + Math.floor(r() * 3000) } : c;
    const content: ScheduleClip | ScheduleClip[] =
      r() < 0.2
        ? [maybeMix(clip(`${name}a`, Math.round(ms / 2))), maybeMix(clip(`${name}b`, Math.round(ms / 2)))]
        : maybeMix(clip(name, ms));
    if (r() < 0.08) missing.add(`media/${Array.isArray(content) ? `${name}a` : name}.mxf`);
    const trigger = k === 0 ? 'HARD' : pick(['HARD', 'SOFT', 'FOLLOW', 'FOLLOW', 'MANUAL'] as const);
    if (trigger === 'HARD' || trigger === 'SOFT') {
      at += Math.floor(r() * 900_000) + 1000;
      events.push(event(id, trigger, content, at));
    } else events.push(event(id, trigger, content));
    // Half of the MANUAL events are taken, some minutes after the event before them.
    if (trigger === 'MANUAL' && r() < 0.5) takes.push([id, at + Math.floor(r() * 1_200_000)]);
    k++;
  }
  const filler =
    r() < 0.1
      ? []
      : Array.from({ length: 1 + Math.floor(r() * 3) }, (_, i) => clip(`f${i}`, 3_000 + Math.floor(r() * 40_000)));
  return { schedule: schedule(1, events, filler), takes, missing };
}

type Ended = Extract<SidecarEvent, { kind: 'ITEM_ENDED' }>;

describe('the runner over generated schedules', () => {
  // SCHEDULE_SEEDS=1500 runs more of them (about a minute).
  it.each(Array.from({ length: Number(process.env.SCHEDULE_SEEDS ?? 24) }, (_, i) => i + 1))(
    'airs generated schedule %i as planned',
    async (seed) => {
      const { schedule: s, takes, missing } = generated(seed);
      const { clock, device, runner, events } = rig(T0 - 500, [...missing]);
      await runner.apply(s);
      // Takes the runner refuses (the event is not holding any more: a HARD event passed it) change nothing.
      const taken = new Map<string, number>();
      for (const [id, ms] of takes)
        clock.after(ms - clock.now(), () => {
          const frame = frameFrom(clock.now() + 500, RATE);
          runner.take(id).then(
            () => void taken.set(id, frameStartMs(frame, RATE)),
            () => undefined,
          );
        });
      const end = T0 + HOURS * 3_600_000;
      await clock.runUntil(end);

      // No frame without a clip, filler or a planned hold.
      const failedAssets = new Set(
        events()
          .filter((e): e is Ended => e.kind === 'ITEM_ENDED' && e.how === 'FAILED')
          .map((e) => e.assetId),
      );
      const plan = planSchedule(s, RATE, {
        // An hour past the end, so that no segment is trimmed at the window's edge (the runner plans ahead too).
        window: { fromMs: T0, toMs: end + 3_600_000 },
        nowMs: end,
        taken,
        missingAssets: failedAssets,
      });
      const holds = plan.segments.filter((x) => x.kind === 'HOLD');
      const out = device.output;
      // A clip with a transition starts that many frames before the one before it ends (its tail under it).
      for (let i = 1; i < out.length; i++) {
        // (A cut during the transition takes the tail off with the clip coming in.)
        const gap = [out[i - 1].endFrame, Math.min(out[i].startFrame + out[i].transitionFrames, out[i].endFrame)];
        if (gap[0] === gap[1]) continue;
        // A gap is only where the plan holds (no filler at all): hold segments tile it.
        let covered = gap[0];
        for (const h of holds) if (h.startFrame === covered && h.endFrame <= gap[1]) covered = h.endFrame;
        expect(covered, `seed ${seed}: gap ${gap} after ${out[i - 1].itemId}`).toBe(gap[1]);
      }
      // Every HARD event on its frame, with its first clip (or the filler instead of a missing one).
      const toFrame = frameFrom(end, RATE);
      for (const e of plan.events.filter(
        (x) => x.trigger === 'HARD' && x.status === 'PLANNED' && x.startFrame! < toFrame,
      )) {
        const first = plan.segments.find((x) => x.startFrame === e.startFrame && x.kind !== 'HOLD');
        if (first)
          expect(out.find((o) => o.startFrame === e.startFrame)?.itemId, `seed ${seed} ${e.eventId}`).toBe(
            first.clip!.itemId,
          );
      }
      // The as-run equals the plan, entry for entry, for what ended inside the three hours.
      const asRun = events()
        .filter((e): e is Ended => e.kind === 'ITEM_ENDED' && e.how !== 'FAILED')
        .filter((e) => frameFrom(Date.parse(e.schedule!.plannedStartAt), RATE) >= plan.fromFrame)
        .map((e) => `${e.itemId} ${e.schedule!.eventId} ${e.schedule!.fills} ${e.startedAt}→${e.endedAt} ${e.how}`);
      const expected = plan.segments
        .filter((x) => x.kind !== 'HOLD' && x.endFrame <= toFrame && x.startFrame >= plan.fromFrame)
        .map(
          (x) =>
            `${x.clip!.itemId} ${x.eventId} ${x.fills} ${new Date(x.startMs).toISOString()}→${new Date(x.endMs).toISOString()} ${x.truncated ? 'TRUNCATED' : 'PLAYED'}`,
        );
      expect(asRun, `seed ${seed}`).toEqual(expected);
    },
  );
});

/** A second version of a generated schedule: from event `from` on, clips of other lengths and timed events later. */
function edited(seed: number, v1: Schedule): Schedule {
  const r = prng(seed * 7919);
  const from = 1 + Math.floor(r() * (v1.events.length - 1));
  const shift = Math.floor(r() * 120_000);
  const events = v1.events.map((e, i): ScheduleEvent => {
    if (i < from) return e;
    const stretch = (c: ScheduleClip) => ({
      ...c,
      itemId: `${c.itemId}-v2`,
      durationMs: Math.max(1000, Math.round(c.durationMs * (0.5 + r()))),
    });
    const content =
      e.content.kind === 'CLIP'
        ? { kind: 'CLIP' as const, clip: stretch(e.content.clip) }
        : { ...e.content, clips: e.content.clips.map(stretch) };
    return { ...e, content, ...(e.at ? { at: new Date(Date.parse(e.at) + shift).toISOString() } : {}) };
  });
  return schedule(2, events, v1.filler);
}

describe('the runner over generated schedules edited live', () => {
  it.each(Array.from({ length: Number(process.env.SCHEDULE_SEEDS ?? 24) }, (_, i) => i + 1))(
    'airs generated schedule %i and its edit from the next segment boundary',
    async (seed) => {
      const base = generated(seed).schedule;
      const v1 = base.filler.length > 0 ? base : schedule(1, base.events, [clip('f', 17_000)]);
      const v2 = edited(seed, v1);
      const { clock, device, runner, events } = rig(T0 - 500);
      await runner.apply(v1);
      const r = prng(seed * 104729);
      const editAt = T0 + 1_200_000 + Math.floor(r() * 5_400_000);
      const end = T0 + HOURS * 3_600_000;
      await clock.runUntil(editAt);
      expect(await runner.apply(v2)).toEqual({ version: 2 });
      await clock.runUntil(end);

      // v1 up to the end of the segment on air at the edit, v2 from there (its segment then joined where it stands).
      const window = { fromMs: T0, toMs: end + 3_600_000 };
      const plan1 = planSchedule(v1, RATE, { window, nowMs: end });
      const onAtEdit = plan1.segments.find(
        (x) => x.startFrame <= frameFrom(editAt, RATE) - 1 && frameFrom(editAt, RATE) - 1 < x.endFrame,
      )!;
      // The clip on air plays on; where it hands over moves with the new plan when only the transition after it changed.
      const v2Plan = (fromFrame: number) =>
        planSchedule(v2, RATE, { window: { ...window, fromMs: frameStartMs(fromFrame, RATE) }, nowMs: end });
      const onAirInV2 = v2Plan(onAtEdit.startFrame).segments.find((x) => x.startFrame === onAtEdit.startFrame);
      const adopted = onAirInV2 && sameClipRun(onAirInV2, onAtEdit) ? onAirInV2 : onAtEdit;
      const boundary = adopted.endFrame;
      const plan2 = v2Plan(boundary);
      // Handed to play on under a transition the new plan does not make after it: cut short of that tail.
      const after = plan2.segments[0];
      const tailCut =
        adopted.tailFrames > 0 && (after.startFrame !== boundary || after.transitionFrames !== adopted.tailFrames);
      const onAirLine = { ...adopted, truncated: adopted.truncated || tailCut };
      const toFrame = frameFrom(end, RATE);
      const line = (x: Segment, from = x.startMs) =>
        `${x.clip!.itemId} ${x.eventId} ${x.fills} ${new Date(from).toISOString()}→${new Date(x.endMs).toISOString()} ${x.truncated ? 'TRUNCATED' : 'PLAYED'}`;
      const expected = [
        ...plan1.segments
          .filter((x) => x.startFrame >= plan1.fromFrame && x.endFrame <= onAtEdit.startFrame)
          .map((x) => line(x)),
        line(onAirLine),
        ...plan2.segments
          .filter((x) => x.endFrame <= toFrame)
          .map((x) => line(x, Math.max(x.startMs, frameStartMs(boundary, RATE)))),
      ];
      const asRun = events()
        .filter((e): e is Ended => e.kind === 'ITEM_ENDED' && e.how !== 'FAILED')
        .filter((e) => frameFrom(Date.parse(e.schedule!.plannedStartAt), RATE) >= plan1.fromFrame)
        .map((e) => `${e.itemId} ${e.schedule!.eventId} ${e.schedule!.fills} ${e.startedAt}→${e.endedAt} ${e.how}`);
      expect(asRun, `seed ${seed}`).toEqual(expected);
      // No frame without a clip.
      const out = device.output;
      for (let i = 1; i < out.length; i++)
        expect(
          Math.min(out[i].startFrame + out[i].transitionFrames, out[i].endFrame),
          `seed ${seed} ${out[i].itemId}`,
        ).toBe(out[i - 1].endFrame);
    },
  );
});
