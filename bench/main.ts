// npm run bench: the as-run log, transport and subscriptions under load. See bench/README.md.
//
// Libraries read NODE_ENV once, when first imported (graphql-js, for one, runs a
// costly multi-realm check in every instanceOf outside production), so it is
// set before anything else loads: the benchmark measures a production server.
process.env.NODE_ENV ??= 'production';

// `npm run bench` runs every benchmark; `npm run bench -- transport` (or asrun, subscriptions, sidecar-rate) one.
const only = process.argv[2];
try {
  if (!only || only === 'asrun') await (await import('./run.ts')).runAsRunBench();
  if (!only || only === 'transport') await (await import('./transport.ts')).runTransportBench();
  if (!only || only === 'subscriptions') await (await import('./subscriptions.ts')).runSubscriptionsBench();
  if (!only || only === 'sidecar-rate') await (await import('./sidecar-rate.ts')).runSidecarRateBench();
} catch (err) {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
}
process.exit(process.exitCode ?? 0);
