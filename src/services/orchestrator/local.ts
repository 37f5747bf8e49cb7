import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../logger.ts';
import {
  checkSpec,
  OrchestratorError,
  redact,
  sidecarEnv,
  type Orchestrator,
  type RunningSidecar,
  type SidecarHandle,
  type SidecarNode,
  type SidecarSpec,
} from './orchestrator.ts';

export interface LocalOrchestratorConfig {
  /**
   * The sidecar program and its arguments.
   * @defaultValue [process.execPath, '--import', 'tsx', 'src/sidecar/main.ts']
   */
  command?: string[];
  /** @defaultValue process.cwd() */
  cwd?: string;
  /**
   * When set, start waits until GET <url><healthPath> answers 2xx (up to
   * startupTimeoutMs); otherwise it waits startupGraceMs and checks the
   * process has not exited.
   * @defaultValue null
   */
  healthPath?: string | null;
  /** @defaultValue 500 */
  startupGraceMs?: number;
  /** @defaultValue 15000 */
  startupTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL on stop. @defaultValue 5000 */
  stopTimeoutMs?: number;
  /**
   * Variables of this process's environment the sidecar also gets. Not all of
   * it: the control plane's own secrets (database, tokens, keys) stay here.
   * @defaultValue PATH HOME LANG LC_ALL TZ TMPDIR NODE_ENV
   */
  inheritEnv?: string[];
  /** Where the sidecar's stdout/stderr go besides the start-failure message. @defaultValue inherit */
  output?: 'inherit' | 'ignore';
  logger?: Logger;
}

interface Child {
  channelId: string;
  process: ChildProcess;
  ref: string;
  exited: Promise<void>;
  running: boolean;
  /** Last lines of stderr, for a start-failure message. */
  stderrTail: string;
  stopping?: Promise<void>;
}

const TAIL_CHARS = 2000;

const DEFAULT_INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_ENV'];

function inherited(names: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Orchestrators not yet closed; one 'exit' handler serves them all. */
const live = new Set<LocalOrchestrator>();
function killAllOnExit(): void {
  for (const o of live) o.killAll();
}

/**
 * Sidecars as child processes of this process, for one machine without Docker.
 *
 * They die with the process that started them: close() (called on SIGTERM/
 * SIGINT by main) stops them, an exit kills what is left, and Ctrl-C reaches
 * them through the terminal's process group. Their stdin is a pipe that closes
 * when this process dies, however it dies, for a sidecar that wants to notice.
 * After a restart, list() therefore finds none, and the control loop marks
 * those channels from their missing heartbeats.
 */
export class LocalOrchestrator implements Orchestrator {
  private readonly children = new Map<string, Child>();
  private readonly config: LocalOrchestratorConfig;

  constructor(config: LocalOrchestratorConfig = {}) {
    this.config = config;
    live.add(this);
    if (live.size === 1) process.once('exit', killAllOnExit);
  }

  /** Synchronous: the only kind of work an 'exit' handler can do. */
  killAll(): void {
    for (const child of this.children.values()) if (child.running) child.process.kill('SIGKILL');
  }

  async start(spec: SidecarSpec): Promise<SidecarHandle> {
    checkSpec(spec);
    const previous = this.children.get(spec.channelId);
    if (previous) await this.stop(spec.channelId, previous.ref, spec.node);

    const [cmd, ...args] = this.config.command ?? [process.execPath, '--import', 'tsx', 'src/sidecar/main.ts'];
    const env = sidecarEnv(spec);
    const output = this.config.output ?? 'inherit';
    const proc = spawn(cmd, args, {
      cwd: this.config.cwd ?? process.cwd(),
      env: { ...inherited(this.config.inheritEnv ?? DEFAULT_INHERITED_ENV), ...env },
      stdio: ['pipe', output, 'pipe'],
    });
    const child: Child = { channelId: spec.channelId, process: proc, ref: '', exited: Promise.resolve(), running: true, stderrTail: '' };
    let spawnError: Error | null = null;
    child.exited = new Promise((resolve) => {
      proc.once('error', (err) => {
        spawnError = err;
        child.running = false;
        resolve();
      });
      proc.once('exit', () => {
        child.running = false;
        resolve();
      });
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      if (output === 'inherit') process.stderr.write(chunk);
      child.stderrTail = (child.stderrTail + chunk.toString('utf8')).slice(-TAIL_CHARS);
    });
    proc.stdin?.on('error', () => {}); // the sidecar may close its stdin; nothing is written to it
    // Tracked from now on, so that a stop() racing this start still finds and ends it.
    child.ref = proc.pid === undefined ? '' : String(proc.pid);
    this.children.set(spec.channelId, child);

    const url = `http://${env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST}:${spec.port}`;
    const ok = await this.waitStarted(child, url, spec.channelId);
    if (!ok) {
      // The reason is read before kill(), which would make every failure look like an exit.
      const exitCode = proc.exitCode ?? proc.signalCode;
      const why = spawnError
        ? `could not run ${cmd}: ${(spawnError as Error).message}`
        : exitCode !== null
          ? `exited during start-up (${exitCode})`
          : `did not answer ${this.config.healthPath} within ${this.config.startupTimeoutMs ?? 15_000} ms`;
      await this.kill(child);
      if (this.children.get(spec.channelId) === child) this.children.delete(spec.channelId);
      const tail = child.stderrTail.trim().split('\n').slice(-5).join('\n');
      throw new OrchestratorError(
        'START_FAILED',
        redact(`the sidecar of channel ${spec.channelId} ${why}${tail ? `: ${tail}` : ''}`, spec.secret),
      );
    }
    if (this.children.get(spec.channelId) !== child) {
      throw new OrchestratorError('START_FAILED', `the sidecar of channel ${spec.channelId} was stopped while it started`);
    }
    // A sidecar that dies by itself stays listed (not running) until stopped, as a container would.
    this.config.logger?.info({ channelId: spec.channelId, pid: proc.pid }, 'local sidecar started');
    return { ref: child.ref, url };
  }

  /**
   * True once the sidecar is up: alive after the grace period, or answering its health path.
   * An answer naming another channel is another process on the port (ours then fails to listen).
   */
  private async waitStarted(child: Child, url: string, channelId: string): Promise<boolean> {
    const exited = child.exited.then(() => 'exited' as const);
    const { healthPath } = this.config;
    if (!healthPath) {
      const grace = sleep(this.config.startupGraceMs ?? 500).then(() => 'alive' as const);
      return (await Promise.race([exited, grace])) === 'alive' && child.running;
    }
    const deadline = Date.now() + (this.config.startupTimeoutMs ?? 15_000);
    while (child.running && Date.now() < deadline) {
      const answered = await fetch(`${url}${healthPath}`, { signal: AbortSignal.timeout(1000) }).then(
        async (res) => res.ok && answersFor(await res.text(), channelId),
        () => false,
      );
      if (answered) return child.running;
      await Promise.race([exited, sleep(100)]);
    }
    return false;
  }

  /** SIGTERM, then SIGKILL after the grace; resolves once the process is gone. */
  private kill(child: Child): Promise<void> {
    if (!child.running) return child.exited;
    child.stopping ??= (async () => {
      child.process.kill('SIGTERM');
      const timer = sleep(this.config.stopTimeoutMs ?? 5000).then(() => 'timeout' as const);
      if ((await Promise.race([child.exited.then(() => 'exited' as const), timer])) === 'timeout') {
        this.config.logger?.warn({ channelId: child.channelId, pid: child.process.pid }, 'local sidecar ignored SIGTERM; killing it');
        child.process.kill('SIGKILL');
        await child.exited;
      }
    })();
    return child.stopping;
  }

  async stop(channelId: string, ref: string, _node: SidecarNode | null): Promise<void> {
    const child = this.children.get(channelId);
    // Not ours (any more): the process named by ref is gone, or belongs to a newer start.
    if (!child || (ref && child.ref !== ref)) return;
    await this.kill(child);
    if (this.children.get(channelId) === child) this.children.delete(channelId);
    this.config.logger?.info({ channelId, pid: child.process.pid }, 'local sidecar stopped');
  }

  async list(_node: SidecarNode | null): Promise<RunningSidecar[]> {
    return [...this.children.values()].map((c) => ({ channelId: c.channelId, ref: c.ref, running: c.running }));
  }

  /** This machine is the node: it answers as long as this process runs. */
  async ping(_node: SidecarNode | null): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    await Promise.all([...this.children.values()].map((c) => this.stop(c.channelId, c.ref, null)));
    live.delete(this);
    if (live.size === 0) process.removeListener('exit', killAllOnExit);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Whether a health answer is from the channel's sidecar: one that names no channel is taken at its word. */
function answersFor(body: string, channelId: string): boolean {
  try {
    const named = (JSON.parse(body) as { channelId?: unknown }).channelId;
    return named === undefined || named === channelId;
  } catch {
    return true;
  }
}
