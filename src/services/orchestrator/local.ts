import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fromBuild, projectRoot } from '../../paths.ts';
import { SIDECAR_EXIT } from '../../protocol/sidecar-env.ts';
import type { Logger } from '../logger.ts';
import { awaitProof } from './identity.ts';
import { RunDir } from './run-dir.ts';
import {
  checkSpec,
  OrchestratorError,
  redact,
  sidecarEnv,
  sidecarUrl,
  type Orchestrator,
  type RunningSidecar,
  type SidecarHandle,
  type SidecarNode,
  type SidecarSpec,
} from './orchestrator.ts';

export interface LocalOrchestratorConfig {
  /**
   * The sidecar program and its arguments.
   * @defaultValue the build's dist/sidecar.js when this process runs from dist/,
   * else src/sidecar/main.ts through tsx (tests, development)
   */
  command?: string[];
  /** @defaultValue process.cwd() */
  cwd?: string;
  /**
   * When set, start waits until GET <url><healthPath>?nonce=… answers with the
   * proof of the spawn secret (up to startupTimeoutMs; see identity.ts);
   * otherwise it waits startupGraceMs and checks the process has not exited.
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
   * Variables of this process's environment the sidecar also gets: config.ts
   * picks them (sidecarInheritedEnv: PATH, HOME, LANG, ...), never the control
   * plane's own secrets. @defaultValue none
   */
  inheritedEnv?: Record<string, string>;
  /** Where the sidecar's stdout/stderr go besides the start-failure message (without runDir). @defaultValue inherit */
  output?: 'inherit' | 'ignore';
  /**
   * Where each sidecar's pid file (`<channel>.json`) and log (`<channel>.log`)
   * live. With it, sidecars outlive a control plane that dies (kill -9, a
   * crash): the restarted one lists them from here, and stops them by their
   * verified pid. Without it, sidecars are known only to the process that
   * spawned them. One directory per installation.
   * @defaultValue null
   */
  runDir?: string | null;
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

// The sidecar runs as the control plane does: the built JavaScript when serve runs from dist/
// (no TypeScript compiled at each channel start), the sources through tsx otherwise.
const DEFAULT_SIDECAR_COMMAND = fromBuild
  ? [process.execPath, '--enable-source-maps', path.join(projectRoot, 'dist/sidecar.js')]
  : [process.execPath, '--import', 'tsx', path.join(projectRoot, 'src/sidecar/main.ts')];

/** Orchestrators not yet closed; one 'exit' handler serves them all. */
const live = new Set<LocalOrchestrator>();
function killAllOnExit(): void {
  for (const o of live) o.killAll();
}

/**
 * Sidecars as processes of this machine, for one machine without Docker.
 *
 * A normal end of this process stops them: close() (called on SIGTERM/SIGINT
 * by main), and an exit kills what is left. A control plane that dies without
 * an end (kill -9, a crash) leaves them playing: on air stays on air. With a
 * runDir, each sidecar's pid file lets the restarted control plane adopt it:
 * list() reports it (reconciliation stops it if no channel claims it), and
 * stop() stops it by its pid once /proc confirms that pid is still that
 * channel's sidecar (same start time, CHANNEL_ID in its environment). Their
 * output goes to a log file beside the pid file, never to a pipe that would
 * break with this process.
 */
export class LocalOrchestrator implements Orchestrator {
  /** Every sidecar runs on this machine, whatever its channel's node: ports are the host's. */
  readonly portScope = 'host' as const;
  private readonly children = new Map<string, Child>();
  private readonly config: LocalOrchestratorConfig;
  private readonly runDir: RunDir | null;

  constructor(config: LocalOrchestratorConfig = {}) {
    this.config = config;
    this.runDir = config.runDir ? new RunDir(config.runDir) : null;
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

    const [cmd, ...args] = this.config.command ?? DEFAULT_SIDECAR_COMMAND;
    // On this machine nothing else should reach a sidecar: loopback.
    const host = '127.0.0.1';
    const env = sidecarEnv(spec, host);
    const output = this.config.output ?? 'inherit';
    // With a run dir the sidecar writes to its log file: a pipe to this process would break when it dies.
    let logFd: number | null = null;
    if (this.runDir) {
      await mkdir(this.runDir.dir, { recursive: true });
      logFd = openSync(this.runDir.logFile(spec.channelId), 'w', 0o600);
    }
    const proc = spawn(cmd, args, {
      cwd: this.config.cwd ?? process.cwd(),
      env: { ...this.config.inheritedEnv, ...env },
      stdio: logFd === null ? ['ignore', output, 'pipe'] : ['ignore', logFd, logFd],
    });
    if (logFd !== null) closeSync(logFd);
    const child: Child = {
      channelId: spec.channelId,
      process: proc,
      ref: '',
      exited: Promise.resolve(),
      running: true,
      stderrTail: '',
    };
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
    // Tracked from now on, so that a stop() racing this start still finds and ends it.
    child.ref = proc.pid === undefined ? '' : String(proc.pid);
    this.children.set(spec.channelId, child);
    if (this.runDir && proc.pid !== undefined) await this.runDir.record(spec.channelId, proc.pid, spec.port);

    const url = sidecarUrl(host, spec.port);
    const started = await this.waitStarted(child, url, spec);
    const ok = started === true;
    if (!ok) {
      if (this.runDir) child.stderrTail = await this.runDir.logTail(spec.channelId, TAIL_CHARS);
      // The reason is read before kill(), which would make every failure look like an exit.
      const exitCode = proc.exitCode ?? proc.signalCode;
      const why = spawnError
        ? `could not run ${cmd}: ${(spawnError as Error).message}`
        : exitCode !== null
          ? `exited during start-up (${exitCode})`
          : `did not prove itself on ${this.config.healthPath} within ${this.config.startupTimeoutMs ?? 15_000} ms${started ? ` (${started})` : ''}`;
      await this.kill(child);
      if (this.children.get(spec.channelId) === child) this.children.delete(spec.channelId);
      await this.runDir?.forget(spec.channelId, child.ref);
      const tail = child.stderrTail.trim().split('\n').slice(-5).join('\n');
      throw new OrchestratorError(
        exitCode === SIDECAR_EXIT.portInUse ? 'PORT_IN_USE' : 'START_FAILED',
        redact(`the sidecar of channel ${spec.channelId} ${why}${tail ? `: ${tail}` : ''}`, spec.secret),
      );
    }
    if (this.children.get(spec.channelId) !== child) {
      throw new OrchestratorError(
        'START_FAILED',
        `the sidecar of channel ${spec.channelId} was stopped while it started`,
      );
    }
    // A sidecar that dies by itself stays listed (not running) until stopped, as a container would.
    this.config.logger?.info({ channelId: spec.channelId, pid: proc.pid }, 'local sidecar started');
    return { ref: child.ref, url };
  }

  /**
   * True once the sidecar is up: alive after the grace period, or proven on
   * its health path; otherwise false, or why the last answer was refused.
   */
  private async waitStarted(child: Child, url: string, spec: SidecarSpec): Promise<true | false | string> {
    const exited = child.exited.then(() => 'exited' as const);
    const { healthPath } = this.config;
    if (!healthPath) {
      const grace = sleep(this.config.startupGraceMs ?? 500).then(() => 'alive' as const);
      return (await Promise.race([exited, grace])) === 'alive' && child.running;
    }
    const verdict = await awaitProof(url, spec.channelId, spec.secret, {
      path: healthPath,
      deadline: Date.now() + (this.config.startupTimeoutMs ?? 15_000),
      gone: () => !child.running,
    });
    if (verdict.kind === 'PROVEN') return child.running;
    return verdict.kind === 'IMPOSTOR' ? `another program answers on port ${spec.port}: ${verdict.why}` : false;
  }

  /** SIGTERM, then SIGKILL after the grace; resolves once the process is gone. */
  private kill(child: Child): Promise<void> {
    if (!child.running) return child.exited;
    child.stopping ??= (async () => {
      child.process.kill('SIGTERM');
      const timer = sleep(this.config.stopTimeoutMs ?? 5000).then(() => 'timeout' as const);
      if ((await Promise.race([child.exited.then(() => 'exited' as const), timer])) === 'timeout') {
        this.config.logger?.warn(
          { channelId: child.channelId, pid: child.process.pid },
          'local sidecar ignored SIGTERM; killing it',
        );
        child.process.kill('SIGKILL');
        await child.exited;
      }
    })();
    return child.stopping;
  }

  async stop(channelId: string, ref: string, _node: SidecarNode | null): Promise<void> {
    const child = this.children.get(channelId);
    if (!child) {
      // Not a child of this process: one that a previous control plane spawned, adopted through the run dir.
      if (this.runDir && (await this.runDir.stop(channelId, ref, this.config.stopTimeoutMs ?? 5000))) {
        this.config.logger?.info({ channelId, pid: ref }, 'adopted local sidecar stopped');
      }
      return;
    }
    // Not ours (any more): the process named by ref is gone, or belongs to a newer start.
    if (ref && child.ref !== ref) return;
    await this.kill(child);
    if (this.children.get(channelId) === child) this.children.delete(channelId);
    await this.runDir?.forget(channelId, child.ref);
    this.config.logger?.info({ channelId, pid: child.process.pid }, 'local sidecar stopped');
  }

  /** The children of this process, then the sidecars of the run dir a previous control plane left running. */
  async list(_node: SidecarNode | null): Promise<RunningSidecar[]> {
    const own = [...this.children.values()].map((c) => ({ channelId: c.channelId, ref: c.ref, running: c.running }));
    if (!this.runDir) return own;
    const adopted = (await this.runDir.live()).filter((s) => !this.children.has(s.channelId));
    return [...own, ...adopted.map((s) => ({ channelId: s.channelId, ref: String(s.pid), running: true }))];
  }

  /** This machine is the node: it answers as long as this process runs. */
  async ping(_node: SidecarNode | null): Promise<boolean> {
    return true;
  }

  /**
   * Stops every sidecar this process started. Those of the run dir it did not
   * start are left playing: another process on this machine (serve, or another
   * worker sharing the run dir) may be theirs, and a worker that shuts down must
   * not take channels off air. stopChannel stops them by verified pid.
   */
  async close(): Promise<void> {
    const sidecars = [...this.children.values()];
    await Promise.all(sidecars.map((c) => this.stop(c.channelId, c.ref, null)));
    live.delete(this);
    if (live.size === 0) process.removeListener('exit', killAllOnExit);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
