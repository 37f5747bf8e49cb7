import type { Services } from '../services/index.ts';
import type { SidecarNode } from '../services/orchestrator/orchestrator.ts';

/** Channel states in which a sidecar should exist. */
const ACTIVE = ['STARTING', 'RUNNING', 'STOPPING'] as const;

export interface ReconcileResult {
  /** Sidecars no channel claims, stopped and removed. */
  removed: number;
  /** RUNNING channels whose sidecar is gone, marked ERROR. */
  lost: number;
  /** Nodes whose engine did not answer (left alone until it does). */
  unreachable: number;
}

/**
 * Brings what runs in line with the database, node by node: a sidecar whose
 * channel is not on air (or has moved on to another sidecar) is an orphan and
 * goes; a RUNNING channel whose sidecar is missing or dead is marked ERROR for
 * the operators (failover acts on it). A node whose engine does not answer is
 * skipped: nothing is known about it. Sidecars of STARTING channels are left
 * to the start in progress.
 */
export async function reconcile(services: Pick<Services, 'db' | 'orchestrator' | 'log' | 'config'>): Promise<ReconcileResult> {
  const { db, orchestrator, log } = services;
  const result: ReconcileResult = { removed: 0, lost: 0, unreachable: 0 };
  const nodes = await db.clusterNode.findMany({ select: { id: true, hostname: true, dockerHost: true } });
  if (services.config.orchestrator.kind === 'local') {
    result.lost = await markDeadLocalSidecars(services);
    return result;
  }
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
      const { count } = await db.channel.updateMany({
        where: { id: channel.id, status: 'RUNNING', sidecarRef: channel.sidecarRef },
        data: { status: 'ERROR', errorMessage: 'its sidecar is gone' },
      });
      result.lost += count;
    }
  }
  return result;
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
 * them (a restart of `serve`): a RUNNING channel whose sidecar process is gone
 * is marked ERROR. Nothing is removed: no process outlives its parent.
 */
async function markDeadLocalSidecars(services: Pick<Services, 'db'>): Promise<number> {
  const running = await services.db.channel.findMany({ where: { status: 'RUNNING' }, select: { id: true, sidecarRef: true } });
  let lost = 0;
  for (const channel of running) {
    const pid = Number(channel.sidecarRef);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
    const { count } = await services.db.channel.updateMany({
      where: { id: channel.id, status: 'RUNNING', sidecarRef: channel.sidecarRef },
      data: { status: 'ERROR', errorMessage: 'its sidecar is gone' },
    });
    lost += count;
  }
  return lost;
}
