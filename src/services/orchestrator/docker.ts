import { existsSync, readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { SIDECAR_EXIT } from '../../protocol/sidecar-env.ts';
import type { Logger } from '../logger.ts';
import { awaitProof } from './identity.ts';
import {
  checkSpec,
  LABEL_CHANNEL,
  LABEL_INSTALLATION,
  LABEL_MANAGED,
  LABEL_NODE,
  OrchestratorError,
  redact,
  sidecarAddress,
  sidecarEnv,
  sidecarName,
  sidecarUrl,
  type Orchestrator,
  type OrchestratorErrorKind,
  type RunningSidecar,
  type SidecarHandle,
  type SidecarNode,
  type SidecarSpec,
} from './orchestrator.ts';

export interface DockerOrchestratorConfig {
  /** The sidecar image (present on every node: it is never pulled here). */
  image: string;
  /** The container's command (onair's image: `sidecar`); the image's own when unset. */
  command?: string[] | null;
  /**
   * Labels this installation's sidecars, so that list() (and reconciliation)
   * never sees another installation's on a shared engine. @defaultValue onair
   */
  installation?: string;
  /** TLS for `tcp://` engines: PEM contents or file paths. HTTPS when any is given. */
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** The playout media volume, bound at the same path inside the container. */
  mediaVolumeDir?: string | null;
  /** Further binds, e.g. a media volume mounted elsewhere on the node. */
  mounts?: Array<{ source: string; target: string; readOnly?: boolean }>;
  /**
   * Docker network mode. Host networking: the sidecar listens on the node's
   * own interfaces, which is how the control plane reaches it on its port.
   * @defaultValue host
   */
  network?: string;
  /** Run the engine's init (tini) as PID 1 in the container. @defaultValue true */
  init?: boolean;
  /** Memory limit in bytes; none when unset. */
  memoryBytes?: number | null;
  /** Grace between SIGTERM and SIGKILL on stop. @defaultValue 10 */
  stopTimeoutSeconds?: number;
  /** How long connecting to an engine may take before it counts as unreachable. @defaultValue 3000 */
  connectTimeoutMs?: number;
  /** Longest silence of an engine within one request. @defaultValue (stopTimeoutSeconds + 30) s */
  requestTimeoutMs?: number;
  /**
   * start() resolves only once the sidecar answered the health challenge with
   * its spawn secret (identity.ts), within startupTimeoutMs. Off only for
   * stand-in images that cannot answer it.
   * @defaultValue true
   */
  verifyIdentity?: boolean;
  /** How long a started container may take to prove itself. @defaultValue 30000 */
  startupTimeoutMs?: number;
  /** ping() answer deadline. @defaultValue 2000 */
  pingTimeoutMs?: number;
  /** The DeckLink device node mapped in for DECKLINK outputs. @defaultValue /dev/blackmagic */
  decklinkDevicePath?: string;
  logger?: Logger;
}

/** The engine's error message; null when no Docker engine answered (socket error, or some other HTTP server). */
function dockerMessage(err: unknown): string | null {
  const json = (err as { json?: { message?: unknown } })?.json;
  return json && typeof json.message === 'string' ? json.message : null;
}

/**
 * No answer from a Docker engine: the socket failed, or whatever answered
 * is not Docker (a proxy's bare 404 must not read as "container gone").
 */
function isUnreachable(err: unknown): boolean {
  return dockerMessage(err) === null;
}

/** The engine's own answer status, only when a Docker engine gave it. */
function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown })?.statusCode;
  return typeof s === 'number' && dockerMessage(err) !== null ? s : undefined;
}

/** The engine's own message ("No such image: ..."), else the socket error. */
function engineMessage(err: unknown): string {
  const message = dockerMessage(err);
  if (message !== null) return message;
  const status = (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number') return `HTTP ${status} from something that is not a Docker engine`;
  const code = (err as { code?: unknown })?.code;
  const msg = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

function pem(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (value.includes('-----BEGIN')) return value;
  if (!existsSync(value)) throw new OrchestratorError('OTHER', `Docker TLS file ${value} does not exist`);
  return readFileSync(value, 'utf8');
}

export class DockerOrchestrator implements Orchestrator {
  private readonly clients = new Map<string, Docker>();
  private readonly config: DockerOrchestratorConfig;

  constructor(config: DockerOrchestratorConfig) {
    this.config = config;
  }

  private get installation(): string {
    return this.config.installation ?? 'onair';
  }

  /** One client per engine; built on first use so a bad node cannot break start-up. */
  private client(node: SidecarNode | null): Docker {
    const host = node?.dockerHost ?? 'unix:///var/run/docker.sock';
    let docker = this.clients.get(host);
    if (docker) return docker;
    // connectionTimeout: a dead node fails fast. timeout (socket idle): an engine that hangs
    // mid-request fails too; it must outlast a stop's grace, during which the engine sends nothing.
    const timeouts = {
      connectionTimeout: this.config.connectTimeoutMs ?? 3000,
      timeout: this.config.requestTimeoutMs ?? ((this.config.stopTimeoutSeconds ?? 10) + 30) * 1000,
    };
    if (host.startsWith('unix://')) {
      docker = new Docker({ socketPath: host.slice('unix://'.length), ...timeouts });
    } else if (host.startsWith('tcp://')) {
      let url: URL;
      try {
        url = new URL(host.replace(/^tcp:/, 'http:'));
      } catch {
        throw new OrchestratorError('OTHER', `invalid Docker host ${host}`);
      }
      const { tlsCa, tlsCert, tlsKey } = this.config;
      const tls = Boolean(tlsCa || tlsCert || tlsKey);
      docker = new Docker({
        host: url.hostname,
        port: Number(url.port) || (tls ? 2376 : 2375),
        protocol: tls ? 'https' : 'http',
        ca: pem(tlsCa),
        cert: pem(tlsCert),
        key: pem(tlsKey),
        ...timeouts,
      });
    } else {
      throw new OrchestratorError('OTHER', `unsupported Docker host ${host} (expected unix:// or tcp://)`);
    }
    this.clients.set(host, docker);
    return docker;
  }

  private where(node: SidecarNode | null): string {
    return node ? `node ${node.hostname} (${node.dockerHost ?? 'local socket'})` : 'the local Docker engine';
  }

  /** Maps a dockerode failure to an OrchestratorError; UNREACHABLE whenever no Docker engine answered. */
  private fail(
    err: unknown,
    kind: OrchestratorErrorKind,
    what: string,
    node: SidecarNode | null,
    secret = '',
  ): OrchestratorError {
    if (err instanceof OrchestratorError) return err;
    if (isUnreachable(err)) {
      return new OrchestratorError(
        'UNREACHABLE',
        `${what}: ${this.where(node)} cannot be reached (${redact(engineMessage(err), secret)})`,
        { cause: err },
      );
    }
    return new OrchestratorError(kind, `${what} on ${this.where(node)}: ${redact(engineMessage(err), secret)}`, {
      cause: err,
    });
  }

  private createOptions(spec: SidecarSpec): Docker.ContainerCreateOptions {
    const network = this.config.network ?? 'host';
    // The secret travels in the container's env: visible to `docker inspect`, i.e. to the
    // node's admins (who could read the process anyway), and to nobody through onair.
    // Host networking: the sidecar listens on the node's address, where the control plane
    // calls it (a remote node's loopback would answer nobody). Otherwise it listens on the
    // container's interfaces and the port is published on the node's address.
    const address = sidecarAddress(spec.node);
    const env = sidecarEnv(spec, network === 'host' ? address : '0.0.0.0');
    const binds: string[] = [];
    if (this.config.mediaVolumeDir) binds.push(`${this.config.mediaVolumeDir}:${this.config.mediaVolumeDir}`);
    for (const m of this.config.mounts ?? []) binds.push(`${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`);
    const devicePath = this.config.decklinkDevicePath ?? '/dev/blackmagic';
    const devices =
      spec.decklinkDevice != null
        ? [{ PathOnHost: devicePath, PathInContainer: devicePath, CgroupPermissions: 'rwm' }]
        : [];
    return {
      name: sidecarName(spec.channelId),
      Image: this.config.image,
      Cmd: this.config.command?.length ? this.config.command : undefined,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: {
        [LABEL_MANAGED]: 'true',
        [LABEL_CHANNEL]: spec.channelId,
        [LABEL_INSTALLATION]: this.installation,
        [LABEL_NODE]: spec.node?.id ?? 'local',
      },
      ExposedPorts: network === 'host' ? undefined : { [`${spec.port}/tcp`]: {} },
      HostConfig: {
        NetworkMode: network,
        // The control plane decides when a sidecar comes back (failover, reconciliation).
        RestartPolicy: { Name: 'no' },
        // An init reaps the engine's children (ffmpeg) and forwards SIGTERM to the shim.
        Init: this.config.init ?? true,
        Binds: binds,
        Devices: devices,
        Memory: this.config.memoryBytes ?? undefined,
        // Off host networking, publish the sidecar's port on the node's address only.
        PortBindings:
          network === 'host' ? undefined : { [`${spec.port}/tcp`]: [{ HostIp: address, HostPort: String(spec.port) }] },
      },
    };
  }

  async start(spec: SidecarSpec): Promise<SidecarHandle> {
    checkSpec(spec);
    const docker = this.client(spec.node);
    const name = sidecarName(spec.channelId);
    const what = `starting the sidecar of channel ${spec.channelId}`;
    const options = this.createOptions(spec);
    let container: Docker.Container;
    try {
      container = await this.createReplacingLeftover(docker, options, spec);
    } catch (err) {
      throw this.fail(err, 'START_FAILED', what, spec.node, spec.secret);
    }
    try {
      await container.start();
    } catch (err) {
      // Leave no orphan: what this call created goes. If even that fails (engine gone
      // mid-start), the labelled container is what reconciliation's list() finds and removes.
      await container.remove({ force: true }).catch((e: unknown) => {
        this.config.logger?.warn(
          { channelId: spec.channelId, container: container.id, err: engineMessage(e) },
          'could not remove a sidecar container that failed to start',
        );
      });
      throw this.fail(err, 'START_FAILED', what, spec.node, spec.secret);
    }
    const url = sidecarUrl(sidecarAddress(spec.node), spec.port);
    if (this.config.verifyIdentity ?? true) await this.awaitStarted(container, url, spec);
    this.config.logger?.info(
      { channelId: spec.channelId, container: container.id, name, url },
      'sidecar container started',
    );
    return { ref: container.id, url };
  }

  /**
   * Waits until the container's sidecar proves itself at `url`. A container
   * that exits meanwhile, or never proves itself, is removed and the start
   * fails with its reason (PORT_IN_USE when it could not listen).
   */
  private async awaitStarted(container: Docker.Container, url: string, spec: SidecarSpec): Promise<void> {
    let exit: { code: number; at: string } | null = null;
    let unreachable: unknown = null;
    const gone = async () => {
      try {
        const state = (await container.inspect()).State;
        if (!state.Running) exit = { code: state.ExitCode, at: state.FinishedAt };
      } catch (err) {
        // 404: removed meanwhile (a concurrent stop); else the engine went away.
        if (statusOf(err) === 404) exit = { code: -1, at: '' };
        else unreachable = err;
      }
      return exit !== null || unreachable !== null;
    };
    const verdict = await awaitProof(url, spec.channelId, spec.secret, {
      deadline: Date.now() + (this.config.startupTimeoutMs ?? 30_000),
      gone,
      intervalMs: 200,
    });
    if (verdict.kind === 'PROVEN') return;
    const logs = exit ? await this.logTail(container) : '';
    await container.remove({ force: true }).catch(() => {});
    if (unreachable)
      throw this.fail(
        unreachable,
        'START_FAILED',
        `starting the sidecar of channel ${spec.channelId}`,
        spec.node,
        spec.secret,
      );
    const code = (exit as { code: number } | null)?.code;
    const why =
      code === SIDECAR_EXIT.portInUse
        ? `could not listen on ${url}: the port is held by another program`
        : code !== undefined
          ? `exited during start-up (${code})`
          : verdict.kind === 'IMPOSTOR'
            ? `did not prove itself: another program answers on ${url} (${verdict.why})`
            : `did not answer on ${url} within ${this.config.startupTimeoutMs ?? 30_000} ms (${verdict.why})`;
    throw new OrchestratorError(
      code === SIDECAR_EXIT.portInUse ? 'PORT_IN_USE' : 'START_FAILED',
      redact(
        `the sidecar of channel ${spec.channelId} on ${this.where(spec.node)} ${why}${logs ? `: ${logs}` : ''}`,
        spec.secret,
      ),
    );
  }

  /** The container's last log lines (its start-failure reason), secret-free by the caller's redact. */
  private async logTail(container: Docker.Container): Promise<string> {
    try {
      const raw = (await container.logs({ stdout: true, stderr: true, tail: 5, follow: false })) as unknown as Buffer;
      // Multiplexed frames: an 8-byte header before each chunk.
      const parts: string[] = [];
      for (let i = 0; i + 8 <= raw.length; ) {
        const size = raw.readUInt32BE(i + 4);
        parts.push(raw.subarray(i + 8, i + 8 + size).toString('utf8'));
        i += 8 + size;
      }
      return parts.join('').trim().slice(-2000);
    } catch {
      return '';
    }
  }

  /**
   * Creates the container; when the name is taken by a leftover of a crashed
   * attempt for the same channel (our labels), removes it and creates again.
   * Never removes a container onair does not own.
   */
  private async createReplacingLeftover(
    docker: Docker,
    options: Docker.ContainerCreateOptions,
    spec: SidecarSpec,
  ): Promise<Docker.Container> {
    try {
      return await docker.createContainer(options);
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
    }
    const name = options.name!;
    const existing = docker.getContainer(name);
    let labels: Record<string, string> | null = null;
    try {
      labels = (await existing.inspect()).Config.Labels ?? {};
    } catch (err) {
      if (statusOf(err) !== 404) throw err; // 404: gone meanwhile, just create again
    }
    if (labels) {
      if (labels[LABEL_MANAGED] !== 'true' || labels[LABEL_CHANNEL] !== spec.channelId) {
        throw new OrchestratorError(
          'START_FAILED',
          `a container named ${name} exists on ${this.where(spec.node)} that is not onair's sidecar of channel ${spec.channelId}; remove or rename it`,
        );
      }
      this.config.logger?.warn(
        { channelId: spec.channelId, name },
        'removing a leftover sidecar container of the same channel',
      );
      await existing.remove({ force: true }).catch((err: unknown) => {
        if (statusOf(err) !== 404) throw err;
      });
    }
    return docker.createContainer(options);
  }

  async stop(channelId: string, ref: string, node: SidecarNode | null): Promise<void> {
    const docker = this.client(node);
    const what = `stopping the sidecar of channel ${channelId}`;
    const container = docker.getContainer(ref || sidecarName(channelId));
    try {
      const info = await container.inspect();
      const labels = info.Config.Labels ?? {};
      if (labels[LABEL_MANAGED] !== 'true' || labels[LABEL_CHANNEL] !== channelId) {
        throw new OrchestratorError(
          'OTHER',
          `container ${ref || sidecarName(channelId)} on ${this.where(node)} is not the sidecar of channel ${channelId}; left alone`,
        );
      }
      if (info.State.Running) {
        await container.stop({ t: this.config.stopTimeoutSeconds ?? 10 }).catch((err: unknown) => {
          // 304 (already stopped) comes without a body.
          const raw = (err as { statusCode?: unknown })?.statusCode;
          if (raw !== 304 && statusOf(err) !== 404) throw err;
        });
      }
      await container.remove({ force: true }).catch((err: unknown) => {
        // 404: gone; 409: a removal is already in progress (a concurrent stop).
        if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
      });
      this.config.logger?.info({ channelId, container: info.Id }, 'sidecar container stopped and removed');
    } catch (err) {
      if (statusOf(err) === 404) return; // already gone
      throw this.fail(err, 'OTHER', what, node);
    }
  }

  async list(node: SidecarNode | null): Promise<RunningSidecar[]> {
    try {
      const containers = await this.client(node).listContainers({
        all: true,
        filters: {
          label: [
            `${LABEL_MANAGED}=true`,
            `${LABEL_INSTALLATION}=${this.installation}`,
            `${LABEL_NODE}=${node?.id ?? 'local'}`,
          ],
        },
      });
      return containers
        .filter((c) => c.Labels?.[LABEL_CHANNEL])
        .map((c) => ({ channelId: c.Labels[LABEL_CHANNEL], ref: c.Id, running: c.State === 'running' }));
    } catch (err) {
      throw this.fail(err, 'OTHER', 'listing sidecars', node);
    }
  }

  async ping(node: SidecarNode | null): Promise<boolean> {
    try {
      // dockerode 5 takes an abort signal here; its types (v4) do not say so yet.
      const options = { abortSignal: AbortSignal.timeout(this.config.pingTimeoutMs ?? 2000) };
      await this.client(node).ping(options as never);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.clients.clear();
  }
}
