import { pino } from 'pino';
import { buildSidecarApp } from './app.ts';
import { SIDECAR_EXIT } from '../protocol/sidecar-env.ts';
import { ConfigError, loadSidecarConfig, loadSidecarLogSettings } from './config.ts';

/**
 * Entry point of a channel's sidecar: parse the environment, start the engine
 * and the API, stop cleanly (current item TRUNCATED) on SIGTERM/SIGINT.
 * It does not watch its stdin or its parent: a local sidecar whose control
 * plane died keeps playing, and the restarted control plane adopts it (and
 * stops it, by its verified pid, when its channel is stopped).
 */
// Logs go to stderr: what a failed start printed last is what the orchestrator reports.
const logSettings = loadSidecarLogSettings();
const logger = pino(
  {
    level: logSettings.level,
    base: { service: 'onair-sidecar', channelId: logSettings.channelId },
    redact: { paths: ['*.passphrase', '*.streamKey', '*.secret', '*.authorization'], censor: '[redacted]' },
  },
  pino.destination(2),
);

async function main(): Promise<void> {
  let config: ReturnType<typeof loadSidecarConfig>;
  try {
    config = loadSidecarConfig();
  } catch (err) {
    logger.fatal({ msg: err instanceof ConfigError ? err.message : String(err) }, 'bad configuration');
    process.exit(SIDECAR_EXIT.badConfig);
  }
  const app = buildSidecarApp(config, { logger });
  try {
    await app.start();
  } catch (err) {
    const portInUse = (err as NodeJS.ErrnoException)?.code === 'EADDRINUSE';
    logger.fatal(
      { err: err instanceof Error ? err.message : String(err), host: config.host, port: config.port },
      portInUse ? 'sidecar port held by another program' : 'sidecar cannot start',
    );
    await app.stop();
    // A distinct code: the orchestrator then tries another port rather than failing the start.
    process.exit(portInUse ? SIDECAR_EXIT.portInUse : SIDECAR_EXIT.startFailed);
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
