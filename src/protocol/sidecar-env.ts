import { z } from 'zod';

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
    passphrase: z.string().min(10, 'must be 10-79 characters (SRT)').max(79, 'must be 10-79 characters (SRT)').nullish(),
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
