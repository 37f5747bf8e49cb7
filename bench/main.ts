// npm run bench: the as-run log, transport and subscriptions under load. See bench/README.md.
//
// Libraries read NODE_ENV once, when first imported (graphql-js, for one, runs a
// costly multi-realm check in every instanceOf outside production), so it is
// set before anything else loads: the benchmark measures a production server.
process.env.NODE_ENV ??= 'production';
// The servers measured here run with the API process's V8 settings (src/server/main.ts).
(await import('../src/server/gc-settings.ts')).applyGcSettings();

// `npm run bench` runs every benchmark; `npm run bench -- transport` (or asrun, asrun-gc, subscriptions, sidecar-rate, sidecar-start, schedule) one.
const only = process.argv[2];
const { loadavg } = await import('node:os');
// Other work on the machine moves every figure: its load average goes with them.
const load = (when: string) =>
  process.stdout.write(
    `\nload average ${when}: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (1, 5, 15 min)\n`,
  );
const benches: [string, () => Promise<void>][] = [
  ['asrun', async () => (await import('./run.ts')).runAsRunBench()],
  ['asrun-gc', async () => (await import('./gc.ts')).runAsRunGcBench()],
  ['transport', async () => (await import('./transport.ts')).runTransportBench()],
  ['subscriptions', async () => (await import('./subscriptions.ts')).runSubscriptionsBench()],
  ['sidecar-rate', async () => (await import('./sidecar-rate.ts')).runSidecarRateBench()],
  ['sidecar-start', async () => (await import('./sidecar-start.ts')).runSidecarStartBench()],
  ['schedule', async () => (await import('./schedule-plan.ts')).runSchedulePlanBench()],
];
try {
  for (const [name, run] of benches) {
    // asrun-gc only when named: a minute of one scenario, to study the garbage collector.
    if (only ? only !== name : name === 'asrun-gc') continue;
    load(`before ${name}`);
    await run();
    load(`after ${name}`);
  }
} catch (err) {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
}
process.exit(process.exitCode ?? 0);
