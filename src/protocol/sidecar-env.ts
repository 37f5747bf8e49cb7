import { z } from 'zod';
import { VIDEO_FORMATS } from './video-formats.ts';

/**
 * What the control plane passes a sidecar at spawn, as environment variables.
 * OUTPUT_JSON carries the channel's output with its secret (passphrase, stream
 * key): the sidecar uses it and never logs or returns it.
 */

export const SidecarOutputSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('SRT'),
    url: z.string().regex(/^srt:\/\//, 'must start with srt://'),
    latencyMs: z.number().int().nonnegative().max(60_000).nullish(),
    passphrase: z
      .string()
      .min(10, 'must be 10-79 characters (SRT)')
      .max(79, 'must be 10-79 characters (SRT)')
      .nullish(),
  }),
  z.object({
    type: z.literal('RTMP'),
    url: z.string().regex(/^rtmps?:\/\//, 'must start with rtmp:// or rtmps://'),
    streamKey: z.string().min(1).max(512).nullish(),
  }),
  z.object({ type: z.literal('NDI'), name: z.string().min(1) }),
  z.object({ type: z.literal('DECKLINK'), deviceIndex: z.number().int().nonnegative() }),
  /**
   * MPEG-TS over UDP: a lab and test sink (it needs no receiver to be up). The
   * control plane's channel outputs never produce it.
   */
  z.object({ type: z.literal('UDP'), url: z.string().regex(/^udp:\/\//, 'must start with udp://') }),
]);
export type SidecarOutput = z.infer<typeof SidecarOutputSchema>;

export const SIDECAR_ENGINES = ['ffmpeg', 'casparcg'] as const;

/** pino's levels; a sidecar logs at the control plane's LOG_LEVEL. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The environment variable names, in one place for both sides. */
export const SIDECAR_ENV = {
  channelId: 'CHANNEL_ID',
  port: 'PORT',
  host: 'HOST',
  secret: 'SIDECAR_SECRET',
  engine: 'ENGINE',
  videoFormat: 'VIDEO_FORMAT',
  mediaDir: 'MEDIA_DIR',
  output: 'OUTPUT_JSON',
  casparcgHost: 'CASPARCG_HOST',
  casparcgPort: 'CASPARCG_PORT',
  casparcgChannel: 'CASPARCG_CHANNEL',
  casparcgLayer: 'CASPARCG_LAYER',
  casparcgSetMode: 'CASPARCG_SET_MODE',
  logLevel: 'LOG_LEVEL',
} as const;

/** Where an ENGINE=casparcg sidecar finds its CasparCG Server, as the control plane configures it. */
export interface CasparcgSidecarSettings {
  host: string;
  port: number;
  channel: number;
  layer: number;
  /** Switch the server channel's video mode to the channel's (else a mismatch refuses to start). */
  setMode: boolean;
}

/** @defaultValue minimum SIDECAR_SECRET length */
export const MIN_SIDECAR_SECRET_LENGTH = 32;

/**
 * Exit codes a sidecar ends with when it cannot start, so the orchestrator
 * that spawned it can act on the reason without reading its log.
 */
export const SIDECAR_EXIT = {
  /** The environment is invalid (a ConfigError names the variables). */
  badConfig: 2,
  /** Anything else that stopped the start (the engine, the output). */
  startFailed: 1,
  /** HOST:PORT is held by another program: the control plane picks another port. */
  portInUse: 3,
} as const;

const flag = () => z.enum(['true', 'false'], 'must be true or false');
// Sidecars run on Linux: an absolute path starts with '/'.
const absolutePath = () => z.string().refine((v) => v.startsWith('/'), 'must be an absolute path');

/**
 * The sidecar's environment as the sidecar parses it (src/sidecar/config.ts)
 * and as the control plane checks what it built before spawning: the same
 * keys, limits and defaults on both sides.
 */
export const SidecarEnvSchema = z.object({
  [SIDECAR_ENV.channelId]: z.uuid('must be a UUID'),
  [SIDECAR_ENV.port]: z.coerce.number().int('must be an integer').min(0).max(65535, 'must be 0-65535'),
  /** Where the sidecar listens: the address the control plane calls it on. */
  [SIDECAR_ENV.host]: z.string().min(1).default('127.0.0.1'),
  [SIDECAR_ENV.secret]: z
    .string()
    .min(MIN_SIDECAR_SECRET_LENGTH, `must be at least ${MIN_SIDECAR_SECRET_LENGTH} characters`),
  [SIDECAR_ENV.engine]: z.enum(SIDECAR_ENGINES, `must be one of ${SIDECAR_ENGINES.join(', ')}`),
  [SIDECAR_ENV.videoFormat]: z
    .string()
    .refine((v) => VIDEO_FORMATS.has(v), 'must be a supported video mode: a CasparCG mode name such as 1080i5000'),
  [SIDECAR_ENV.mediaDir]: absolutePath(),
  [SIDECAR_ENV.output]: z.string(),
  /** ENGINE=casparcg: the CasparCG Server's AMCP endpoint and the channel and layer this channel plays on. */
  [SIDECAR_ENV.casparcgHost]: z.string().min(1).default('127.0.0.1'),
  [SIDECAR_ENV.casparcgPort]: z.coerce
    .number()
    .int('must be an integer')
    .min(1)
    .max(65535, 'must be 1-65535')
    .default(5250),
  [SIDECAR_ENV.casparcgChannel]: z.coerce.number().int('must be an integer').min(1, 'must be 1 or more').default(1),
  [SIDECAR_ENV.casparcgLayer]: z.coerce.number().int('must be an integer').min(0).max(9999).default(10),
  /** Switch the server channel's video mode to VIDEO_FORMAT when it differs (else refuse to start). */
  [SIDECAR_ENV.casparcgSetMode]: flag().default('false'),
  /** The media volume as the server sees it (for the HLS preview's path); unset: asked with INFO PATHS. */
  CASPARCG_MEDIA_DIR: absolutePath().optional(),
  /** Add the HLS preview consumer to the server's channel. */
  CASPARCG_PREVIEW: flag().default('true'),
  [SIDECAR_ENV.logLevel]: z.enum(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')}`).default('info'),
});

/** A channel's playout settings, as the control plane hands them to a sidecar. */
export interface SidecarSettings {
  engine: (typeof SIDECAR_ENGINES)[number];
  videoFormat: string;
  /** The playout volume's absolute path on the node. */
  mediaDir: string;
  output: SidecarOutput;
  casparcg?: CasparcgSidecarSettings | null;
  logLevel: LogLevel;
}

/** Who the sidecar is and where it listens: decided per spawn by the orchestrator. */
export interface SidecarIdentity {
  channelId: string;
  port: number;
  /** The address it listens on: where the control plane will call it. */
  host: string;
  /** Generated per spawn; the sidecar's API wants it and its health proof uses it. */
  secret: string;
}

export class SidecarEnvError extends Error {
  override name = 'SidecarEnvError';
}

/** A channel's settings as environment variables (everything but the identity). */
export function sidecarSettingsEnv(settings: SidecarSettings): Record<string, string> {
  const c = settings.casparcg;
  return {
    [SIDECAR_ENV.engine]: settings.engine,
    [SIDECAR_ENV.videoFormat]: settings.videoFormat,
    [SIDECAR_ENV.mediaDir]: settings.mediaDir,
    [SIDECAR_ENV.output]: JSON.stringify(settings.output),
    [SIDECAR_ENV.logLevel]: settings.logLevel,
    ...(c && {
      [SIDECAR_ENV.casparcgHost]: c.host,
      [SIDECAR_ENV.casparcgPort]: String(c.port),
      [SIDECAR_ENV.casparcgChannel]: String(c.channel),
      [SIDECAR_ENV.casparcgLayer]: String(c.layer),
      [SIDECAR_ENV.casparcgSetMode]: String(c.setMode),
    }),
  };
}

/**
 * The one sidecar environment: the settings' variables, then the identity's
 * (they win, so a stray CHANNEL_ID or HOST among the settings cannot point the
 * sidecar elsewhere). Every orchestrator spawns sidecars with this.
 */
export function buildSidecarEnv(
  identity: SidecarIdentity,
  settingsEnv: Record<string, string>,
): Record<string, string> {
  return {
    ...settingsEnv,
    [SIDECAR_ENV.channelId]: identity.channelId,
    [SIDECAR_ENV.port]: String(identity.port),
    [SIDECAR_ENV.host]: identity.host,
    [SIDECAR_ENV.secret]: identity.secret,
  };
}

/**
 * Checks a built environment with the sidecar's own schema; throws
 * SidecarEnvError naming the variables (never their values: secrets).
 */
export function checkSidecarEnv(env: Record<string, string>): z.infer<typeof SidecarEnvSchema> {
  const parsed = SidecarEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new SidecarEnvError(
      `invalid sidecar environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const output = SidecarOutputSchema.safeParse(safeJson(parsed.data[SIDECAR_ENV.output]));
  if (!output.success) {
    throw new SidecarEnvError(
      `invalid sidecar environment: ${output.error.issues.map((i) => `${SIDECAR_ENV.output}.${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The health challenge: GET /healthz?nonce=<hex> is answered with
 * {ok, channelId, proof}, proof = HMAC-SHA256(SIDECAR_SECRET, this message) in
 * hex. Only the sidecar spawned with the secret can make it, and the secret
 * itself never travels until the listener has proven it holds it.
 */
export const HEALTH_PROOF_ALGORITHM = 'sha256';
export const HealthNonceSchema = z.string().regex(/^[0-9a-f]{32,128}$/, 'must be 32-128 lowercase hex characters');
export const healthProofMessage = (channelId: string, nonce: string) => `onair-sidecar-health:${channelId}:${nonce}`;
export const HealthAnswerSchema = z.object({
  ok: z.literal(true),
  channelId: z.string(),
  proof: z.string().optional(),
});
export type HealthAnswer = z.infer<typeof HealthAnswerSchema>;
