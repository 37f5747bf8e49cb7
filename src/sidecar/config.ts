import { resolve } from 'node:path';
import {
  LOG_LEVELS,
  type SIDECAR_ENGINES,
  SIDECAR_ENV,
  SidecarEnvSchema,
  SidecarOutputSchema,
  type LogLevel,
  type SidecarOutput,
} from '../protocol/sidecar-env.ts';
import { VIDEO_FORMATS } from '../protocol/video-formats.ts';
import type { CasparcgSettings } from './engines/casparcg/index.ts';
import { VIDEO_MODES, type VideoMode, videoModeOf } from './video-modes.ts';

/** The sidecar's settings, parsed once from the environment. */
export interface SidecarConfig {
  channelId: string;
  port: number;
  /** @defaultValue '127.0.0.1' */
  host: string;
  secret: string;
  engine: (typeof SIDECAR_ENGINES)[number];
  videoMode: VideoMode;
  /** Absolute path of the playout volume; item media paths are relative to it. */
  mediaDir: string;
  output: SidecarOutput;
  /** The CasparCG Server to drive (ENGINE=casparcg); null for the ffmpeg engine. */
  casparcg: CasparcgSettings | null;
}

const EnvSchema = SidecarEnvSchema;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * What the sidecar's logger needs before the rest of the environment is
 * checked, so that a bad configuration is itself logged: LOG_LEVEL (info when
 * unset or unknown; loadSidecarConfig then names it) and CHANNEL_ID as given.
 */
export function loadSidecarLogSettings(env: NodeJS.ProcessEnv = process.env): {
  level: LogLevel;
  channelId: string | undefined;
} {
  const level = env[SIDECAR_ENV.logLevel];
  return {
    level: (LOG_LEVELS as readonly string[]).includes(level ?? '') ? (level as LogLevel) : 'info',
    channelId: env[SIDECAR_ENV.channelId],
  };
}

/**
 * Throws ConfigError naming every bad variable. Messages name variables and
 * rules only, never values: SIDECAR_SECRET and OUTPUT_JSON hold secrets.
 */
export function loadSidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid sidecar environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const e = parsed.data;
  let json: unknown;
  try {
    json = JSON.parse(e.OUTPUT_JSON);
  } catch {
    throw new ConfigError('invalid sidecar environment: OUTPUT_JSON: must be JSON');
  }
  const output = SidecarOutputSchema.safeParse(json);
  if (!output.success) {
    throw new ConfigError(
      `invalid sidecar environment: ${output.error.issues.map((i) => `OUTPUT_JSON.${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  // The ffmpeg engine encodes in software up to 1080 lines; CasparCG plays every mode it knows.
  let videoMode = VIDEO_MODES.get(e.VIDEO_FORMAT);
  if (!videoMode && e.ENGINE === 'ffmpeg') {
    throw new ConfigError(
      `invalid sidecar environment: VIDEO_FORMAT: must be a supported video mode: ${[...VIDEO_MODES.keys()].join(', ')}`,
    );
  }
  videoMode ??= videoModeOf(VIDEO_FORMATS.get(e.VIDEO_FORMAT)!);
  return {
    channelId: e.CHANNEL_ID,
    port: e.PORT,
    host: e.HOST,
    secret: e.SIDECAR_SECRET,
    engine: e.ENGINE,
    videoMode,
    mediaDir: resolve(e.MEDIA_DIR),
    output: output.data,
    casparcg:
      e.ENGINE === 'casparcg'
        ? {
            host: e.CASPARCG_HOST,
            port: e.CASPARCG_PORT,
            channel: e.CASPARCG_CHANNEL,
            layer: e.CASPARCG_LAYER,
            setMode: e.CASPARCG_SET_MODE === 'true',
            mediaDir: e.CASPARCG_MEDIA_DIR ? resolve(e.CASPARCG_MEDIA_DIR) : null,
            preview: e.CASPARCG_PREVIEW === 'true',
          }
        : null,
  };
}

/** The output as it may be logged or shown: secrets replaced by whether they are set. */
export function describeOutput(o: SidecarOutput): Record<string, unknown> {
  switch (o.type) {
    case 'SRT':
      return { type: o.type, url: o.url, latencyMs: o.latencyMs ?? null, passphraseSet: !!o.passphrase };
    case 'RTMP':
      return { type: o.type, url: o.url, streamKeySet: !!o.streamKey };
    default:
      return { ...o };
  }
}

/**
 * The whole environment a child process (ffmpeg, ffprobe) gets: what it needs
 * to run and nothing else. SIDECAR_SECRET and OUTPUT_JSON stay in this
 * process: a child's environment is readable in /proc/<pid>/environ.
 */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { PATH: env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' };
  // Where a container or test puts fonts and libraries ffmpeg loads; never a secret.
  for (const name of ['TZ', 'LD_LIBRARY_PATH', 'FONTCONFIG_PATH'] as const) if (env[name]) out[name] = env[name];
  return out;
}
