import { randomBytes } from 'node:crypto';
import { SIDECAR_ENV, type SidecarOutput } from '../protocol/sidecar-env.ts';
import { ErrorCode, OnairError, conflict, notFound } from '../errors.ts';
import type { Config } from '../config.ts';
import type { Prisma } from '../services/db.ts';
import type { Services } from '../services/index.ts';
import type { SidecarHandle, SidecarNode } from '../services/orchestrator/orchestrator.ts';
import { closeOpenAsRun } from './as-run-record.ts';
import { publishChannelEvent } from './channel-events.ts';
import { EngineSnapshots, engineState, toWire } from './engine-status.ts';
import { outputView } from './outputs.ts';
import { readChannelSecret, seal, unseal } from './secrets.ts';

/** What starting and stopping a channel needs; the API and the control loop both call these. */
export type LifecycleDeps = Pick<Services, 'db' | 'log' | 'orchestrator' | 'pubsub' | 'redis'> & {
  config: Pick<Config, 'secretKey' | 'mediaVolumeDir' | 'sidecar' | 'queuePrefix'>;
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
export async function lockNode(tx: Prisma.TransactionClient, nodeId: string | null): Promise<void> {
  if (nodeId) await tx.$queryRaw`SELECT id FROM cluster_nodes WHERE id = ${nodeId}::uuid FOR UPDATE`;
  else await tx.$executeRaw`SELECT pg_advisory_xact_lock(${LOCAL_NODE_LOCK})`;
}

/** The lowest sidecar port no active channel of the node holds; call it under lockNode. CONFLICT when none is left. */
export async function freeSidecarPort(
  tx: Prisma.TransactionClient,
  nodeId: string | null,
  sidecar: Pick<Config['sidecar'], 'portBase' | 'portCount'>,
): Promise<number> {
  const taken = await tx.channel.findMany({
    where: { nodeId, status: { in: [...ACTIVE] }, sidecarPort: { not: null } },
    select: { sidecarPort: true },
  });
  const used = new Set(taken.map((t) => t.sidecarPort));
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
      const [row] = await tx.$queryRaw<{ status: string; node_id: string | null; decklink_device: number | null }[]>`
        SELECT status::text, node_id, decklink_device FROM channels
         WHERE id = ${channelId}::uuid AND deleted_at IS NULL FOR UPDATE`;
      if (!row) throw notFound('channel');
      if (row.status !== 'STOPPED' && row.status !== 'ERROR') {
        throw conflict(`the channel is ${row.status}`, { status: row.status });
      }
      await lockNode(tx, row.node_id);
      if (row.node_id && row.decklink_device !== null) {
        const reservation = await tx.decklinkReservation.findFirst({
          where: { nodeId: row.node_id, deviceIndex: row.decklink_device, releasedAt: null },
        });
        if (reservation) throw conflict(`DeckLink device ${row.decklink_device} is reserved by ${reservation.holder}`);
      }
      const port = await freeSidecarPort(tx, row.node_id, config.sidecar);
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

export const nodeOf = (channel: { node: { id: string; hostname: string; dockerHost: string | null } | null }): SidecarNode | null =>
  channel.node ? { id: channel.node.id, hostname: channel.node.hostname, dockerHost: channel.node.dockerHost } : null;

/** A fresh per-spawn API secret for a sidecar. */
export const newSidecarSecret = () => randomBytes(32).toString('base64url');

/**
 * Spawns the sidecar of a channel claimed STARTING (its node and port set,
 * `secret` sealed on its row) and returns where it answers. The caller moves
 * the channel on (RUNNING, or ERROR when this throws OrchestratorError).
 */
export async function spawnSidecar(deps: LifecycleDeps, channel: ClaimedChannel, secret: string): Promise<SidecarHandle> {
  const port = channel.sidecarPort as number;
  return deps.orchestrator.start({
    channelId: channel.id,
    secret,
    port,
    node: nodeOf(channel),
    decklinkDevice: channel.decklinkDevice,
    env: {
      [SIDECAR_ENV.channelId]: channel.id,
      [SIDECAR_ENV.port]: String(port),
      [SIDECAR_ENV.host]: '127.0.0.1',
      [SIDECAR_ENV.engine]: deps.config.sidecar.engine,
      [SIDECAR_ENV.videoFormat]: channel.videoFormat,
      [SIDECAR_ENV.mediaDir]: deps.config.mediaVolumeDir,
      [SIDECAR_ENV.output]: JSON.stringify(await sidecarOutput(deps, channel)),
      // ENGINE=casparcg: where the sidecar finds its CasparCG Server.
      ...(deps.config.sidecar.casparcg && {
        [SIDECAR_ENV.casparcgHost]: deps.config.sidecar.casparcg.host,
        [SIDECAR_ENV.casparcgPort]: String(deps.config.sidecar.casparcg.port),
        [SIDECAR_ENV.casparcgChannel]: String(deps.config.sidecar.casparcg.channel),
        [SIDECAR_ENV.casparcgLayer]: String(deps.config.sidecar.casparcg.layer),
        [SIDECAR_ENV.casparcgSetMode]: String(deps.config.sidecar.casparcg.setMode),
      }),
    },
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
      data: { status: 'RUNNING', sidecarRef: handle.ref, sidecarUrl: handle.url, startedAt: new Date(), lastHeartbeatAt: new Date() },
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
    if (failed.count > 0) publishChannelEvent(deps, { kind: 'STATUS_CHANGED', channelId, projectId: channel.projectId, message: errorMessage });
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
      const { count } = await db.channel.updateMany({ where: { id: channelId, status: 'ERROR', sidecarRef: null }, data: { status: 'STOPPED', errorMessage: null } });
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
    const { count } = await db.channel.updateMany({ where: { id: channelId, status: 'STOPPING' }, data: { status: 'ERROR', errorMessage } });
    deps.log.warn({ channelId, reason }, 'sidecar stop failed');
    if (count > 0) publishChannelEvent(deps, { kind: 'STATUS_CHANGED', channelId, projectId: channel.projectId, message: errorMessage });
    return db.channel.findUniqueOrThrow({ where: { id: channelId } });
  }
  // STOPPED and the as-run rows still open closed together: no ITEM_ENDED will come for them.
  const { count, closed } = await db.$transaction(async (tx) => {
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
    return { count, closed: count > 0 ? await closeOpenAsRun(tx, channelId, stoppedAt, 'TRUNCATED') : [] };
  });
  if (count > 0) {
    for (const entry of closed) deps.pubsub.publish('asRun', { projectId: channel.projectId, entry });
    // Not awaited: a stop must not wait on Redis. The snapshot goes first (one connection keeps the order).
    new EngineSnapshots(deps.redis, deps.config.queuePrefix).remove(channelId).catch((err: Error) => deps.log.warn({ channelId, err: err.message }, 'engine snapshot not removed'));
    deps.pubsub.publish('engineStatus', channelId, { projectId: channel.projectId, status: toWire(engineState(channelId, null)) });
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
