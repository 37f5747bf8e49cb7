// npm run bench -- asrun-gc: one as-run scenario under wrk for a minute, in rows of 10 s, with the
// server's garbage collections counted per row. Full collections began only ~25 s into the as-run
// bench's load, so its 10 s rows alone do not show whether a change removes them. See bench/README.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { countGcs } from './gc-count.ts';
import { formatRows } from './load.ts';
import { prepare, seedAndServe } from './run.ts';
import { ensureWrk, runWrk } from './wrk.ts';

const env = process.env;
const SECONDS = Number(env.BENCH_GC_SECONDS ?? 60);
const ROW_SECONDS = 10;
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 10);
/** 0: page 1, 1: the 24-hour window, 2: page 51. */
const SCENARIO = Number(env.BENCH_GC_SCENARIO ?? 0);
const say = (line: string) => process.stdout.write(`${line}\n`);

/** The spaces of V8's old generation (large objects included), as getHeapSpaceStatistics names them. */
const OLD_SPACES = [
  'old_space',
  'code_space',
  'large_object_space',
  'code_large_object_space',
  'trusted_space',
  'trusted_large_object_space',
];

/**
 * What the old generation gains per second while no full collection runs, by space: sampled every
 * 100 ms, the growth of each interval without a mark-compact, summed. Objects promoted by a
 * scavenge count too; `--trace-gc-nvp`'s `promoted=` tells them apart.
 */
class OldGenerationGrowth {
  private last = this.sample();
  private grown = new Map<string, number>();
  private ms = 0;
  private lastAt = performance.now();
  private majorSeen = false;
  private timer = setInterval(() => this.tick(), 100);

  private sample(): Map<string, number> {
    return new Map(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
  }

  majorGc(): void {
    this.majorSeen = true;
  }

  private tick(): void {
    const now = this.sample();
    const at = performance.now();
    if (!this.majorSeen) {
      for (const [space, used] of now) {
        const d = used - (this.last.get(space) ?? 0);
        if (d > 0) this.grown.set(space, (this.grown.get(space) ?? 0) + d);
      }
      this.ms += at - this.lastAt;
    }
    this.majorSeen = false;
    this.last = now;
    this.lastAt = at;
  }

  /** MB/s per old-generation space since the last call. */
  take(): Map<string, number> {
    const rates = new Map<string, number>();
    for (const space of OLD_SPACES) rates.set(space, ((this.grown.get(space) ?? 0) / 1e6 / this.ms) * 1000);
    this.grown = new Map();
    this.ms = 0;
    return rates;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export async function runAsRunGcBench(): Promise<void> {
  const { services, app, url } = await seedAndServe();
  let userId: string | undefined;
  const growth = new OldGenerationGrowth();
  try {
    const prepared = await prepare(services, url);
    userId = prepared.userId;
    const scenario = prepared.scenarios[SCENARIO];
    ensureWrk(say);
    const wrk = (seconds: number) =>
      runWrk(scenario, {
        url,
        token: prepared.token,
        connections: CONCURRENCY,
        durationMs: seconds * 1000,
        serverPid: process.pid,
      });
    // The bench's warm-up: every scenario for 1 s.
    for (const s of prepared.scenarios)
      await runWrk(s, {
        url,
        token: prepared.token,
        connections: CONCURRENCY,
        durationMs: 1000,
        serverPid: process.pid,
      });
    say(
      `\n${scenario.name}: wrk, ${CONCURRENCY} connections, ${SECONDS} s in rows of ${ROW_SECONDS} s; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    // BENCH_HEAP_PROFILE=<dir>: a sampling heap profile of the whole run, objects collected since included.
    const heapProfile = env.BENCH_HEAP_PROFILE;
    const session = heapProfile ? new Session() : null;
    if (session) {
      session.connect();
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    }
    // BENCH_GC_TRACE=1: V8's line for each full collection (its reason and sizes), interleaved with the rows.
    if (env.BENCH_GC_TRACE) setFlagsFromString('--trace-gc --trace-gc-ignore-scavenger');
    growth.take();
    const rows = [
      [
        's',
        'req/s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'server CPU ms/req',
        'scavenges',
        'mark-compacts',
        'GC ms (scavenge / full)',
        'old gen growth MB/s (old / large objects / code)',
        'errors',
      ],
    ];
    for (let t = 0; t < SECONDS; t += ROW_SECONDS) {
      const gcs = countGcs(() => growth.majorGc());
      const r = await wrk(ROW_SECONDS);
      const counts = await gcs.stop();
      const g = growth.take();
      const mb = (space: string) => (g.get(space) ?? 0).toFixed(2);
      rows.push([
        `${t}–${t + ROW_SECONDS}`,
        r.reqPerSec.toFixed(0),
        r.p50.toFixed(2),
        r.p99.toFixed(2),
        r.max.toFixed(1),
        r.serverCpuMs.toFixed(3),
        String(counts.scavenges),
        String(counts.markCompacts),
        `${counts.scavengeMs.toFixed(0)} / ${counts.markCompactMs.toFixed(0)}`,
        `${mb('old_space')} / ${mb('large_object_space')} / ${mb('code_space')}`,
        String(r.errors),
      ]);
      say(rows[rows.length - 1].join('  '));
    }
    if (session && heapProfile) {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      session.disconnect();
      mkdirSync(heapProfile, { recursive: true });
      const file = path.join(heapProfile, 'asrun-gc.heapprofile');
      writeFileSync(file, JSON.stringify(profile));
      say(`heap profile: ${file}`);
    }
    say(`\n${formatRows(rows)}`);
    say(
      `load average after: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    growth.stop();
    if (userId) await services.db.user.delete({ where: { id: userId } }).catch(() => {});
    await app.close();
    await services.close();
  }
}
