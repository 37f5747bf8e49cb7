import type { Services } from '../services/index.ts';

export interface NodeHealthResult {
  /** Nodes whose engine answered this tick. */
  answered: number;
  /** Nodes that went offline this tick (silent for NODE_OFFLINE_AFTER_MS). */
  wentOffline: number;
  /** Nodes that came (back) online this tick. */
  cameOnline: number;
}

/**
 * One tick of node health: pings every node's engine at once. A node that
 * answers is online with lastSeenAt now; one that has not answered for
 * NODE_OFFLINE_AFTER_MS goes offline, so one lost ping does not move its
 * channels. Each write is one conditional statement, so two workers ticking
 * at once agree.
 *
 * With the local orchestrator every sidecar runs on this machine whatever node
 * its channel names: a node is a record, and its ping answers while onair runs.
 */
export async function checkNodes(
  services: Pick<Services, 'db' | 'orchestrator' | 'config'>,
): Promise<NodeHealthResult> {
  const { db, orchestrator, config } = services;
  const nodes = await db.clusterNode.findMany({ select: { id: true, hostname: true, dockerHost: true } });
  const result: NodeHealthResult = { answered: 0, wentOffline: 0, cameOnline: 0 };
  await Promise.all(
    nodes.map(async (node) => {
      if (await orchestrator.ping(node)) {
        result.answered += 1;
        const [row] = await db.$queryRaw<{ was_online: boolean }[]>`
          UPDATE cluster_nodes n SET online = true, last_seen_at = now()
            FROM cluster_nodes before WHERE n.id = ${node.id}::uuid AND before.id = n.id
          RETURNING before.online AS was_online`;
        if (row && !row.was_online) result.cameOnline += 1;
        return;
      }
      const count = await db.$executeRaw`
        UPDATE cluster_nodes SET online = false
         WHERE id = ${node.id}::uuid AND online
           AND (last_seen_at IS NULL OR last_seen_at < now() - make_interval(secs => ${config.nodeOfflineAfterMs / 1000}::float8))`;
      result.wentOffline += count;
    }),
  );
  return result;
}
