import { randomBytes } from 'node:crypto';
import { sidecarSettingsEnv, type SidecarOutput } from '../../protocol/sidecar-env.ts';
import { ErrorCode, OnairError, conflict, notFound } from '../../errors.ts';
import type { Config } from '../../config.ts';
import type { Prisma } from '../../services/db.ts';
import type { Services } from '../../services/index.ts';
import { OrchestratorError, type SidecarHandle, type SidecarNode } from '../../services/orchestrator/orchestrator.ts';
import { announceAlarms, clearAlarms } from './alarms.ts';
import { closeOpenAsRun, STOPPED_BY_OPERATOR } from '../as-run/as-run-record.ts';
import { publishChannelEvent } from './channel-events.ts';
import { EngineSnapshots, engineState, toWire } from './engine-status.ts';
import { DestinationError, NO_DESTINATION_POLICY, checkResolvedDestination } from './output-destinations.ts';
import { outputView } from './outputs.ts';
import { readChannelSecret, seal, unseal } from './secrets.ts';

/** What starting and stopping a channel needs; the API and the control loop both call these. */
export type LifecycleDeps = Pick<Services, 'db' | 'log' | 'orchestrator' | 'pubsub' | 'redis'> & {
  config: Pick<Config, 'secretKey' | 'mediaVolumeDir' | 'sidecar' | 'queuePrefix'> &
    Partial<Pick<Config, 'outputs' | 'quotas'>>;
};

/** The states in which a sidecar may exist: its DeckLink device and port are taken. */
const ACTIVE = ['STARTING', 'RUNNING', 'STOPPING'] as const;
const LOCAL_NODE_LOCK = 727_002;

/** A channel as its claim returns it: with its node, its port and its sealed sidecar secret. */
export type ClaimedChannel = Prisma.ChannelGetPayload<{ include: { node: true } }>;

/**
 * Takes the node's lock for the rest of the transaction (a node-less channel
 * runs on this machine, which has a lock of its own): port picks and DeckLink
 * reservations of one node happen one at a time.
 */
export async function lockNode(tx: Prisma.TransactionClient, nodeId: string | null, hostWide = false): Promise<void> {
  if (nodeId) await tx.$queryRaw`SELECT id FROM cluster_nodes WHERE id = ${nodeId}::uuid FOR UPDATE`;
  // Ports shared by every node (local sidecars all run here): this machine's lock too, always taken after a node's.
  if (!nodeId || hostWide) await tx.$executeRaw`SELECT pg_advisory_xact_lock(${LOCAL_NODE_LOCK})`;
}

/**
 * QUOTA_PROJECT_RUNNING_CHANNELS, inside the start's claim: the project's row
 * lock makes concurrent starts of its channels count one after the other.
 */
async function checkRunningChannelsQuota(
  tx: Prisma.TransactionClient,
  projectId: string,
  limit: number,
): Promise<void> {
  await tx.$queryRaw`SELECT id FROM projects WHERE id = ${projectId}::uuid FOR UPDATE`;
  const [{ n }] = await tx.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM channels
     WHERE project_id = ${projectId}::uuid AND deleted_at IS NULL AND status IN ('STARTING', 'RUNNING', 'STOPPING')`;
  if (n >= limit) {
    throw conflict(
      `the project's quota of ${limit} running channels is reached: stop one first (QUOTA_PROJECT_RUNNING_CHANNELS)`,
      {
        quota: 'QUOTA_PROJECT_RUNNING_CHANNELS',
        limit,
      },
    );
  }
}

/** Whether sidecar ports are this machine's, whatever the channel's node (the local orchestrator). */
export const hostWidePorts = (deps: Pick<LifecycleDeps, 'orchestrator'>) => deps.orchestrator.portScope === 'host';

/**
 * The lowest sidecar port no active channel of the node holds (of any node
 * when `hostWide`), other than `avoid`; call it under lockNode. CONFLICT when none is left.
 */
export async function freeSidecarPort(
  tx: Prisma.TransactionClient,
  nodeId: string | null,
  sidecar: Pick<Config['sidecar'], 'portBase' | 'portCount'>,
  options: { hostWide?: boolean; avoid?: number[] } = {},
): Promise<number> {
  const taken = await tx.channel.findMany({
    where: { ...(options.hostWide ? {} : { nodeId }), status: { in: [...ACTIVE] }, sidecarPort: { not: null } },
    select: { sidecarPort: true },
  });
  const used = new Set<number | null>([...taken.map((t) => t.sidecarPort), ...(options.avoid ?? [])]);
  const offset = [...Array(sidecar.portCount).keys()].find((i) => !used.has(sidecar.portBase + i));
  if (offset === undefined) throw conflict('no free sidecar port on the node: raise SIDECAR_PORT_COUNT');
  return sidecar.portBase + offset;
}

/**
 * STOPPED/ERROR → STARTING, as one transaction that owns the channel row: of
 * twenty concurrent starts one claims it, the others get CONFLICT. Under the
 * node's lock (which DeckLink reservations take too) it checks the device is
 * not reserved and picks a free port; the partial unique indexes make a
 * device or a port on air impossible to take twice whatever this code does.
 */
async function claimStart(deps: LifecycleDeps, channelId: string, secret: string): Promise<ClaimedChannel> {
  const { db, config } = deps;
  try {
    return await db.$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<
        { status: string; node_id: string | null; decklink_device: number | null; project_id: string | null }[]
      >`
        SELECT status::text, node_id, decklink_device, project_id FROM channels
         WHERE id = ${channelId}::uuid AND deleted_at IS NULL FOR UPDATE`;
      if (!row) throw notFound('channel');
      if (row.status !== 'STOPPED' && row.status !== 'ERROR') {
        throw conflict(`the channel is ${row.status}`, { status: row.status });
      }
      if (row.project_id && config.quotas)
        await checkRunningChannelsQuota(tx, row.project_id, config.quotas.projectRunningChannels);
      await lockNode(tx, row.node_id, hostWidePorts(deps));
      if (row.node_id && row.decklink_device !== null) {
        const reservation = await tx.decklinkReservation.findFirst({
          where: { nodeId: row.node_id, deviceIndex: row.decklink_device, releasedAt: null },
        });
        if (reservation) throw conflict(`DeckLink device ${row.decklink_device} is reserved by ${reservation.holder}`);
      }
      const port = await freeSidecarPort(tx, row.node_id, config.sidecar, { hostWide: hostWidePorts(deps) });
      return tx.channel.update({
        where: { id: channelId },
        data: {
          status: 'STARTING',
          errorMessage: null,
          sidecarPort: port,
          sidecarSecret: sealSidecarSecret(config.secretKey, channelId, secret),
          sidecarRef: null,
          sidecarUrl: null,
          sidecarEpoch: null,
          sidecarSeq: 0,
          // An operator's start after a crash loop gets a fresh failover budget.
          recentFailovers: [],
        },
        include: { node: true },
      });
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'P2002') {
      throw conflict('its DeckLink device is on air on another channel of the node');
    }
    throw err;
  }
}

/** The channel's output as the sidecar takes it: public settings plus the secret, for its env only. */
async function sidecarOutput(deps: LifecycleDeps, channel: ClaimedChannel): Promise<SidecarOutput> {
  const view = outputView(channel.outputType, channel.output);
  if (view.kind === 'SRT' || view.kind === 'RTMP') {
    // Checked again where it is used: a host name may resolve elsewhere now, and the policy may have changed.
    await checkResolvedDestination(deps.config.outputs ?? NO_DESTINATION_POLICY, new URL(view.url)).catch((err) => {
      throw err instanceof DestinationError ? conflict(`output destination refused: ${err.message}`) : err;
    });
  }
  const secret = await readChannelSecret(deps.db, deps.config.secretKey, channel.id);
  switch (view.kind) {
    case 'DECKLINK':
      return { type: 'DECKLINK', deviceIndex: view.deviceIndex };
    case 'NDI':
      return { type: 'NDI', name: view.name };
    case 'SRT':
      return { type: 'SRT', url: view.url, latencyMs: view.latencyMs, passphrase: secret?.passphrase ?? null };
    case 'RTMP':
      return { type: 'RTMP', url: view.url, streamKey: secret?.streamKey ?? null };
  }
}

export const nodeOf = (channel: {
  node: { id: string; hostname: string; dockerHost: string | null } | null;
}): SidecarNode | null =>
  channel.node ? { id: channel.node.id, hostname: channel.node.hostname, dockerHost: channel.node.dockerHost } : null;

/** A fresh per-spawn API secret for a sidecar. */
export const newSidecarSecret = () => randomBytes(32).toString('base64url');

/** Ports tried per spawn when programs other than onair hold them. */
const MAX_PORT_ATTEMPTS = 5;

/**
 * Spawns the sidecar of a channel claimed STARTING (its node and port set,
 * `secret` sealed on its row) and returns where it answers. A port held by
 * another program (PORT_IN_USE) moves the channel to another free port, in
 * one conditional update under the node's lock, and tries again. The caller
 * moves the channel on (RUNNING, or ERROR when this throws OrchestratorError).
 */
export async function spawnSidecar(
  deps: LifecycleDeps,
  channel: ClaimedChannel,
  secret: string,
): Promise<SidecarHandle> {
  const casparcg = deps.config.sidecar.casparcg;
  const env = sidecarSettingsEnv({
    engine: deps.config.sidecar.engine,
    videoFormat: channel.videoFormat,
    mediaDir: deps.config.mediaVolumeDir,
    output: await sidecarOutput(deps, channel),
    casparcg: casparcg ?? null,
    logLevel: deps.config.sidecar.logLevel ?? 'info',
  });
  const tried: number[] = [];
  let port = channel.sidecarPort as number;
  for (;;) {
    try {
      return await deps.orchestrator.start({
        channelId: channel.id,
        secret,
        port,
        node: nodeOf(channel),
        decklinkDevice: channel.decklinkDevice,
        env,
      });
    } catch (err) {
      if (!(err instanceof OrchestratorError && err.kind === 'PORT_IN_USE')) throw err;
      tried.push(port);
      if (tried.length >= MAX_PORT_ATTEMPTS) {
        throw new OrchestratorError('START_FAILED', `${err.message} (ports tried: ${tried.join(', ')})`, {
          cause: err,
        });
      }
      deps.log.warn({ channelId: channel.id, port }, 'sidecar port held by another program; trying another');
      port = await movePort(deps, channel, port, tried);
    }
  }
}

/** Moves a STARTING channel from `from` to a free port other than `avoid`; CONFLICT when it is no longer that claim. */
async function movePort(deps: LifecycleDeps, channel: ClaimedChannel, from: number, avoid: number[]): Promise<number> {
  return deps.db.$transaction(async (tx) => {
    await lockNode(tx, channel.nodeId, hostWidePorts(deps));
    const port = await freeSidecarPort(tx, channel.nodeId, deps.config.sidecar, {
      hostWide: hostWidePorts(deps),
      avoid,
    });
    const { count } = await tx.channel.updateMany({
      where: { id: channel.id, status: 'STARTING', sidecarPort: from },
      data: { sidecarPort: port },
    });
    if (count === 0) throw conflict('the channel changed while it started');
    return port;
  });
}

/**
 * Starts the channel's sidecar: claims STARTING, spawns it on the channel's
 * node with a fresh API secret, then RUNNING; a failed spawn leaves ERROR with
 * the reason and nothing running.
 */
export async function startChannelSidecar(deps: LifecycleDeps, channelId: string) {
  const secret = newSidecarSecret();
  const channel = await claimStart(deps, channelId, secret);
  try {
    const handle = await spawnSidecar(deps, channel, secret);
    // Only this claim: one that reconciliation gave up on (LIFECYCLE_STUCK_MS) may have been followed by another start.
    const { count } = await deps.db.channel.updateMany({
      where: { id: channelId, status: 'STARTING', statusChangedAt: channel.statusChangedAt },
      data: {
        status: 'RUNNING',
        sidecarRef: handle.ref,
        sidecarUrl: handle.url,
        startedAt: new Date(),
        lastHeartbeatAt: new Date(),
      },
    });
    if (count === 0) {
      // Stopped or deleted meanwhile: the new sidecar must not outlive the claim.
      await deps.orchestrator.stop(channelId, handle.ref, nodeOf(channel)).catch(() => {});
      throw conflict('the channel changed while it started');
    }
    publishChannelEvent(deps, { kind: 'STATUS_CHANGED', channelId, projectId: channel.projectId });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const errorMessage = `could not start: ${reason}`;
    const failed = await deps.db.channel.updateMany({
      where: { id: channelId, status: 'STARTING', statusChangedAt: channel.statusChangedAt },
      data: { status: 'ERROR', errorMessage, sidecarPort: null, sidecarSecret: null },
    });
    if (failed.count > 0)
      publishChannelEvent(deps, {
        kind: 'STATUS_CHANGED',
        channelId,
        projectId: channel.projectId,
        message: errorMessage,
      });
    if (err instanceof OnairError) throw err;
    // Orchestrator messages are written for operators and carry no secret.
    throw new OnairError(ErrorCode.SIDECAR_UNAVAILABLE, `the channel's sidecar could not start: ${reason}`);
  }
  return deps.db.channel.findUniqueOrThrow({ where: { id: channelId } });
}

/**
 * RUNNING (or ERROR with a sidecar left) → STOPPING → STOPPED. A node whose
 * engine cannot be reached leaves ERROR with the reason and the sidecar's
 * reference kept, never STOPPED with an orphan behind. Stopping a stopped
 * channel is a no-op.
 */
export async function stopChannelSidecar(deps: LifecycleDeps, channelId: string) {
  const { db } = deps;
  const claimed = await db.channel.updateManyAndReturn({
    where: {
      id: channelId,
      deletedAt: null,
      OR: [{ status: 'RUNNING' }, { status: 'ERROR', sidecarRef: { not: null } }],
    },
    data: { status: 'STOPPING' },
    include: { node: true },
  });
  const channel = claimed[0];
  if (!channel) {
    const now = await db.channel.findFirst({ where: { id: channelId, deletedAt: null }, select: { status: true } });
    if (!now) throw notFound('channel');
    if (now.status === 'STOPPED') return db.channel.findUniqueOrThrow({ where: { id: channelId } });
    if (now.status === 'ERROR') {
      const { count } = await db.channel.updateMany({
        where: { id: channelId, status: 'ERROR', sidecarRef: null },
        data: { status: 'STOPPED', errorMessage: null },
      });
      const stopped = await db.channel.findUniqueOrThrow({ where: { id: channelId } });
      if (count > 0) publishChannelEvent(deps, { kind: 'STATUS_CHANGED', channelId, projectId: stopped.projectId });
      return stopped;
    }
    throw conflict(`the channel is ${now.status}`, { status: now.status });
  }
  // What was on air left it when the sidecar was told to stop.
  const stoppedAt = new Date();
  try {
    if (channel.sidecarRef) await deps.orchestrator.stop(channelId, channel.sidecarRef, nodeOf(channel));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const errorMessage = `could not stop its sidecar (it may still run): ${reason}`;
    const { count } = await db.channel.updateMany({
      where: { id: channelId, status: 'STOPPING' },
      data: { status: 'ERROR', errorMessage },
    });
    deps.log.warn({ channelId, reason }, 'sidecar stop failed');
    if (count > 0)
      publishChannelEvent(deps, {
        kind: 'STATUS_CHANGED',
        channelId,
        projectId: channel.projectId,
        message: errorMessage,
      });
    return db.channel.findUniqueOrThrow({ where: { id: channelId } });
  }
  // STOPPED and the as-run rows still open closed together: no ITEM_ENDED will come for them.
  const { count, closed, alarms } = await db.$transaction(async (tx) => {
    const { count } = await tx.channel.updateMany({
      where: { id: channelId, status: 'STOPPING' },
      data: {
        status: 'STOPPED',
        errorMessage: null,
        sidecarRef: null,
        sidecarUrl: null,
        sidecarPort: null,
        sidecarSecret: null,
        startedAt: null,
      },
    });
    if (count === 0) return { count, closed: [], alarms: [] };
    // The operator's stop answers every fault of this run: its alarms are cleared (their history stays).
    return {
      count,
      closed: await closeOpenAsRun(tx, channelId, stoppedAt, 'TRUNCATED', STOPPED_BY_OPERATOR),
      alarms: await clearAlarms(tx, channelId, null, stoppedAt),
    };
  });
  if (count > 0) {
    announceAlarms(deps, channel.projectId, alarms);
    for (const entry of closed) deps.pubsub.publish('asRun', { projectId: channel.projectId, entry });
    // Not awaited: a stop must not wait on Redis. The snapshot goes first (one connection keeps the order).
    new EngineSnapshots(deps.redis, deps.config.queuePrefix)
      .remove(channelId)
      .catch((err: Error) => deps.log.warn({ channelId, err: err.message }, 'engine snapshot not removed'));
    deps.pubsub.publish('engineStatus', channelId, {
      projectId: channel.projectId,
      status: toWire(engineState(channelId, null)),
    });
    publishChannelEvent(deps, { kind: 'STATUS_CHANGED', channelId, projectId: channel.projectId });
  }
  return db.channel.findUniqueOrThrow({ where: { id: channelId } });
}

const sidecarSecretContext = (channelId: string) => `${channelId}:sidecar-api`;

/** The sidecar's API secret as the channel row keeps it. */
export function sealSidecarSecret(key: Buffer, channelId: string, secret: string): string {
  return seal(key, sidecarSecretContext(channelId), secret);
}

/** The running sidecar's API secret, for the sidecar client. */
export function sidecarSecretOf(key: Buffer, channel: { id: string; sidecarSecret: string | null }): string | null {
  return channel.sidecarSecret ? unseal(key, sidecarSecretContext(channel.id), channel.sidecarSecret) : null;
}
