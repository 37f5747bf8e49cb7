import { ensureAdminToken } from '../auth/bootstrap.ts';
import { loadConfig } from '../config.ts';
import { createServices } from '../services/index.ts';
import { ensureDatabase, migrate } from '../services/migrate.ts';
import { startWorkers } from '../worker/index.ts';
import { buildApp } from './app.ts';
import { isForkedApiProcess, runApiProcesses } from './cluster.ts';
import { applyGcSettings } from './gc-settings.ts';

/** `serve`: migrations, bootstrap admin, HTTP server (and workers); stops cleanly on SIGINT/SIGTERM. */
async function main() {
  applyGcSettings();
  const config = loadConfig();
  const services = createServices(config);
  const { log } = services;
  // API_PROCESSES > 1: the forked processes skip what their primary did once (src/server/cluster.ts).
  const forked = isForkedApiProcess();
  if (config.migrateOnStart && !forked) {
    if (config.env !== 'production') await ensureDatabase(config.databaseUrl);
    await migrate(config.databaseUrl, log);
  }
  if (config.adminToken && !forked) await ensureAdminToken(services.db, config.adminToken, log);
  if (config.apiProcesses > 1 && !forked) {
    await services.close();
    return runApiProcesses(config.apiProcesses, log);
  }
  const app = buildApp(services);
  // One machine: the workers run in this process (WORKER_IN_PROCESS=false for a separate `worker`).
  const workers = config.workerInProcess ? await startWorkers(services) : null;
  // Ready (listening, then /readyz) only once the connections the first requests need are open.
  await services.warm();
  await new Promise<void>((resolve) => app.server.listen(config.port, config.host, resolve));
  log.info(
    { port: config.port, graphiql: config.graphiql },
    `onair serving on http://${config.host}:${config.port}/graphql`,
  );
  if (app.metricsServer && config.metrics.port !== null) {
    const { host, port } = config.metrics;
    await new Promise<void>((resolve) => app.metricsServer!.listen(port, host, resolve));
    log.info({ host, port }, `metrics on http://${host}:${port}/metrics`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const results = await Promise.allSettled([app.close(), workers?.close()]);
    await services.close();
    process.exit(results.some((r) => r.status === 'rejected') ? 1 : 0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
