import { failOver, type FailoverDeps } from '../domain/failover.ts';
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
}

/**
 * Brings what runs in line with the database, node by node: a sidecar whose
 * channel is not on air (or has moved on to another sidecar) is an orphan and
 * goes; a RUNNING channel whose sidecar is missing or dead is failed over at
 * once, as a lost heartbeat would have it a little later. A node whose engine
 * does not answer is skipped: nothing is known about it (its channels' silent
 * heartbeats tell). Sidecars of STARTING channels are left to the start in progress.
 */
export async function reconcile(services: FailoverDeps): Promise<ReconcileResult> {
  const { db, orchestrator, log } = services;
  const result: ReconcileResult = { removed: 0, lost: 0, unreachable: 0 };
  const nodes = await db.clusterNode.findMany({ select: { id: true, hostname: true, dockerHost: true } });
  if (services.config.orchestrator.kind === 'local') {
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
        (err: Error) => log.warn({ channelId: sidecar.channelId, err: err.message }, 'could not remove an orphan sidecar'),
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
  const outcomes = await Promise.allSettled(gone.map((c) => failOver(services, c.id, { kind: 'SIDECAR_GONE', sidecarRef: c.sidecarRef })));
  let lost = 0;
  outcomes.forEach((o, i) => {
    if (o.status === 'rejected') services.log.error({ channelId: gone[i].id, err: String(o.reason) }, 'failover failed unexpectedly');
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
 * Local sidecars are child processes, and die with the process that started
 * them (a restart of `serve`) or by themselves: a RUNNING channel whose
 * sidecar process is gone is failed over. Nothing is removed: no process
 * outlives its parent.
 */
async function failOverDeadLocalSidecars(services: FailoverDeps): Promise<number> {
  const running = await services.db.channel.findMany({ where: { status: 'RUNNING', deletedAt: null }, select: { id: true, sidecarRef: true } });
  const gone = running.filter((channel) => {
    const pid = Number(channel.sidecarRef);
    return !(Number.isInteger(pid) && pid > 0 && alive(pid));
  });
  return failOverAll(services, gone);
}
