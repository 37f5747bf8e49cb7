import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { MIN_SIDECAR_SECRET_LENGTH, SIDECAR_ENGINES, SidecarOutputSchema, type SidecarOutput } from '../protocol/sidecar-env.ts';
import { VIDEO_MODES, type VideoMode } from './video-modes.ts';

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
}

const EnvSchema = z.object({
  CHANNEL_ID: z.uuid('must be a UUID'),
  PORT: z.coerce.number().int('must be an integer').min(0).max(65535, 'must be 0-65535'),
  HOST: z.string().min(1).default('127.0.0.1'),
  SIDECAR_SECRET: z.string().min(MIN_SIDECAR_SECRET_LENGTH, `must be at least ${MIN_SIDECAR_SECRET_LENGTH} characters`),
  ENGINE: z.enum(SIDECAR_ENGINES, `must be one of ${SIDECAR_ENGINES.join(', ')}`),
  VIDEO_FORMAT: z
    .string()
    .refine((v) => VIDEO_MODES.has(v), `must be a supported video mode: ${[...VIDEO_MODES.keys()].join(', ')}`),
  MEDIA_DIR: z.string().refine((v) => isAbsolute(v), 'must be an absolute path'),
  OUTPUT_JSON: z.string(),
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Throws ConfigError naming every bad variable. Messages name variables and
 * rules only, never values: SIDECAR_SECRET and OUTPUT_JSON hold secrets.
 */
export function loadSidecarConfig(env: NodeJS.ProcessEnv = process.env): SidecarConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`invalid sidecar environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
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
  if (e.ENGINE !== 'ffmpeg') throw new ConfigError(`ENGINE: ${e.ENGINE} is not available in this sidecar yet`);
  return {
    channelId: e.CHANNEL_ID,
    port: e.PORT,
    host: e.HOST,
    secret: e.SIDECAR_SECRET,
    engine: e.ENGINE,
    videoMode: VIDEO_MODES.get(e.VIDEO_FORMAT)!,
    mediaDir: resolve(e.MEDIA_DIR),
    output: output.data,
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
