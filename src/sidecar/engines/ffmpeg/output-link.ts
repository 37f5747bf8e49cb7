import { spawn, type ChildProcess } from 'node:child_process';
import type { EngineReporter } from '../engine.ts';
import { PMT_PID, redact, senderArgs, senderPreset, SENDER_OPTIONS_FD, VIDEO_PID, type ProgramTarget } from './args.ts';
import { withUnlinked } from './unlinked-file.ts';

export interface OutputLinkOptions {
  target: ProgramTarget;
  /** How the output is named in alarms and errors: no secret in it. */
  label: string;
  ffmpegPath: string;
  env: NodeJS.ProcessEnv;
  report?: EngineReporter;
  /** @defaultValue 250 — first wait before restarting a sender that exited */
  retryFirstMs?: number;
  /**
   * @defaultValue 1000 — longest wait between restarts: with an SRT caller
   * retrying its handshake during a connect attempt, the output is back within
   * about this long of the receiver returning.
   */
  retryMaxMs?: number;
  /** The output cannot be restarted at all (a configuration the sender refuses): playout must stop. */
  onFatal(message: string): void;
}

/** MPEG-TS packets are 188 bytes: a new sender must start on a packet boundary. */
const TS_PACKET = 188;
/** @defaultValue how much program a stalled sender may leave unread before it counts as lost (bytes, ~2 s at 8 Mbit/s) */
const MAX_BACKLOG = 2 * 1024 * 1024;

/**
 * Errors that no retry can fix: the sender refuses the output's configuration
 * itself. A refused or timed-out connection, an unknown host, a reset are
 * faults that can pass and are retried for ever.
 */
const PERMANENT = [
  /Protocol not found/i,
  /Unable to find a suitable output format/i,
  /Option .* not found/i,
  /Unrecognized option/i,
  /Invalid URL/i,
];

export function isPermanentSenderError(stderr: string): boolean {
  return PERMANENT.some((re) => re.test(stderr));
}

/** Waits between restarts: retryFirstMs doubling up to retryMaxMs. */
export function retryDelay(attempt: number, firstMs = 250, maxMs = 1000): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, attempt));
}

/**
 * The connection to the channel's output, held by a sender ffmpeg that copies
 * the encoder's MPEG-TS to it. The encoder never waits for it: while no sender
 * is connected the program is dropped, frames keep being made on time, and the
 * sender is restarted with back-off. OUTPUT_LOST is raised as soon as a sender
 * exits (or stalls) and cleared when a new one has its output open and packets
 * flowing.
 */
export class OutputLink {
  private proc: ChildProcess | null = null;
  private connected = false;
  private everConnected = false;
  private lost = false;
  private attempts = 0;
  private closed = false;
  /** A partial TS packet left over from the last chunk. */
  private rest: Buffer = Buffer.alloc(0);
  /** Latest PAT and PMT, and the packets since the latest video keyframe: what a new sender starts on. */
  private pat: Buffer | null = null;
  private pmt: Buffer | null = null;
  private gop: Buffer[] = [];
  private gopBytes = 0;
  /** The current sender has had its start (PAT, PMT, keyframe onwards). */
  private primed = false;
  /** Until then the current sender is not fed (it waits before it connects: the back-off). */
  private holdUntil = 0;
  private synced = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly o: OutputLinkOptions) {}

  start(): void {
    if (this.closed || this.proc) return;
    let proc: ChildProcess;
    try {
      // Secrets (passphrase, stream key) reach it by descriptor, not its command line.
      proc = withUnlinked(senderPreset(this.o.target), (fd) => {
        const stdio: ('pipe' | 'ignore' | number)[] = ['pipe', 'pipe', 'pipe'];
        if (fd !== null) stdio[SENDER_OPTIONS_FD] = fd;
        return spawn(this.o.ffmpegPath, senderArgs(this.o.target), { stdio, env: this.o.env });
      });
    } catch (err) {
      // Its options file could not be written (a full or read-only temporary folder): a fault that can
      // pass, so the output is lost, said so, and tried again, not a crash of the sidecar.
      this.connected = false;
      this.lost = true;
      const why = err instanceof Error ? err.message : String(err);
      this.o.report?.raise?.('OUTPUT_LOST', `output not started: ${this.o.label}: ${why}; retrying`);
      const delay = retryDelay(this.attempts++, this.o.retryFirstMs, this.o.retryMaxMs);
      setTimeout(() => this.start(), delay).unref();
      return;
    }
    this.proc = proc;
    this.connected = false;
    this.primed = false;
    let stderr = '';
    proc.stdin!.on('error', () => undefined);
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => void (stderr = (stderr + c).slice(-4000)));
    let progress = '';
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
      progress = (progress + c).slice(-2000);
      // One block per stats period; the first with bytes out means the output is open and taking packets.
      if (!this.connected && /total_size=[1-9]/.test(progress)) this.onConnected();
    });
    proc.on('error', (err) => void (stderr += `${err.message}\n`));
    this.exited = new Promise<void>((resolve) =>
      proc.on('close', (code, signal) => {
        resolve();
        if (this.proc === proc) this.proc = null;
        if (this.closed) return;
        const why =
          redact(stderr.trim().split('\n').slice(-2).join(' | '), this.o.target.secrets) ||
          `sender exited ${code ?? signal}`;
        this.onLost(why, isPermanentSenderError(stderr) && !this.connected);
      }),
    );
  }

  /**
   * Hands the sender the next piece of program, or drops it while there is
   * none. A new sender starts on the PAT, the PMT and the packets since the
   * latest keyframe: it finds every stream at once, and the receiver can
   * decode from its first packet.
   */
  send(chunk: Buffer): void {
    const data = this.packets(chunk);
    const proc = this.proc;
    if (!proc || this.closed || data.length === 0) return;
    const stdin = proc.stdin!;
    if (stdin.destroyed) return;
    if (!this.primed) {
      if (Date.now() < this.holdUntil) return;
      if (!this.pat || !this.pmt || this.gop.length === 0) return;
      this.primed = true;
      stdin.write(Buffer.concat([this.pat, this.pmt, ...this.gop]));
      return;
    }
    if (stdin.writableLength > MAX_BACKLOG) {
      // The receiver takes nothing and the connection has not broken yet: give it up and start again.
      proc.kill('SIGKILL');
      return;
    }
    stdin.write(data);
  }

  /** Whole TS packets of the chunk (a partial one waits for the next), noting PAT, PMT and keyframes. */
  private packets(chunk: Buffer): Buffer {
    let buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    if (!this.synced) {
      // The first chunk starts on a packet; should it ever not, find the sync byte again.
      const at = buf.indexOf(0x47);
      if (at < 0) return Buffer.alloc(0);
      buf = buf.subarray(at);
      this.synced = true;
    }
    const whole = buf.length - (buf.length % TS_PACKET);
    this.rest = Buffer.from(buf.subarray(whole));
    const data = buf.subarray(0, whole);
    for (let i = 0; i < whole; i += TS_PACKET) {
      const p = data.subarray(i, i + TS_PACKET);
      const pid = ((p[1] & 0x1f) << 8) | p[2];
      if (pid === 0) this.pat = Buffer.from(p);
      else if (pid === PMT_PID) this.pmt = Buffer.from(p);
      else {
        // A video packet with an adaptation field whose random_access_indicator is set starts a keyframe.
        const keyframe = pid === VIDEO_PID && (p[3] & 0x20) !== 0 && p[4] > 0 && (p[5] & 0x40) !== 0;
        if (keyframe) {
          this.gop = [];
          this.gopBytes = 0;
        }
        if ((keyframe || this.gop.length > 0) && this.gopBytes < MAX_BACKLOG) {
          this.gop.push(Buffer.from(p));
          this.gopBytes += TS_PACKET;
        }
      }
    }
    return data;
  }

  /**
   * A new encoder's stream begins: what was kept of the last one (a partial
   * packet, its keyframe) must not be mixed into it.
   */
  resetStream(): void {
    // A sender fed the old stream would see its timestamps start over: a new one starts on the new
    // stream's first keyframe instead (OUTPUT_LOST meanwhile, as for any interruption).
    if (this.pat && this.proc && !this.closed) this.proc.kill('SIGKILL');
    this.rest = Buffer.alloc(0);
    this.synced = false;
    this.pat = null;
    this.pmt = null;
    this.gop = [];
    this.gopBytes = 0;
  }

  /** Whether a sender has its output open and is taking packets now. */
  get isConnected(): boolean {
    return this.connected;
  }

  async close(): Promise<void> {
    this.closed = true;
    const proc = this.proc;
    if (proc) {
      // Ending its input lets it flush and close the connection cleanly.
      proc.stdin!.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 1000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  private onConnected(): void {
    this.connected = true;
    this.attempts = 0;
    if (this.lost) {
      this.lost = false;
      this.o.report?.count?.('outputReconnects');
      this.o.report?.clear?.('OUTPUT_LOST');
    }
    this.everConnected = true;
  }

  private onLost(why: string, permanent: boolean): void {
    const wasConnected = this.connected;
    this.connected = false;
    if (permanent) {
      this.closed = true;
      this.o.onFatal(`the output ${this.o.label} cannot be opened: ${why}`);
      return;
    }
    const message = `${wasConnected || this.everConnected ? 'output lost' : 'output not reachable'}: ${this.o.label}: ${why}; reconnecting`;
    this.lost = true;
    // Raised at once; while it stays up, later attempts only update its message.
    this.o.report?.raise?.('OUTPUT_LOST', message);
    // The next sender starts now (loading ffmpeg takes a while on a busy machine) but gets no
    // program, so it does not connect, until the back-off is over.
    this.holdUntil = Date.now() + retryDelay(this.attempts++, this.o.retryFirstMs, this.o.retryMaxMs);
    this.start();
  }
}
