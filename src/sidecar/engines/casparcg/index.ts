import type { Logger } from 'pino';
import type { SidecarOutput } from '../../../protocol/sidecar-env.ts';
import type { HlsSettings } from '../../hls.ts';
import type { VideoMode } from '../../video-modes.ts';
import {
  EngineError,
  type ClipHandle,
  type ClipListener,
  type Engine,
  type EngineClip,
  type EngineReporter,
} from '../engine.ts';
import { Outputs, checkMode } from './channel.ts';
import { amcp, redact, tickRate, type LayerAddress } from './commands.ts';
import { AmcpClient } from './connection.ts';
import { PROGRAM_INDEX, programConsumer } from './consumers.ts';
import { channelSnapshot, type ChannelSnapshot } from './info.ts';
import { LayerPlayer } from './layer.ts';

/** Where the engine finds its CasparCG Server (sidecar env CASPARCG_*). */
export interface CasparcgSettings {
  host: string;
  port: number;
  channel: number;
  layer: number;
  /** Switch the server channel's video mode when it differs, rather than refuse to start. */
  setMode: boolean;
  /** The media volume as the server sees it; null: asked with INFO PATHS. */
  mediaDir: string | null;
  /** Add the HLS preview consumer. */
  preview: boolean;
}

export interface CasparcgEngineOptions {
  settings: CasparcgSettings;
  mode: VideoMode;
  output: SidecarOutput;
  /** The media volume as this sidecar sees it: clip names are paths relative to it. */
  mediaDir: string;
  hls: HlsSettings;
  report?: EngineReporter;
  logger?: Logger;
  /** @defaultValue 100 — INFO polling period */
  pollMs?: number;
  /** @defaultValue 10000 — longest wait for the server at start */
  connectTimeoutMs?: number;
  /** @defaultValue 5000 — longest wait for one reply */
  replyTimeoutMs?: number;
  /** @defaultValue 250 — first reconnection delay, doubled up to retryMaxMs */
  retryFirstMs?: number;
  /** @defaultValue 5000 */
  retryMaxMs?: number;
  /** @defaultValue 10000 — a clip played but not seen on air by then has failed */
  onAirTimeoutMs?: number;
  /** @defaultValue 2000 — how often the channel's consumers are checked (the server drops failing ones silently) */
  consumerCheckMs?: number;
  now?: () => number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * Plays the sequencer's clips on one layer of a CasparCG Server channel over
 * AMCP. The first clip goes on with PLAY; as soon as it is on air the next is
 * armed behind it with LOADBG … AUTO, so CasparCG itself swaps them at the out
 * point (less the transition), frame-accurately; the engine watches the layer
 * (INFO polling, timing.ts) to report when each clip really reached and left
 * air, and arms the next one (layer.ts).
 *
 * The queue of clips is the model of what should play; commands are derived
 * from it while connected. When the connection drops the model goes on by the
 * wall clock; on reconnection, if the server still plays the layer the engine
 * reads where it is, and if the server lost it (a restart) the item that
 * should be on air now is put back at its wall-clock position, the next armed
 * behind it and the outputs added again. Each interruption goes to the event
 * log through the reporter.
 */
export class CasparcgEngine implements Engine {
  readonly name = 'casparcg';
  /** The server swaps to an armed clip on its own (LOADBG AUTO); the engine learns of it at the next INFO poll. */
  readonly cueLockMs: number;
  private readonly client: AmcpClient;
  private readonly at: LayerAddress;
  private readonly now: () => number;
  private readonly secrets: string[];
  private readonly layer: LayerPlayer;
  private readonly outputs: Outputs;
  private started = false;
  private closing = false;
  private catchingUp = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private polling = false;
  private lastConsumerCheck = 0;
  /** Whether OUTPUT_LOST is up: the server dropped the program consumer and has not taken it back yet. */
  private outputLost = false;
  private readonly programLabel: string;
  private lastPollError: string | null = null;
  private downSinceMs: number | null = null;

  constructor(private readonly o: CasparcgEngineOptions) {
    this.now = o.now ?? Date.now;
    this.cueLockMs = 3 * (o.pollMs ?? 100) + 200;
    this.at = { channel: o.settings.channel, layer: o.settings.layer };
    // Built first: an output it cannot express fails here, before any connection.
    const program = programConsumer(o.output, o.mode);
    this.secrets = [...program.secrets];
    this.programLabel = program.label;
    const redactText = (text: string) => redact(text, this.secrets);
    this.client = new AmcpClient({
      host: o.settings.host,
      port: o.settings.port,
      timeoutMs: o.replyTimeoutMs,
      retryFirstMs: o.retryFirstMs,
      retryMaxMs: o.retryMaxMs,
      redact: redactText,
      logger: o.logger,
    });
    this.layer = new LayerPlayer({
      at: this.at,
      rate: tickRate(o.mode),
      mediaDir: o.mediaDir,
      now: this.now,
      send: (command) => this.client.send(command),
      canSend: () => this.started && !this.closing && !this.catchingUp && this.client.connected,
      connected: () => this.client.connected,
      report: (message) => this.report(message),
      onAirTimeoutMs: o.onAirTimeoutMs ?? 10_000,
    });
    this.outputs = new Outputs({
      client: this.client,
      channel: this.at.channel,
      mode: o.mode,
      program,
      preview: o.settings.preview,
      hls: o.hls,
      mediaDir: o.mediaDir,
      serverMediaDir: o.settings.mediaDir,
      redact: redactText,
      report: (message) => this.report(message),
      now: this.now,
    });
  }

  /** The channel's tick at or after `ms`, as its frame clock knows the phase (null before any clip of ours played). */
  frameAtOrAfter(ms: number): number | null {
    return this.layer.clock.bounds ? this.layer.clock.tickFrom(ms) : null;
  }

  async start(): Promise<void> {
    this.client.open();
    try {
      await this.client.waitConnected(this.o.connectTimeoutMs ?? 10_000);
      const version = (await this.client.send(amcp.version())).data[0] ?? 'unknown';
      const problem = await checkMode(
        this.client,
        this.at.channel,
        this.o.mode.name,
        this.o.settings.setMode,
        this.o.logger,
      );
      if (problem) throw new EngineError(problem);
      await this.client.send(amcp.clear(this.at));
      await this.outputs.addAll();
      this.o.logger?.info(
        {
          server: this.client.endpoint,
          version,
          channel: this.at.channel,
          layer: this.at.layer,
          videoFormat: this.o.mode.name,
          outputs: this.outputs.labels,
        },
        'CasparCG engine ready',
      );
    } catch (err) {
      await this.client.close();
      if (err instanceof EngineError) throw err;
      throw new EngineError(`CasparCG: ${(err as Error).message}`);
    }
    this.client.on('disconnect', () => this.onDisconnect());
    this.client.on('connect', () => void this.catchUp());
    this.started = true;
    this.schedulePoll(0);
  }

  play(clip: EngineClip, listener: ClipListener): ClipHandle {
    if (!this.started || this.closing) throw new EngineError('engine not started');
    return this.layer.add(clip, listener);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    const showsOurs = this.layer.clear();
    if (this.started && this.client.connected) {
      if (showsOurs)
        await this.client.send(amcp.clear(this.at)).catch((err: Error) => this.report(`CasparCG: ${err.message}`));
      await this.outputs.removeAll();
    }
    await this.client.close();
  }

  // --- watching the layer ------------------------------------------------

  private schedulePoll(delayMs: number): void {
    if (this.closing || !this.started) return;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => void this.poll(), delayMs);
  }

  private async poll(): Promise<void> {
    this.pollTimer = null;
    if (this.closing || this.catchingUp || this.polling || !this.client.connected) return;
    this.polling = true;
    try {
      const { snapshot, atMs, trip } = await this.sample();
      if (this.catchingUp || this.closing) return;
      this.layer.apply(snapshot, atMs, trip);
      if (this.now() - this.lastConsumerCheck >= (this.o.consumerCheckMs ?? 2000)) {
        this.lastConsumerCheck = this.now();
        await this.followOutputs(snapshot);
      }
      this.lastPollError = null;
    } catch (err) {
      const message = (err as Error).message;
      // A dropped connection is reported by the disconnect handler; anything else once, until it clears.
      if (this.client.connected && message !== this.lastPollError)
        this.report(`CasparCG: watching layer ${this.at.channel}-${this.at.layer} failed: ${message}`);
      this.lastPollError = message;
    } finally {
      this.polling = false;
      if (this.client.connected && !this.catchingUp) this.schedulePoll(this.o.pollMs ?? 100);
    }
  }

  /**
   * The server drops a consumer that fails (its receiver gone, its device
   * lost) without a word: the channel's consumers are compared with ours, a
   * lost program output raises OUTPUT_LOST while it is added again (with
   * back-off), and clears once the server has it again. Frames are made on
   * time meanwhile: the layer plays on, only its output is gone.
   */
  private async followOutputs(snapshot: ChannelSnapshot): Promise<void> {
    const programLabel = redact(this.programLabel, this.secrets);
    const programGone = !snapshot.ports.includes(PROGRAM_INDEX);
    if (programGone && !this.outputLost) {
      this.outputLost = true;
      this.o.report?.count?.('outputReconnects');
      this.o.report?.raise?.(
        'OUTPUT_LOST',
        `CasparCG channel ${this.at.channel} dropped the ${programLabel} output (the server drops a failing consumer): adding it again`,
      );
    }
    const { restored } = await this.outputs.restore(snapshot, this.now());
    for (const label of restored) {
      this.report(
        `CasparCG channel ${this.at.channel} had lost its ${label} output (the server drops a failing consumer): added it again`,
      );
    }
    if (this.outputLost && (!programGone || restored.includes(programLabel))) {
      this.outputLost = false;
      this.o.report?.clear?.('OUTPUT_LOST');
    }
  }

  /**
   * One INFO sample, timed when the server read it: the usual one-way latency
   * after it was sent (the middle of its round trip before any is known). An
   * answer read late (this process busy) says nothing about when the server
   * read its state; the middle of that trip would date every start as late.
   * The round trip itself times timed starts.
   */
  private async sample(): Promise<{
    snapshot: ChannelSnapshot;
    atMs: number;
    trip: { sentMs: number; receivedMs: number };
  }> {
    const sentMs = this.now();
    const reply = await this.client.send(amcp.info(this.at.channel));
    const receivedMs = this.now();
    const latencyMs = this.layer.clock.latencyMs;
    const half = (receivedMs - sentMs) / 2;
    const atMs = Math.round(sentMs + (latencyMs > 0 ? Math.min(latencyMs, half) : half));
    return { snapshot: channelSnapshot(reply.data[0] ?? '', this.at.layer), atMs, trip: { sentMs, receivedMs } };
  }

  // --- connection loss and recovery ---------------------------------------

  private onDisconnect(): void {
    if (this.closing) return;
    this.downSinceMs = this.now();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    const cur = this.layer.current;
    this.report(
      `lost the connection to CasparCG Server at ${this.client.endpoint}` +
        (cur ? ` while ${cur.itemId} (${cur.name}) was on air` : '') +
        '; reconnecting (what the channel shows meanwhile is up to the server)',
    );
  }

  /** On reconnection: the channel's mode and outputs first, then the layer (layer.ts catchUp). */
  private async catchUp(): Promise<void> {
    if (!this.started || this.closing || this.catchingUp) return;
    this.catchingUp = true;
    const downFor = this.downSinceMs === null ? 0 : this.now() - this.downSinceMs;
    try {
      const notes: string[] = [];
      const problem = await checkMode(
        this.client,
        this.at.channel,
        this.o.mode.name,
        this.o.settings.setMode,
        this.o.logger,
      );
      if (problem) notes.push(problem);
      const { snapshot, atMs } = await this.sample();
      const { restored } = await this.outputs.restore(snapshot, this.now());
      if (restored.length) notes.push(`outputs added again: ${restored.join(', ')}`);
      notes.push(...(await this.layer.catchUp(snapshot, atMs, () => void (this.catchingUp = false))));
      this.report(
        `reconnected to CasparCG Server at ${this.client.endpoint} after ${seconds(downFor)}; ${notes.join('; ')}`,
      );
      this.downSinceMs = null;
    } catch (err) {
      // Dropped again: the next connection starts over.
      if (this.client.connected)
        this.report(`CasparCG: resuming after the reconnection failed: ${(err as Error).message}`);
    } finally {
      this.catchingUp = false;
      if (this.client.connected && !this.closing) {
        this.layer.afterChange();
        this.schedulePoll(this.o.pollMs ?? 100);
      }
    }
  }

  private report(message: string): void {
    const safe = redact(message, this.secrets);
    this.o.logger?.warn({ engine: this.name }, safe);
    this.o.report?.error(safe);
  }
}
