// npm run bench -- sidecar-start: how long a channel's sidecar takes to start, from the
// spawn until it proves itself on /healthz (what startChannel waits for before RUNNING),
// run from the TypeScript sources through tsx and from the build (dist/sidecar.js). The
// orchestrator asks every 100 ms, as it does for startChannel: figures are to that step.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/paths.ts';
import { sidecarSettingsEnv } from '../src/protocol/sidecar-env.ts';
import { LocalOrchestrator } from '../src/services/orchestrator/local.ts';
import { formatRows, percentile } from './load.ts';

const RUNS = Number(process.env.BENCH_SIDECAR_STARTS ?? 10);

export async function runSidecarStartBench(): Promise<void> {
  execFileSync(process.execPath, [path.join(projectRoot, 'scripts/build.mjs')], { cwd: projectRoot, stdio: 'inherit' });
  const mediaDir = await mkdtemp(path.join(tmpdir(), 'onair-bench-sidecar-'));
  const ways: [string, string[]][] = [
    ['tsx (src/sidecar/main.ts)', [process.execPath, '--import', 'tsx', path.join(projectRoot, 'src/sidecar/main.ts')]],
    ['build (dist/sidecar.js)', [process.execPath, '--enable-source-maps', path.join(projectRoot, 'dist/sidecar.js')]],
  ];
  const times = new Map<string, number[]>(ways.map(([name]) => [name, []]));
  // The orchestrator's waits do not hold the process open (unref'd timers); this does.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    // Alternated, so that other work on the machine weighs on both alike.
    for (let run = 0; run < RUNS; run++) {
      for (const [name, command] of ways) {
        const orchestrator = new LocalOrchestrator({
          command,
          cwd: projectRoot,
          healthPath: '/healthz',
          output: 'ignore',
          stopTimeoutMs: 2000,
        });
        const channelId = randomUUID();
        const began = performance.now();
        const handle = await orchestrator.start({
          channelId,
          secret: randomBytes(24).toString('hex'),
          port: 9390,
          node: null,
          env: sidecarSettingsEnv({
            engine: 'ffmpeg',
            videoFormat: '576p2500',
            mediaDir,
            output: { type: 'UDP', url: 'udp://127.0.0.1:9' },
            logLevel: 'silent',
          }),
        });
        times.get(name)!.push(performance.now() - began);
        await orchestrator.stop(channelId, handle.ref, null);
      }
    }
  } finally {
    clearInterval(keepAlive);
    await rm(mediaDir, { recursive: true, force: true });
  }
  const rows = [['sidecar start (spawn → /healthz proof)', 'runs', 'min ms', 'p50 ms', 'max ms']];
  for (const [name, values] of times) {
    const sorted = Float64Array.from(values).sort();
    rows.push([
      name,
      String(sorted.length),
      sorted[0].toFixed(0),
      percentile(sorted, 50).toFixed(0),
      sorted[sorted.length - 1].toFixed(0),
    ]);
  }
  process.stdout.write(`\n${formatRows(rows)}\n`);
}
