import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { MIN_SIDECAR_SECRET_LENGTH, SIDECAR_ENGINES, SidecarOutputSchema, type SidecarOutput } from '../protocol/sidecar-env.ts';
import { VIDEO_FORMATS } from '../protocol/video-formats.ts';
import type { CasparcgSettings } from './engines/casparcg/index.ts';
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
  /** The CasparCG Server to drive (ENGINE=casparcg); null for the ffmpeg engine. */
  casparcg: CasparcgSettings | null;
}

const flag = () => z.enum(['true', 'false'], 'must be true or false');

const EnvSchema = z.object({
  CHANNEL_ID: z.uuid('must be a UUID'),
  PORT: z.coerce.number().int('must be an integer').min(0).max(65535, 'must be 0-65535'),
  HOST: z.string().min(1).default('127.0.0.1'),
  SIDECAR_SECRET: z.string().min(MIN_SIDECAR_SECRET_LENGTH, `must be at least ${MIN_SIDECAR_SECRET_LENGTH} characters`),
  ENGINE: z.enum(SIDECAR_ENGINES, `must be one of ${SIDECAR_ENGINES.join(', ')}`),
  VIDEO_FORMAT: z
    .string()
    .refine((v) => VIDEO_FORMATS.has(v), 'must be a supported video mode: a CasparCG mode name such as 1080i5000'),
  MEDIA_DIR: z.string().refine((v) => isAbsolute(v), 'must be an absolute path'),
  OUTPUT_JSON: z.string(),
  /** ENGINE=casparcg: the CasparCG Server's AMCP endpoint and the channel and layer this channel plays on. */
  CASPARCG_HOST: z.string().min(1).default('127.0.0.1'),
  CASPARCG_PORT: z.coerce.number().int('must be an integer').min(1).max(65535, 'must be 1-65535').default(5250),
  CASPARCG_CHANNEL: z.coerce.number().int('must be an integer').min(1, 'must be 1 or more').default(1),
  CASPARCG_LAYER: z.coerce.number().int('must be an integer').min(0).max(9999).default(10),
  /** Switch the server channel's video mode to VIDEO_FORMAT when it differs (else refuse to start). */
  CASPARCG_SET_MODE: flag().default('false'),
  /** The media volume as the server sees it (for the HLS preview's path); unset: asked with INFO PATHS. */
  CASPARCG_MEDIA_DIR: z.string().refine((v) => isAbsolute(v), 'must be an absolute path').optional(),
  /** Add the HLS preview consumer to the server's channel. */
  CASPARCG_PREVIEW: flag().default('true'),
});

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

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
  // The ffmpeg engine encodes in software up to 1080 lines; CasparCG plays every mode it knows.
  let videoMode = VIDEO_MODES.get(e.VIDEO_FORMAT);
  if (!videoMode && e.ENGINE === 'ffmpeg') {
    throw new ConfigError(`invalid sidecar environment: VIDEO_FORMAT: must be a supported video mode: ${[...VIDEO_MODES.keys()].join(', ')}`);
  }
  if (!videoMode) {
    const f = VIDEO_FORMATS.get(e.VIDEO_FORMAT)!;
    const g = gcd(f.timeScale, f.duration);
    videoMode = { ...f, rateNum: f.timeScale / g, rateDen: f.duration / g };
  }
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
