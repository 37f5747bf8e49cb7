import { closeOpenAsRun, type AsRunRecord } from '../domain/as-run/as-run-record.ts';
import { publishChannelEvent } from '../domain/channels/channel-events.ts';
import { EngineSnapshots, engineState, toWire } from '../domain/channels/engine-status.ts';
import { describeDuration, failOver, removeLostSidecar, type FailoverDeps } from '../domain/channels/failover.ts';
import type { SidecarNode } from '../services/orchestrator/orchestrator.ts';

/** Channel states in which a sidecar should exist. */
const ACTIVE = ['STARTING', 'RUNNING', 'STOPPING'] as const;

export interface ReconcileResult {
  /** Sidecars no channel claims, stopped and removed. */
  removed: number;
  /** RUNNING channels whose sidecar is gone, failed over (restarted, or ERROR with the reason). */
  lost: number;
  /** Nodes whose engine did not answer (left alone until it does). */
  unreachable: number;
  /** Channels STARTING or STOPPING for LIFECYCLE_STUCK_MS (their process died mid-way), moved to ERROR. */
  interrupted: number;
}

/**
 * Brings what runs in line with the database, node by node: a sidecar whose
 * channel is not on air (or has moved on to another sidecar) is an orphan and
 * goes; a RUNNING channel whose sidecar is missing or dead is failed over at
 * once, as a lost heartbeat would have it a little later. A node whose engine
 * does not answer is skipped: nothing is known about it (its channels' silent
 * heartbeats tell). Sidecars of STARTING channels are left to the start in progress,
 * unless it has lasted LIFECYCLE_STUCK_MS: then the channel goes to ERROR first
 * (recoverInterrupted), and a sidecar it left behind is an orphan like any other.
 */
export async function reconcile(services: FailoverDeps): Promise<ReconcileResult> {
  const { db, orchestrator, log } = services;
  const result: ReconcileResult = {
    removed: 0,
    lost: 0,
    unreachable: 0,
    interrupted: await recoverInterrupted(services),
  };
  const nodes = await db.clusterNode.findMany({ select: { id: true, hostname: true, dockerHost: true } });
  if (services.config.orchestrator.kind === 'local') {
    result.removed = await removeLocalOrphans(services);
    result.lost = await failOverDeadLocalSidecars(services);
    return result;
  }
  const gone: { id: string; sidecarRef: string | null }[] = [];
  const targets: (SidecarNode | null)[] = [null, ...nodes];
  for (const node of targets) {
    if (!(await orchestrator.ping(node))) {
      result.unreachable += 1;
      continue;
    }
    const running = await orchestrator.list(node).catch(() => null);
    if (!running) {
      result.unreachable += 1;
      continue;
    }
    const channels = await db.channel.findMany({
      where: { nodeId: node?.id ?? null, OR: [{ status: { in: [...ACTIVE] } }, { sidecarRef: { not: null } }] },
      select: { id: true, status: true, sidecarRef: true },
    });
    const byId = new Map(channels.map((c) => [c.id, c]));
    for (const sidecar of running) {
      const channel = byId.get(sidecar.channelId);
      if (channel?.status === 'STARTING') continue;
      if (channel && channel.sidecarRef === sidecar.ref) continue;
      await orchestrator.stop(sidecar.channelId, sidecar.ref, node).then(
        () => {
          result.removed += 1;
          log.info({ channelId: sidecar.channelId, ref: sidecar.ref }, 'removed an orphan sidecar');
        },
        (err: Error) =>
          log.warn({ channelId: sidecar.channelId, err: err.message }, 'could not remove an orphan sidecar'),
      );
    }
    const alive = new Set(running.filter((s) => s.running).map((s) => s.ref));
    for (const channel of channels) {
      if (channel.status !== 'RUNNING' || (channel.sidecarRef && alive.has(channel.sidecarRef))) continue;
      gone.push(channel);
    }
  }
  result.lost = await failOverAll(services, gone);
  return result;
}

/** Fails the channels over side by side; counts those claimed (not taken meanwhile by another worker or a restart). */
async function failOverAll(services: FailoverDeps, gone: { id: string; sidecarRef: string | null }[]): Promise<number> {
  const outcomes = await Promise.allSettled(
    gone.map((c) => failOver(services, c.id, { kind: 'SIDECAR_GONE', sidecarRef: c.sidecarRef })),
  );
  let lost = 0;
  outcomes.forEach((o, i) => {
    if (o.status === 'rejected')
      services.log.error({ channelId: gone[i].id, err: String(o.reason) }, 'failover failed unexpectedly');
    else if (o.value.outcome !== 'SKIPPED') lost += 1;
  });
  return lost;
}

/** Whether a process of this machine still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Local sidecars run on this machine whatever their channel's node; those a
 * killed control plane left are listed from the run dir. One that no channel
 * claims (its channel stopped, failed over or gone to ERROR meanwhile) is
 * stopped, by its verified pid. Sidecars of STARTING channels are left to the
 * start in progress.
 */
async function removeLocalOrphans(services: FailoverDeps): Promise<number> {
  const { db, orchestrator, log } = services;
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const running = (await orchestrator.list(null).catch(() => [])).filter((s) => uuid.test(s.channelId));
  if (running.length === 0) return 0;
  const channels = await db.channel.findMany({
    where: { id: { in: running.map((s) => s.channelId) } },
    select: { id: true, status: true, sidecarRef: true },
  });
  const byId = new Map(channels.map((c) => [c.id, c]));
  let removed = 0;
  for (const sidecar of running) {
    const channel = byId.get(sidecar.channelId);
    if (channel?.status === 'STARTING') continue;
    if (channel && channel.sidecarRef === sidecar.ref) continue;
    await orchestrator.stop(sidecar.channelId, sidecar.ref, null).then(
      () => {
        removed += 1;
        log.info({ channelId: sidecar.channelId, ref: sidecar.ref }, 'removed an orphan sidecar');
      },
      (err: Error) =>
        log.warn({ channelId: sidecar.channelId, err: err.message }, 'could not remove an orphan sidecar'),
    );
  }
  return removed;
}

/**
 * A RUNNING channel whose local sidecar process is gone (it died by itself,
 * or with a machine restart) is failed over.
 */
async function failOverDeadLocalSidecars(services: FailoverDeps): Promise<number> {
  const running = await services.db.channel.findMany({
    where: { status: 'RUNNING', deletedAt: null },
    select: { id: true, sidecarRef: true },
  });
  const gone = running.filter((channel) => {
    const pid = Number(channel.sidecarRef);
    return !(Number.isInteger(pid) && pid > 0 && alive(pid));
  });
  return failOverAll(services, gone);
}

interface StuckChannel {
  id: string;
  project_id: string | null;
  status: 'STARTING' | 'STOPPING';
  status_changed_at: Date;
  sidecar_ref: string | null;
  last_heartbeat_at: Date | null;
  node_id: string | null;
  hostname: string | null;
  docker_host: string | null;
}

/**
 * STARTING and STOPPING are claims that the process making them moves on;
 * one that dies between the claim and the end (a crash during a start, a
 * stop or a failover) leaves the channel there, where starts and stops are
 * refused. Such a channel, once its status is LIFECYCLE_STUCK_MS old, goes to
 * ERROR with the reason, so that an operator can start or stop it again.
 */
async function recoverInterrupted(services: FailoverDeps): Promise<number> {
  const stuck = await services.db.$queryRaw<StuckChannel[]>`
    SELECT c.id, c.project_id, c.status::text AS status, c.status_changed_at, c.sidecar_ref, c.last_heartbeat_at,
           n.id AS node_id, n.hostname, n.docker_host
      FROM channels c LEFT JOIN cluster_nodes n ON n.id = c.node_id
     WHERE c.status IN ('STARTING', 'STOPPING')
       AND c.status_changed_at < now() - make_interval(secs => ${services.config.lifecycleStuckMs / 1000}::float8)`;
  const outcomes = await Promise.allSettled(stuck.map((channel) => recoverOne(services, channel)));
  let recovered = 0;
  outcomes.forEach((o, i) => {
    if (o.status === 'rejected')
      services.log.error({ channelId: stuck[i].id, err: String(o.reason) }, 'interrupted lifecycle not recovered');
    else if (o.value) recovered += 1;
  });
  return recovered;
}

/** Removes what sidecar the channel had (best effort), then ERROR if it is still the same claim; true when moved. */
async function recoverOne(services: FailoverDeps, channel: StuckChannel): Promise<boolean> {
  const { db, log, config } = services;
  const node: SidecarNode | null = channel.node_id
    ? { id: channel.node_id, hostname: channel.hostname as string, dockerHost: channel.docker_host }
    : null;
  // A start's sidecar has no reference until it runs: reconciliation removes it as an orphan once the channel is ERROR.
  const removed = await removeLostSidecar(services, channel.id, channel.sidecar_ref, node);
  const verb = channel.status === 'STARTING' ? 'start' : 'stop';
  const reason =
    `${verb} interrupted: ${channel.status} for over ${describeDuration(config.lifecycleStuckMs)} (the process doing it stopped or hung); ` +
    (removed ? `${verb} it again` : `its sidecar could not be removed and may still run: stop it to remove it`);
  const at = channel.last_heartbeat_at ?? new Date();
  const moved = await db.$transaction(async (tx) => {
    // The status and the time it was set, as seen: a start, stop or failover that finished meanwhile wins.
    const [row] = await tx.$queryRaw<{ project_id: string | null }[]>`
      UPDATE channels
         SET status = 'ERROR', error_message = ${reason},
             sidecar_ref = CASE WHEN ${removed}::boolean THEN NULL ELSE sidecar_ref END,
             sidecar_url = CASE WHEN ${removed}::boolean THEN NULL ELSE sidecar_url END,
             sidecar_port = CASE WHEN ${removed}::boolean THEN NULL ELSE sidecar_port END,
             sidecar_secret = CASE WHEN ${removed}::boolean THEN NULL ELSE sidecar_secret END,
             updated_at = now()
       WHERE id = ${channel.id}::uuid AND status = ${channel.status}::"ChannelStatus"
         AND status_changed_at = ${channel.status_changed_at}::timestamptz
      RETURNING project_id`;
    if (!row) return null;
    // No ITEM_ENDED will come for what was on air: it ends at the last heartbeat, as in a failover.
    const closed: AsRunRecord[] = await closeOpenAsRun(tx, channel.id, at, 'TRUNCATED', `${verb} interrupted`);
    return { projectId: row.project_id, closed };
  });
  if (!moved) return false;
  log.warn(
    { channelId: channel.id, status: channel.status, since: channel.status_changed_at, removed },
    'interrupted start or stop: channel moved to ERROR',
  );
  for (const entry of moved.closed) services.pubsub.publish('asRun', { projectId: moved.projectId, entry });
  // Its engine status said what the lost sidecar last played: subscribers now see no engine.
  new EngineSnapshots(services.redis, config.queuePrefix)
    .remove(channel.id)
    .catch((err: Error) => log.warn({ channelId: channel.id, err: err.message }, 'engine snapshot not removed'));
  services.pubsub.publish('engineStatus', channel.id, {
    projectId: moved.projectId,
    status: toWire(engineState(channel.id, null)),
  });
  publishChannelEvent(services, {
    kind: 'STATUS_CHANGED',
    channelId: channel.id,
    projectId: moved.projectId,
    message: reason,
  });
  return true;
}
