import { join, relative } from 'node:path';
import type { Logger } from 'pino';
import { preparePreviewDir, type HlsSettings } from '../../hls.ts';
import type { VideoMode } from '../../video-modes.ts';
import { EngineError } from '../engine.ts';
import { amcp } from './commands.ts';
import { AmcpError, type AmcpClient } from './connection.ts';
import { previewConsumer, type ConsumerSpec } from './consumers.ts';
import { channelModes, mediaFolder, type ChannelSnapshot } from './info.ts';

/**
 * The server channel around the layer: its video mode and its outputs
 * (consumers), checked at start and after every reconnection.
 */

/**
 * Null when the server's channel runs `mode` (switching it first when
 * `setMode`); else what is wrong, for the operator.
 */
export async function checkMode(
  client: AmcpClient,
  channel: number,
  mode: string,
  setMode: boolean,
  logger?: Logger,
): Promise<string | null> {
  const modes = async () => channelModes((await client.send(amcp.channels())).data);
  let list = await modes();
  let found = list.find((c) => c.channel === channel);
  if (!found) {
    return `CasparCG Server at ${client.endpoint} has no channel ${channel} (it has ${list.map((c) => c.channel).join(', ') || 'none'}): set CASPARCG_CHANNEL`;
  }
  if (found.mode.toLowerCase() === mode.toLowerCase()) return null;
  if (setMode) {
    await client.send(amcp.setMode(channel, mode));
    list = await modes();
    found = list.find((c) => c.channel === channel);
    if (found && found.mode.toLowerCase() === mode.toLowerCase()) {
      logger?.info({ channel, videoFormat: mode }, 'CasparCG channel switched to the channel video mode');
      return null;
    }
  }
  return (
    `CasparCG channel ${channel} runs ${found?.mode ?? 'an unknown mode'} but this onair channel is ${mode}: ` +
    `set <video-mode>${mode}</video-mode> for channel ${channel} in casparcg.config` +
    (setMode ? ' (SET MODE did not take)' : ', or CASPARCG_SET_MODE=true to let onair switch it')
  );
}

export interface OutputsOptions {
  client: AmcpClient;
  channel: number;
  mode: VideoMode;
  program: ConsumerSpec;
  /** Add the HLS preview too. */
  preview: boolean;
  hls: HlsSettings;
  /** The media volume as the sidecar sees it. */
  mediaDir: string;
  /** The media volume as the server sees it; null: asked with INFO PATHS. */
  serverMediaDir: string | null;
  redact: (text: string) => string;
  report: (message: string) => void;
  now: () => number;
}

/** @defaultValue first wait after the server refused to add a lost consumer again; doubled at each refusal */
export const RESTORE_FIRST_MS = 1000;
/** @defaultValue longest wait between tries to add a lost consumer again */
export const RESTORE_MAX_MS = 30_000;

/** The channel's consumers: added at start, added again when the server lost them, removed at the end. */
export class Outputs {
  private added: ConsumerSpec[] = [];
  /** Consumers the server refused to add again, by index: when to try next. */
  private readonly backoff = new Map<number, { delayMs: number; nextAtMs: number }>();

  constructor(private readonly o: OutputsOptions) {}

  get labels(): string[] {
    return this.added.map((c) => this.o.redact(c.label));
  }

  /** The program output must go on (else the start fails); a preview that cannot is reported. */
  async addAll(): Promise<void> {
    const { client, channel, program } = this.o;
    const preview = this.o.preview ? await this.previewSpec() : null;
    await client.send(amcp.add(channel, program.index, program.params)).catch((err: Error) => {
      throw new EngineError(
        `CasparCG could not add the channel's output (${this.o.redact(program.label)}): ${err.message}`,
      );
    });
    this.added = [program];
    if (!preview) return;
    try {
      await client.send(amcp.add(channel, preview.index, preview.params));
      this.added.push(preview);
    } catch (err) {
      this.o.report(`CasparCG could not add the HLS preview: ${(err as Error).message}`);
    }
  }

  /**
   * ADDs again each of ours missing from the channel, at most once per
   * back-off: one that the server refuses waits twice as long (from
   * RESTORE_FIRST_MS, up to RESTORE_MAX_MS) before the next try, so that a
   * consumer failing at once (its receiver gone) is not added in a tight loop.
   * Returns the labels of those added again, and of those missing still.
   */
  async restore(s: ChannelSnapshot, nowMs: number): Promise<{ restored: string[]; missing: string[] }> {
    const restored: string[] = [];
    const missing: string[] = [];
    this.added = await Promise.all(
      this.added.map(async (spec) => {
        if (s.ports.includes(spec.index)) {
          this.backoff.delete(spec.index);
          return spec;
        }
        const waiting = this.backoff.get(spec.index);
        if (waiting && nowMs < waiting.nextAtMs) {
          missing.push(this.o.redact(spec.label));
          return spec;
        }
        // The preview's segment names must not come back: a fresh run for each ADD.
        const fresh = spec === this.o.program ? spec : await this.previewSpec();
        try {
          await this.o.client.send(amcp.add(this.o.channel, fresh.index, fresh.params));
          this.backoff.delete(spec.index);
          restored.push(this.o.redact(fresh.label));
        } catch (err) {
          if (!(err instanceof AmcpError)) throw err;
          const delayMs = Math.min(RESTORE_MAX_MS, waiting ? waiting.delayMs * 2 : RESTORE_FIRST_MS);
          this.backoff.set(spec.index, { delayMs, nextAtMs: nowMs + delayMs });
          missing.push(this.o.redact(fresh.label));
          this.o.report(
            `CasparCG could not add the ${this.o.redact(fresh.label)} output again (next try in ${delayMs / 1000} s): ${err.message}`,
          );
        }
        return fresh;
      }),
    );
    return { restored, missing };
  }

  async removeAll(): Promise<void> {
    this.backoff.clear();
    for (const spec of this.added) {
      await this.o.client
        .send(amcp.remove(this.o.channel, spec.index))
        .catch((err: Error) => this.o.report(`CasparCG: ${err.message}`));
    }
    this.added = [];
  }

  /** The HLS preview consumer, writing into live/<channel> of the media volume as the server sees it. */
  private async previewSpec(): Promise<ConsumerSpec> {
    let serverMedia = this.o.serverMediaDir;
    if (!serverMedia) {
      const paths = await this.o.client.send(amcp.paths()).catch(() => null);
      serverMedia = (paths && mediaFolder(paths.data[0] ?? '')) || this.o.mediaDir;
    }
    await preparePreviewDir(this.o.hls.dir);
    const serverDir = join(serverMedia, relative(this.o.mediaDir, this.o.hls.dir));
    return previewConsumer(this.o.mode, this.o.hls, serverDir, this.o.now().toString(36));
  }
}
