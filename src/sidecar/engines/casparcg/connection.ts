import { EventEmitter } from 'node:events';
import { BasicCasparCGAPI, Commands } from 'casparcg-connection';
import type { Logger } from 'pino';
import { EngineError } from '../engine.ts';

/**
 * The AMCP connection: casparcg-connection v6 does the TCP session, the
 * `REQ <id>`/`RES <id>` pairing and the reply framing (202; 201 + one line;
 * 200 + lines up to an empty one; 400 + the echoed line). Commands go as
 * strings built by commands.ts (its CUSTOM command), so what is sent is
 * exactly what is tested. This wrapper fills the library's gaps:
 *
 * - it resolves every reply, 4xx/5xx included: here a code >= 400 is an
 *   AmcpError naming the command (secrets redacted);
 * - it reconnects on a fixed 5 s timer, and that timer also fires after
 *   disconnect()/discard(), so a closed client would come back as a zombie
 *   AMCP session: the timer is switched off and this class reconnects itself,
 *   with back-off, and stays closed once closed;
 * - requests in flight when the socket drops only time out (5–10 s): here
 *   they fail at once; and nothing is written while disconnected (the library
 *   would buffer it into the next connection, stale);
 * - replies without OK/ERROR/FAILED (`504 QUEUE OVERFLOW`) never match its
 *   parser: they end as a timeout here.
 */

export interface AmcpReply {
  code: number;
  /** Data lines: one for 201, several for 200. */
  data: string[];
}

/** The server answered 4xx/5xx. */
export class AmcpError extends EngineError {
  override name = 'AmcpError';
  constructor(
    readonly code: number,
    /** The command as it may be shown: secrets redacted. */
    readonly command: string,
    reply: string,
  ) {
    super(`${command}: ${reply}`);
  }
}

/** No answer: not connected, the connection dropped, or no reply in time. */
export class AmcpUnavailable extends EngineError {
  override name = 'AmcpUnavailable';
}

export interface AmcpClientOptions {
  host: string;
  port: number;
  /** @defaultValue 5000 — longest wait for a reply */
  timeoutMs?: number;
  /** @defaultValue 250 — first reconnection delay, doubled at each failed attempt */
  retryFirstMs?: number;
  /** @defaultValue 5000 — longest reconnection delay */
  retryMaxMs?: number;
  /** Hides secrets in anything this client logs or throws. */
  redact: (text: string) => string;
  logger?: Logger;
}

interface Pending {
  fail: (err: Error) => void;
}

type Events = { connect: []; disconnect: [] };

interface LibraryInternals {
  _connection?: { _triggerReconnect?: () => void };
}

export class AmcpClient extends EventEmitter<Events> {
  private readonly api: BasicCasparCGAPI;
  private ready = false;
  private closed = false;
  private attempt = 0;
  private retry: NodeJS.Timeout | null = null;
  private readonly pending = new Set<Pending>();
  private readonly timeoutMs: number;

  constructor(private readonly o: AmcpClientOptions) {
    super();
    this.timeoutMs = o.timeoutMs ?? 5000;
    this.api = new BasicCasparCGAPI({ host: o.host, port: o.port, autoConnect: false, timeoutTime: this.timeoutMs });
    // casparcg-connection 6.x has no public switch for its fixed 5 s reconnect timer, which also fires after
    // disconnect() (see above): its private trigger is replaced, after checking it is where 6.x keeps it.
    const internals = (this.api as unknown as LibraryInternals)._connection;
    if (!internals || typeof internals._triggerReconnect !== 'function') {
      throw new EngineError(
        'casparcg-connection is not the 6.x this engine was written for (its reconnection timer is not where expected)',
      );
    }
    internals._triggerReconnect = () => undefined;
    // 'connect' comes once the library's own VERSION request is answered.
    this.api.on('connect', () => {
      if (this.closed) return;
      this.ready = true;
      this.attempt = 0;
      if (this.retry) clearTimeout(this.retry);
      this.retry = null;
      this.o.logger?.info({ host: o.host, port: o.port }, 'CasparCG connected');
      this.emit('connect');
    });
    this.api.on('disconnect', () => {
      const was = this.ready;
      this.ready = false;
      this.failPending(new AmcpUnavailable('the connection to CasparCG dropped before the reply'));
      if (this.closed) return;
      if (was) {
        this.o.logger?.warn({ host: o.host, port: o.port }, 'CasparCG connection lost');
        this.emit('disconnect');
      }
      this.scheduleAttempt(0);
    });
    this.api.on('error', (err) => this.o.logger?.debug({ err: this.o.redact(err.message) }, 'CasparCG socket error'));
  }

  get connected(): boolean {
    return this.ready && !this.closed;
  }

  get endpoint(): string {
    return `${this.o.host}:${this.o.port}`;
  }

  /** Starts connecting, and keeps reconnecting after every loss until close(). */
  open(): void {
    if (!this.closed && !this.retry && !this.ready) this.tryConnect();
  }

  /** Resolves at the next connection (at once when connected); rejects after ms. */
  waitConnected(ms: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('connect', done);
        reject(
          new AmcpUnavailable(`CasparCG Server at ${this.endpoint} did not answer within ${Math.round(ms / 1000)} s`),
        );
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('connect', done);
    });
  }

  private scheduleAttempt(delayMs: number): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.tryConnect();
    }, delayMs);
  }

  private tryConnect(): void {
    if (this.closed || this.ready) return;
    // A socket that is up is waiting for the library's VERSION answer: leave it be.
    if (!this.api.connected) this.api.connect();
    const first = this.o.retryFirstMs ?? 250;
    const delay = Math.min(first * 2 ** this.attempt, this.o.retryMaxMs ?? 5000);
    this.attempt++;
    this.scheduleAttempt(delay);
  }

  /** Sends one command; resolves with a 1xx/2xx reply, rejects with AmcpError or AmcpUnavailable. */
  async send(command: string): Promise<AmcpReply> {
    const shown = this.o.redact(command);
    if (!this.connected) throw new AmcpUnavailable(`${shown}: not connected to CasparCG Server at ${this.endpoint}`);
    this.o.logger?.[command.startsWith('INFO ') ? 'trace' : 'debug']({ command: shown }, 'AMCP send');
    const sent = await this.api.executeCommand({ command: Commands.Custom, params: { command } });
    if (sent.error || !sent.request)
      throw new AmcpUnavailable(`${shown}: ${this.o.redact(sent.error?.message ?? 'not sent')}`);
    const request = sent.request;
    const response = await new Promise<Awaited<typeof request>>((resolve, reject) => {
      const entry: Pending = { fail: (err) => finish(() => reject(new AmcpUnavailable(`${shown}: ${err.message}`))) };
      const timer = setTimeout(() => entry.fail(new Error(`no reply within ${this.timeoutMs} ms`)), this.timeoutMs);
      const finish = (then: () => void) => {
        if (!this.pending.delete(entry)) return;
        clearTimeout(timer);
        then();
      };
      this.pending.add(entry);
      request.then(
        (res) => finish(() => resolve(res)),
        (err: Error) => finish(() => reject(new AmcpUnavailable(`${shown}: ${this.o.redact(err.message)}`))),
      );
    });
    if (response.responseCode >= 400) {
      // The library keeps the code and the command word of the reply, not its ERROR/FAILED word: its description stands in.
      const {
        responseCode,
        command: word,
        message,
      } = response as { responseCode: number; command?: string; message?: string };
      const reply = `${responseCode}${word ? ` ${word}` : ''}${message ? ` (${message.toLowerCase()})` : ''}`;
      throw new AmcpError(responseCode, shown, this.o.redact(reply));
    }
    return { code: response.responseCode, data: Array.isArray(response.data) ? (response.data as string[]) : [] };
  }

  private failPending(err: Error): void {
    for (const p of [...this.pending]) p.fail(err);
  }

  /** Closes the session for good: nothing reconnects afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    this.ready = false;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.failPending(new AmcpUnavailable('the CasparCG client was closed'));
    this.api.discard();
    this.removeAllListeners();
  }
}
