import { failOver, type FailoverDeps, type FailoverOutcome } from '../domain/channels/failover.ts';

export interface HeartbeatTimeoutsResult {
  /** RUNNING channels found with a heartbeat older than HEARTBEAT_TIMEOUT_MS. */
  stale: number;
  restarted: number;
  /** Left in ERROR (DeckLink, no node could take them, or FAILOVER_MAX_RESTARTS reached within FAILOVER_WINDOW_MS). */
  failed: number;
}

/**
 * One tick of the heartbeat check: every RUNNING channel whose sidecar has
 * not answered the event reader for HEARTBEAT_TIMEOUT_MS is failed over, all
 * at once (one lost node must not put its channels back on air one after the
 * other). failOver's claim checks the heartbeat again, so a channel whose
 * heartbeat arrives meanwhile, or that another worker took, is left alone.
 */
export async function failOverSilentChannels(deps: FailoverDeps): Promise<HeartbeatTimeoutsResult> {
  const stale = await deps.db.$queryRaw<{ id: string; sidecar_ref: string | null }[]>`
    SELECT id, sidecar_ref FROM channels
     WHERE status = 'RUNNING' AND deleted_at IS NULL
       AND (last_heartbeat_at IS NULL
            OR last_heartbeat_at < now() - make_interval(secs => ${deps.config.heartbeatTimeoutMs / 1000}::float8))`;
  const outcomes = await Promise.allSettled(
    stale.map((c) => failOver(deps, c.id, { kind: 'HEARTBEAT_TIMEOUT', sidecarRef: c.sidecar_ref })),
  );
  const result: HeartbeatTimeoutsResult = { stale: stale.length, restarted: 0, failed: 0 };
  outcomes.forEach((o, i) => {
    if (o.status === 'rejected') {
      deps.log.error({ channelId: stale[i].id, err: String(o.reason) }, 'failover failed unexpectedly');
      result.failed += 1;
      return;
    }
    const outcome: FailoverOutcome = o.value;
    if (outcome.outcome === 'RESTARTED') result.restarted += 1;
    if (outcome.outcome === 'ERROR') result.failed += 1;
  });
  return result;
}
