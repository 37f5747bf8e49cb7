import { KindedError } from '../../errors.ts';
import { buildSidecarEnv, MIN_SIDECAR_SECRET_LENGTH } from '../../protocol/sidecar-env.ts';

/**
 * What the control plane needs from whatever runs channel sidecars: start one
 * on a node, stop it, list what runs (for reconciliation) and check the node.
 * Two implementations: Docker engines reached by dockerode (production) and
 * local child processes (one machine without Docker).
 */

/** The cluster node a sidecar runs on; null = this machine. */
export interface SidecarNode {
  id: string;
  hostname: string;
  /** `unix:///path` or `tcp://host:port`; null = the local engine socket. */
  dockerHost: string | null;
}

export interface SidecarSpec {
  channelId: string;
  /** Generated per spawn by the caller; passed to the sidecar in its env; never logged. */
  secret: string;
  /**
   * Everything else the sidecar needs (ENGINE, VIDEO_FORMAT, MEDIA_DIR,
   * OUTPUT_JSON, ...): protocol's sidecarSettingsEnv. The orchestrator adds
   * the identity (CHANNEL_ID, PORT, HOST, SIDECAR_SECRET) with buildSidecarEnv.
   */
  env: Record<string, string>;
  /** The sidecar's port on the node's address (see sidecarAddress). */
  port: number;
  node: SidecarNode | null;
  /** DECKLINK outputs: the node's /dev/blackmagic is mapped into the container. */
  decklinkDevice?: number | null;
}

export interface SidecarHandle {
  /** Container id (Docker) or pid (local). */
  ref: string;
  /** Where the control plane reaches the sidecar's HTTP API. */
  url: string;
}

export interface RunningSidecar {
  channelId: string;
  ref: string;
  running: boolean;
}

export interface Orchestrator {
  /**
   * Which sidecar ports may collide: `host` when every sidecar runs on this
   * machine whatever its channel's node (local processes), so ports are
   * allocated across all nodes; `node` when each node has its own.
   * @defaultValue node
   */
  readonly portScope?: 'host' | 'node';
  /**
   * Starts the channel's sidecar. The caller guarantees one start per channel
   * at a time (its conditional state change claims the channel first): a
   * leftover sidecar of the same channel is replaced.
   * Resolves once the sidecar answered the health challenge with the spawn
   * secret (never before: a program that took the port first is never handed
   * anything). Throws OrchestratorError (START_FAILED, UNREACHABLE, PORT_IN_USE:
   * the port is held by another program, try another); a failed start leaves nothing behind.
   */
  start(spec: SidecarSpec): Promise<SidecarHandle>;
  /**
   * Stops and removes; idempotent (already gone = success). Throws
   * OrchestratorError UNREACHABLE when the engine cannot be reached, so the
   * caller never marks a channel stopped with an orphan behind.
   */
  stop(channelId: string, ref: string, node: SidecarNode | null): Promise<void>;
  /** Every onair sidecar this orchestrator sees on a node (all states), for reconciliation. */
  list(node: SidecarNode | null): Promise<RunningSidecar[]>;
  /** Whether the node's engine answers (node health); never throws. */
  ping(node: SidecarNode | null): Promise<boolean>;
  /** Releases clients; the local orchestrator also stops every sidecar it started. */
  close(): Promise<void>;
}

export const OrchestratorErrorKind = {
  /** The node's engine cannot be reached: nothing is known about the sidecar. */
  UNREACHABLE: 'UNREACHABLE',
  /** The engine answered, but the sidecar could not be started; nothing was left behind. */
  START_FAILED: 'START_FAILED',
  /** The sidecar could not listen: another program holds its port on the node. Nothing was left behind. */
  PORT_IN_USE: 'PORT_IN_USE',
  OTHER: 'OTHER',
} as const;
export type OrchestratorErrorKind = (typeof OrchestratorErrorKind)[keyof typeof OrchestratorErrorKind];

/** Messages are for operators; they never carry the sidecar secret. */
export class OrchestratorError extends KindedError<OrchestratorErrorKind> {
  override name = 'OrchestratorError';
}

/** Labels that mark a container as an onair sidecar (and of which channel). */
export const LABEL_MANAGED = 'onair.managed';
export const LABEL_CHANNEL = 'onair.channel';
/** Which onair installation a sidecar belongs to: several may share a Docker engine. */
export const LABEL_INSTALLATION = 'onair.installation';
/**
 * Which node a sidecar was started for (its id; `local` for none): several
 * nodes may be one engine (addresses of one machine), and each node's
 * reconciliation must see only its own sidecars.
 */
export const LABEL_NODE = 'onair.node';

/** Channel ids become container names and label filters: keep them to a safe alphabet. */
const CHANNEL_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function sidecarName(channelId: string): string {
  return `onair-${channelId}`;
}

/** Rejects what cannot be a channel id or a port before anything is created. */
export function checkSpec(spec: SidecarSpec): void {
  if (!CHANNEL_ID.test(spec.channelId)) {
    throw new OrchestratorError('START_FAILED', `invalid channel id ${JSON.stringify(spec.channelId)}`);
  }
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) {
    throw new OrchestratorError('START_FAILED', `invalid sidecar port ${spec.port} for channel ${spec.channelId}`);
  }
  if (spec.secret.length < MIN_SIDECAR_SECRET_LENGTH) {
    throw new OrchestratorError('START_FAILED', `sidecar secret for channel ${spec.channelId} is too short`);
  }
}

/**
 * The address a sidecar listens on and the control plane calls it on: the
 * node's address (its hostname) for a node, loopback for this machine.
 */
export function sidecarAddress(node: SidecarNode | null): string {
  return node ? node.hostname : '127.0.0.1';
}

/** The sidecar's environment for this spec, listening on `host` (protocol's one builder). */
export function sidecarEnv(spec: SidecarSpec, host: string): Record<string, string> {
  return buildSidecarEnv({ channelId: spec.channelId, port: spec.port, host, secret: spec.secret }, spec.env);
}

/** The URL of a sidecar listening on host:port (IPv6 literals bracketed). */
export function sidecarUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Engine and process messages may echo what they were given: strip the secret. */
export function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join('[redacted]') : text;
}
