import type { Logger } from 'pino';
import { childEnvironment, type SidecarConfig } from '../config.ts';
import { hlsSettings } from '../hls.ts';
import { CasparcgEngine } from './casparcg/index.ts';
import type { Engine, EngineReporter } from './engine.ts';
import { FfmpegEngine } from './ffmpeg/index.ts';

/** The engine ENGINE names, built from the sidecar's configuration. */
export function createEngine(config: SidecarConfig, deps: { report: EngineReporter; logger?: Logger }): Engine {
  const hls = hlsSettings(config.mediaDir, config.channelId);
  if (config.engine === 'casparcg' && config.casparcg) {
    return new CasparcgEngine({
      settings: config.casparcg,
      mode: config.videoMode,
      output: config.output,
      mediaDir: config.mediaDir,
      hls,
      report: deps.report,
      logger: deps.logger,
    });
  }
  return new FfmpegEngine({
    mode: config.videoMode,
    output: config.output,
    hls,
    report: deps.report,
    env: childEnvironment(),
  });
}
