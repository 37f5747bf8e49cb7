// npm run bench:schedule (or `npm run bench -- schedule`): planning a 24-hour
// schedule of 2,000 events, as the control plane does for a query and the
// sidecar for every schedule it is sent (the pure planner, no network); then
// sending it to a sidecar (PUT /schedule over HTTP, answered once applied).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { buildSidecarApp } from '../src/sidecar/app.ts';
import { loadSidecarConfig } from '../src/sidecar/config.ts';
import type { Engine } from '../src/sidecar/engines/engine.ts';
import { frameRateOf } from '../src/schedule/frames.ts';
import { ScheduleSchema, type ScheduleClip, type ScheduleEvent } from '../src/schedule/model.ts';
import { onAirAt } from '../src/schedule/on-air.ts';
import { planSchedule } from '../src/schedule/plan.ts';
import { broadcastDay } from '../src/schedule/time-zone.ts';
import { percentile } from './load.ts';

const EVENTS = Number(process.env.BENCH_SCHEDULE_EVENTS ?? 2000);
const RUNS = Number(process.env.BENCH_SCHEDULE_RUNS ?? 50);

const clip = (name: string, ms: number): ScheduleClip => ({
  itemId: `item-${name}`,
  assetId: `asset-${name}`,
  clipName: name,
  mediaPath: `media/${name}.mxf`,
  durationMs: ms,
  transition: 'CUT',
  transitionMs: 0,
});

/** A day of 2,000 events: a HARD event every 40, SOFT every 10th, a MANUAL every 97th (some taken), blocks of 3 clips every 7th. */
function daySchedule(fromMs: number, toMs: number) {
  const slot = Math.floor((toMs - fromMs) / EVENTS);
  // A pseudo-random but fixed sequence of lengths around the slot: some events run over, some under.
  let seed = 1;
  const length = () => (
    (seed = (seed * 48271) % 2147483647), Math.max(1000, Math.round(slot * (0.8 + (seed % 400) / 1000)))
  );
  const events: ScheduleEvent[] = [];
  const taken = new Map<string, number>();
  for (let i = 0; i < EVENTS; i++) {
    const at = new Date(fromMs + i * slot).toISOString();
    const trigger = i % 40 === 0 ? 'HARD' : i % 10 === 0 ? 'SOFT' : i % 97 === 0 ? 'MANUAL' : 'FOLLOW';
    const content =
      i % 7 === 0
        ? {
            kind: 'BLOCK' as const,
            playlistId: `pl-${i}`,
            clips: [clip(`b${i}-1`, length() / 3), clip(`b${i}-2`, length() / 3), clip(`b${i}-3`, length() / 3)].map(
              (c) => ({ ...c, durationMs: Math.round(c.durationMs) }),
            ),
          }
        : { kind: 'CLIP' as const, clip: clip(`c${i}`, length()) };
    events.push({ eventId: `e${i}`, trigger, ...(trigger === 'HARD' || trigger === 'SOFT' ? { at } : {}), content });
    if (trigger === 'MANUAL' && i % 2 === 0) taken.set(`e${i}`, fromMs + i * slot + 5000);
  }
  const filler = Array.from({ length: 20 }, (_, k) => clip(`filler-${k}`, 15_000 + k * 1000));
  return {
    json: JSON.stringify({ version: 1, videoFormat: '1080i5994', timeZone: 'Europe/London', events, filler }),
    taken,
  };
}

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

export async function runSchedulePlanBench(): Promise<void> {
  const window = broadcastDay('2026-10-24', 'Europe/London'); // 25 hours: the day the clocks go back
  const { json, taken } = daySchedule(window.fromMs, window.toMs);
  const rate = frameRateOf('1080i5994');
  const parse: number[] = [];
  const plan: number[] = [];
  const join: number[] = [];
  let segments = 0;
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    const schedule = ScheduleSchema.parse(JSON.parse(json));
    const t1 = performance.now();
    const p = planSchedule(schedule, rate, { window, nowMs: window.fromMs + 3_600_000, taken });
    const t2 = performance.now();
    for (let k = 0; k < 1000; k++) onAirAt(p, window.fromMs + Math.floor(((window.toMs - window.fromMs) * k) / 1000));
    join.push((performance.now() - t2) / 1000);
    parse.push(t1 - t0);
    plan.push(t2 - t1);
    segments = p.segments.length;
  }
  process.stdout.write(
    `\nschedule: ${EVENTS} events over 25 h at 29.97 fps, ${segments} segments, ${(json.length / 1024).toFixed(0)} KiB as JSON, ${RUNS} runs\n`,
  );
  for (const [name, times] of [
    ['parse (JSON + zod)', parse],
    ['plan (events + segments)', plan],
    ['join in progress (one lookup)', join],
  ] as const) {
    const sorted = Float64Array.from(times).sort();
    process.stdout.write(
      `  ${name.padEnd(32)} p50 ${fmt(percentile(sorted, 50)).padStart(10)}  p95 ${fmt(percentile(sorted, 95)).padStart(10)}  max ${fmt(sorted.at(-1)!).padStart(10)}\n`,
    );
  }
  await sendToSidecar(json);
}

/**
 * An engine that takes every clip and airs none: what is measured is the
 * sidecar's work (parse, validate, plan, keep the schedule, hand the first
 * segment over), not a device's.
 */
const quietEngine: Engine = {
  name: 'bench',
  start: async () => undefined,
  close: async () => undefined,
  play: () => ({ pause: () => undefined, resume: () => undefined, stop: async () => undefined }),
};

/** PUT /schedule of the same day to a sidecar: the first version (joined in progress), then live edits. */
async function sendToSidecar(json: string): Promise<void> {
  const mediaDir = await mkdtemp(join(tmpdir(), 'onair-bench-schedule-'));
  const secret = 'bench-secret-0123456789abcdefghijkl';
  const app = buildSidecarApp(
    loadSidecarConfig({
      CHANNEL_ID: '8d0c4a0e-2f55-4a43-9a57-0c3f3c1d2b10',
      PORT: '0',
      SIDECAR_SECRET: secret,
      ENGINE: 'ffmpeg',
      VIDEO_FORMAT: '1080i5994',
      MEDIA_DIR: mediaDir,
      OUTPUT_JSON: JSON.stringify({ type: 'UDP', url: 'udp://127.0.0.1:9' }),
    }),
    { engine: quietEngine, eventsFile: false },
  );
  const port = await app.start();
  const body = JSON.parse(json) as { version: number };
  const times: number[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      const text = JSON.stringify({ ...body, version: run + 1 });
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/schedule`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: text,
      });
      const ack = (await res.json()) as { version?: number };
      times.push(performance.now() - t0);
      if (ack.version !== run + 1) throw new Error(`PUT /schedule answered ${res.status} ${JSON.stringify(ack)}`);
    }
  } finally {
    await app.stop();
    await rm(mediaDir, { recursive: true, force: true });
  }
  const sorted = Float64Array.from(times.slice(1)).sort();
  process.stdout.write(
    `  ${'PUT /schedule, first (join)'.padEnd(32)} ${fmt(times[0]).padStart(14)}
` +
      `  ${'PUT /schedule, a new version'.padEnd(32)} p50 ${fmt(percentile(sorted, 50)).padStart(10)}  p95 ${fmt(percentile(sorted, 95)).padStart(10)}  max ${fmt(sorted.at(-1)!).padStart(10)}
`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runSchedulePlanBench();
