import type { OutputType } from '../../../prisma/generated/client/enums.ts';
import type { Services } from '../../services/index.ts';
import type { SidecarNode } from '../../services/orchestrator/orchestrator.ts';
import { closeOpenAsRun } from '../as-run/as-run-record.ts';
import { publishChannelEvent } from './channel-events.ts';
import {
  freeSidecarPort,
  hostWidePorts,
  lockNode,
  newSidecarSecret,
  nodeOf,
  sealSidecarSecret,
  spawnSidecar,
  type ClaimedChannel,
} from './channel-lifecycle.ts';
import { lastOnAir, resumePlayback, type OnAirPoint, type ResumeResult } from './playout-resume.ts';
import { pushScheduleOnStart } from '../schedules/schedule-push.ts';

/** What failover needs: the lifecycle's collaborators, the event bus, Redis (engine snapshots) and the sidecar client. */
export type FailoverDeps = Pick<Services, 'db' | 'log' | 'orchestrator' | 'redis' | 'pubsub' | 'sidecars' | 'config'>;

/**
 * Why a RUNNING channel is failed over. Both name the sidecar seen lost, so
 * that a channel restarted meanwhile (by another worker, or by an operator)
 * is never failed over for its predecessor's death.
 */
export type FailoverCause =
  /** No heartbeat for HEARTBEAT_TIMEOUT_MS: checked again in the claim, so a late heartbeat wins. */
  | { kind: 'HEARTBEAT_TIMEOUT'; sidecarRef: string | null }
  /** The node's engine (or this machine) says the sidecar is dead or missing: no need to wait for the timeout. */
  | { kind: 'SIDECAR_GONE'; sidecarRef: string | null };

export type FailoverOutcome =
  /** Not claimed: not RUNNING on that sidecar any more, or its heartbeat came back. */
  | { outcome: 'SKIPPED' }
  | { outcome: 'RESTARTED'; fromNodeId: string | null; toNodeId: string | null; resume: ResumeResult }
  /** Left in ERROR with the reason (DeckLink, a crash loop, or no node could take it). */
  | { outcome: 'ERROR'; reason: string };

/** Best-effort removal of the lost sidecar is bounded: failover must not wait on a hung engine. */
const REMOVE_DEADLINE_MS = 5000;

/**
 * The labels a node needs to take over a channel from another node: its output
 * type's, in lower case (`srt`, `rtmp`, `ndi`). Engineers label the nodes that
 * can reach a stream's destination or the NDI network; a channel's own node
 * needs none (it was placed there).
 */
export function labelsNeeded(outputType: OutputType): string[] {
  return [outputType.toLowerCase()];
}

interface Claimed {
  id: string;
  project_id: string | null;
  node_id: string | null;
  output_type: OutputType;
  sidecar_ref: string | null;
  started_at: Date | null;
  last_heartbeat_at: Date | null;
  status: 'STARTING' | 'ERROR';
  /** ERROR's reason: DeckLink, or a crash loop. */
  error_message: string | null;
  /** The claim's own time: every later write of this failover requires it, so a later claim (a start after ERROR) is never taken over. */
  status_changed_at: Date;
}

type NodeRow = { id: string; hostname: string; docker_host: string | null };

const nodeName = (node: { hostname: string } | null) => (node ? `node ${node.hostname}` : 'this machine');

/** A configured span as operators read it: "10 minutes", "90 seconds", "1500 ms". */
export function describeDuration(ms: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (ms % 60_000 === 0) return plural(ms / 60_000, 'minute');
  if (ms % 1000 === 0) return plural(ms / 1000, 'second');
  return `${ms} ms`;
}

/**
 * Fails a RUNNING channel over after its sidecar was lost. One conditional
 * UPDATE claims it (RUNNING on that sidecar, and for a timeout its heartbeat
 * still stale → STARTING), so of two workers, or a worker and a late
 * heartbeat, one acts. Then: HEARTBEAT_LOST; the lost sidecar removed (best
 * effort); the as-run rows it left open closed TRUNCATED at its last
 * heartbeat; a new sidecar on the same node if it is online, else on the
 * least busy other online node carrying labelsNeeded; restartCount and
 * lastRestartAt bumped; FAILOVER; and the playlist that was on air resumed at
 * the item the schedule has reached. A DeckLink channel is never moved (its
 * cabling is physical): ERROR, for the operators. No node: ERROR with the reason.
 * A channel already failed over FAILOVER_MAX_RESTARTS times within
 * FAILOVER_WINDOW_MS (a sidecar that dies at every start) goes to ERROR in the
 * claim itself, which also records this failover's time (the window's count
 * cannot race).
 */
export async function failOver(deps: FailoverDeps, channelId: string, cause: FailoverCause): Promise<FailoverOutcome> {
  const { db, config } = deps;
  const timeoutSecs = config.heartbeatTimeoutMs / 1000;
  const stale = cause.kind === 'HEARTBEAT_TIMEOUT';
  const lost =
    cause.kind === 'HEARTBEAT_TIMEOUT' ? `no heartbeat from its sidecar for ${timeoutSecs} s` : 'its sidecar is gone';
  const decklinkError = `${lost}: a DeckLink channel is not moved to another node (its cabling is physical); check its node and start it again`;
  const { maxRestarts, windowMs } = config.failover;
  const windowSecs = windowMs / 1000;
  const crashLoopError = `${lost}: restarted ${maxRestarts} times in ${describeDuration(windowMs)}; left stopped for the operators`;
  // Each expression reads the row as it was before this update (the same version the WHERE checked).
  const [claimed] = await db.$queryRaw<Claimed[]>`
    UPDATE channels
       SET status = (CASE WHEN output_type = 'DECKLINK' THEN 'ERROR'
                          WHEN (SELECT count(*) FROM unnest(recent_failovers) AS t
                                 WHERE t > now() - make_interval(secs => ${windowSecs}::float8)) >= ${maxRestarts}::int THEN 'ERROR'
                          ELSE 'STARTING' END)::"ChannelStatus",
           error_message = CASE WHEN output_type = 'DECKLINK' THEN ${decklinkError}::text
                                WHEN (SELECT count(*) FROM unnest(recent_failovers) AS t
                                       WHERE t > now() - make_interval(secs => ${windowSecs}::float8)) >= ${maxRestarts}::int THEN ${crashLoopError}::text
                                ELSE NULL END,
           -- This failover joins the window's, unless it restarts nothing.
           recent_failovers = CASE WHEN output_type = 'DECKLINK'
                                     OR (SELECT count(*) FROM unnest(recent_failovers) AS t
                                          WHERE t > now() - make_interval(secs => ${windowSecs}::float8)) >= ${maxRestarts}::int THEN recent_failovers
                                   ELSE ARRAY(SELECT t FROM unnest(recent_failovers) AS t
                                               WHERE t > now() - make_interval(secs => ${windowSecs}::float8) ORDER BY t) || now()::timestamptz(3)
                              END,
           updated_at = now()
     WHERE id = ${channelId}::uuid AND status = 'RUNNING' AND deleted_at IS NULL
       AND sidecar_ref IS NOT DISTINCT FROM ${cause.sidecarRef}::text
       AND (NOT ${stale}::boolean OR last_heartbeat_at IS NULL
            OR last_heartbeat_at < now() - make_interval(secs => ${timeoutSecs}::float8))
    RETURNING id, project_id, node_id, output_type, sidecar_ref, started_at, last_heartbeat_at, status::text AS status,
              error_message, status_changed_at`;
  if (!claimed) return { outcome: 'SKIPPED' };
  try {
    return await afterClaim(deps, claimed, lost);
  } catch (err) {
    // Nothing else moves a STARTING channel on soon (reconciliation only after LIFECYCLE_STUCK_MS): never leave it there.
    const reason = `failover failed: ${err instanceof Error ? err.message : String(err)}`;
    const { count } = await db.channel.updateMany({
      where: { id: channelId, status: 'STARTING', statusChangedAt: claimed.status_changed_at },
      data: { status: 'ERROR', errorMessage: reason },
    });
    if (count > 0)
      publishChannelEvent(deps, { kind: 'STATUS_CHANGED', channelId, projectId: claimed.project_id, message: reason });
    throw err;
  }
}

async function afterClaim(deps: FailoverDeps, claimed: Claimed, lost: string): Promise<FailoverOutcome> {
  const { db, log } = deps;
  const channelId = claimed.id;
  // STATUS_CHANGED carries the reason of an ERROR, as a start's does; the channel says the rest.
  const event = (kind: 'HEARTBEAT_LOST' | 'FAILOVER' | 'STATUS_CHANGED', message: string | null) =>
    publishChannelEvent(deps, { kind, channelId, projectId: claimed.project_id, message });
  const oldNode = claimed.node_id
    ? await db.clusterNode.findUnique({
        where: { id: claimed.node_id },
        select: { id: true, hostname: true, dockerHost: true },
      })
    : null;
  log.warn({ channelId, lost, node: oldNode?.hostname ?? null }, 'channel lost its sidecar');
  event('HEARTBEAT_LOST', `${lost} on ${nodeName(oldNode)}`);
  event('STATUS_CHANGED', claimed.status === 'ERROR' ? claimed.error_message : 'failing over');

  // Read before the as-run rows are closed: the open row is the fallback record of what was on air.
  const onAir =
    claimed.status === 'ERROR'
      ? null
      : await lastOnAir(deps, {
          id: channelId,
          startedAt: claimed.started_at,
          lastHeartbeatAt: claimed.last_heartbeat_at,
        });
  const closed = await closeOpenAsRun(
    db,
    channelId,
    claimed.last_heartbeat_at ?? new Date(),
    'TRUNCATED',
    `sidecar lost: ${lost}`,
  );
  for (const entry of closed) deps.pubsub.publish('asRun', { projectId: claimed.project_id, entry });
  const removed = await removeLostSidecar(deps, channelId, claimed.sidecar_ref, oldNode);

  if (claimed.status === 'ERROR') {
    // The device and port are free again once its sidecar is gone; otherwise stopChannel finishes the removal.
    if (removed) {
      await db.channel.updateMany({
        where: { id: channelId, status: 'ERROR', sidecarRef: claimed.sidecar_ref },
        data: { sidecarRef: null, sidecarUrl: null, sidecarPort: null, sidecarSecret: null },
      });
    }
    log.warn({ channelId, reason: claimed.error_message }, 'channel left in ERROR instead of failed over');
    return { outcome: 'ERROR', reason: claimed.error_message ?? lost };
  }
  return restart(deps, claimed, oldNode, removed, onAir, event);
}

/** Stops and removes the lost sidecar, bounded by REMOVE_DEADLINE_MS; true when it is known gone. */
export async function removeLostSidecar(
  deps: FailoverDeps,
  channelId: string,
  ref: string | null,
  node: SidecarNode | null,
): Promise<boolean> {
  if (!ref) return true;
  const stop = deps.orchestrator.stop(channelId, ref, node).then(
    () => true,
    (err: Error) => {
      deps.log.warn(
        { channelId, ref, err: err.message },
        'could not remove the lost sidecar (reconciliation removes it once its node answers)',
      );
      return false;
    },
  );
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), REMOVE_DEADLINE_MS).unref());
  return Promise.race([stop, timeout]);
}

/** The nodes to try, in order: the channel's own if online, then the other online nodes with the labels it needs, least busy first. */
async function candidates(
  deps: FailoverDeps,
  claimed: Claimed,
  oldNode: SidecarNode | null,
): Promise<{ nodes: (SidecarNode | null)[]; needed: string[] }> {
  const { db, orchestrator } = deps;
  const needed = labelsNeeded(claimed.output_type);
  const sameOnline = oldNode
    ? ((await db.clusterNode.findUnique({ where: { id: oldNode.id }, select: { online: true } }))?.online ?? false)
    : await orchestrator.ping(null);
  const others = await db.$queryRaw<NodeRow[]>`
    SELECT n.id, n.hostname, n.docker_host FROM cluster_nodes n
     WHERE n.online AND n.labels @> ${needed}::text[] AND n.id IS DISTINCT FROM ${claimed.node_id}::uuid
     ORDER BY (SELECT count(*) FROM channels c
                WHERE c.node_id = n.id AND c.deleted_at IS NULL AND c.status IN ('STARTING', 'RUNNING', 'STOPPING')),
              n.last_seen_at DESC NULLS LAST, n.hostname`;
  const nodes: (SidecarNode | null)[] = others.map((n) => ({
    id: n.id,
    hostname: n.hostname,
    dockerHost: n.docker_host,
  }));
  if (sameOnline) nodes.unshift(oldNode);
  return { nodes, needed };
}

/**
 * Places the claimed (STARTING) channel on `node` under the node's lock, with
 * a free port there and a fresh sidecar secret. Null: the channel is no
 * longer STARTING (stopped or deleted meanwhile).
 */
async function place(
  deps: FailoverDeps,
  claimed: Claimed,
  node: SidecarNode | null,
  secret: string,
): Promise<ClaimedChannel | null> {
  const channelId = claimed.id;
  return deps.db.$transaction(async (tx) => {
    await lockNode(tx, node?.id ?? null, hostWidePorts(deps));
    const port = await freeSidecarPort(tx, node?.id ?? null, deps.config.sidecar, { hostWide: hostWidePorts(deps) });
    const [placed] = await tx.channel.updateManyAndReturn({
      where: { id: channelId, status: 'STARTING', statusChangedAt: claimed.status_changed_at },
      data: {
        nodeId: node?.id ?? null,
        sidecarPort: port,
        sidecarSecret: sealSidecarSecret(deps.config.secretKey, channelId, secret),
        sidecarRef: null,
        sidecarUrl: null,
        sidecarEpoch: null,
        sidecarSeq: 0,
      },
      include: { node: true },
    });
    return placed ?? null;
  });
}

async function restart(
  deps: FailoverDeps,
  claimed: Claimed,
  oldNode: SidecarNode | null,
  oldRemoved: boolean,
  onAir: OnAirPoint | null,
  event: (kind: 'FAILOVER' | 'STATUS_CHANGED', message: string | null) => void,
): Promise<FailoverOutcome> {
  const { db, log } = deps;
  const channelId = claimed.id;
  const { nodes, needed } = await candidates(deps, claimed, oldNode);
  const failures: string[] = [];
  let placedAnywhere = false;
  for (const node of nodes) {
    const secret = newSidecarSecret();
    let placed: ClaimedChannel | null;
    try {
      placed = await place(deps, claimed, node, secret);
    } catch (err) {
      failures.push(`${nodeName(node)}: ${(err as Error).message}`);
      continue;
    }
    if (!placed) return { outcome: 'SKIPPED' };
    placedAnywhere = true;
    let handle: Awaited<ReturnType<typeof spawnSidecar>>;
    try {
      handle = await spawnSidecar(deps, placed, secret);
    } catch (err) {
      failures.push(`${nodeName(node)}: ${(err as Error).message}`);
      continue;
    }
    const now = new Date();
    const { count } = await db.channel.updateMany({
      where: { id: channelId, status: 'STARTING', statusChangedAt: claimed.status_changed_at },
      data: {
        status: 'RUNNING',
        errorMessage: null,
        sidecarRef: handle.ref,
        sidecarUrl: handle.url,
        startedAt: now,
        lastHeartbeatAt: now,
        restartCount: { increment: 1 },
        lastRestartAt: now,
      },
    });
    if (count === 0) {
      await deps.orchestrator.stop(channelId, handle.ref, nodeOf(placed)).catch(() => {});
      return { outcome: 'SKIPPED' };
    }
    event('STATUS_CHANGED', null);
    const resume = await resumePlayback(deps, channelId, { url: handle.url, secret }, onAir);
    // After a manual playlist's resume, so that the schedule comes back suspended under it, as it was.
    const scheduled = await pushScheduleOnStart(deps, channelId);
    const where =
      node?.id === oldNode?.id
        ? `restarted on ${nodeName(node)}`
        : `moved from ${nodeName(oldNode)} to ${nodeName(node)}`;
    const playout = resume.resumed
      ? `resumed playlist ${resume.playlistId} at item ${resume.itemId}, ${(resume.offsetMs / 1000).toFixed(1)} s in${resume.paused ? ', paused' : ''}`
      : scheduled === 'sent' || scheduled === 'superseded'
        ? 'the schedule joined in progress'
        : `playback not resumed: ${resume.why}`;
    log.info(
      { channelId, from: oldNode?.hostname ?? null, to: node?.hostname ?? null, resumed: resume.resumed },
      'channel failed over',
    );
    event('FAILOVER', `${where}; ${playout}`);
    return { outcome: 'RESTARTED', fromNodeId: oldNode?.id ?? null, toNodeId: node?.id ?? null, resume };
  }

  const reason =
    nodes.length === 0
      ? `failover found no node: ${nodeName(oldNode)} is offline and no other online node is labelled ${needed.join(', ')}`
      : `failover could not restart it: ${failures.join('; ')}`;
  // Back on its own node; the lost sidecar's reference stays while it may still run, for stopChannel to remove.
  const keepLost = !placedAnywhere && !oldRemoved;
  const { count } = await db.channel.updateMany({
    where: { id: channelId, status: 'STARTING', statusChangedAt: claimed.status_changed_at },
    data: {
      status: 'ERROR',
      errorMessage: reason,
      nodeId: claimed.node_id,
      ...(keepLost ? {} : { sidecarRef: null, sidecarUrl: null, sidecarPort: null, sidecarSecret: null }),
    },
  });
  if (count === 0) return { outcome: 'SKIPPED' };
  log.warn({ channelId, reason }, 'failover failed');
  event('STATUS_CHANGED', reason);
  return { outcome: 'ERROR', reason };
}
