import { loadConfig } from '../config.ts';
import { createServices } from '../services/index.ts';
import { startWorkers } from './index.ts';

/** `worker`: the BullMQ workers alone (serve runs them in-process unless WORKER_IN_PROCESS=false). */
async function main() {
  const config = loadConfig();
  const services = createServices(config);
  const workers = await startWorkers(services);
  services.log.info({ volume: config.mediaVolumeDir, store: config.mediaStore.kind }, 'onair worker started');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    services.log.info({ signal }, 'stopping');
    await workers.close().catch(() => {});
    await services.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
