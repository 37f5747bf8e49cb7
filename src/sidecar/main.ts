import { pino } from 'pino';
import { buildSidecarApp } from './app.ts';
import { ConfigError, loadSidecarConfig } from './config.ts';

/**
 * Entry point of a channel's sidecar: parse the environment, start the engine
 * and the API, stop cleanly (current item TRUNCATED) on SIGTERM/SIGINT.
 */
// Logs go to stderr: what a failed start printed last is what the orchestrator reports.
const logger = pino(
  {
    level: process.env.LOG_LEVEL ?? 'info',
    base: { service: 'onair-sidecar', channelId: process.env.CHANNEL_ID },
    redact: { paths: ['*.passphrase', '*.streamKey', '*.secret', '*.authorization'], censor: '[redacted]' },
  },
  pino.destination(2),
);

async function main(): Promise<void> {
  let config;
  try {
    config = loadSidecarConfig();
  } catch (err) {
    logger.fatal({ msg: err instanceof ConfigError ? err.message : String(err) }, 'bad configuration');
    process.exit(2);
  }
  const app = buildSidecarApp(config, { logger });
  try {
    await app.start();
  } catch (err) {
    logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'sidecar cannot start');
    await app.stop();
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    app.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
