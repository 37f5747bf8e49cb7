import type { Status } from '../../protocol/sidecar-api.ts';
import type { ScheduleChangeKind } from '../../services/pubsub.ts';
import type { DomainContext } from '../shared/context.ts';

/**
 * What an operator's hand on a running schedule leaves in the control plane:
 * the sidecar decided the instant (a take, a skip), and the control plane
 * keeps it so the API's reads (day, now and next) plan it as the sidecar does
 * and a sidecar started elsewhere (failover) is sent it. Neither moves the
 * schedule's version (the sidecar already has it); `schedules.operator_actions` counts
 * both, keying the read cache, and `scheduleChanged` tells consoles.
 */

/**
 * The sidecar's instant of a take it accepted: the event is the next to start
 * (the cut is a moment ahead) or, answered late, already on air.
 */
function takenAt(status: Status, eventId: string): Date | null {
  const schedule = status.schedule;
  const at =
    schedule?.nextEvent?.eventId === eventId
      ? schedule.nextEvent.plannedStartAt
      : schedule?.onAir?.eventId === eventId
        ? schedule.onAir.plannedStartAt
        : null;
  return at === null ? null : new Date(at);
}

/** Keeps a take the sidecar accepted: once per event, and only while it is MANUAL (one conditional update). */
export async function recordTake(
  ctx: DomainContext,
  channelId: string,
  eventId: string,
  status: Status,
): Promise<void> {
  const at = takenAt(status, eventId);
  if (!at) {
    ctx.services.log.warn({ channelId, eventId }, 'take accepted without its instant: reads show the event holding');
    return;
  }
  const recorded = await ctx.db.$transaction(async (tx) => {
    const taken = await tx.$executeRaw`
      UPDATE schedule_events SET taken_at = ${at}, updated_at = now()
       WHERE id = ${eventId}::uuid AND channel_id = ${channelId}::uuid AND trigger = 'MANUAL' AND taken_at IS NULL`;
    if (taken === 0) return null;
    return tx.$queryRaw<{ version: number; project_id: string | null }[]>`
      UPDATE schedules s SET operator_actions = operator_actions + 1 FROM channels c
       WHERE s.channel_id = ${channelId}::uuid AND c.id = s.channel_id RETURNING s.version, c.project_id`;
  });
  if (recorded?.[0]) publish(ctx, channelId, recorded[0], 'EVENT_TAKEN', [eventId]);
}

/**
 * Keeps the skips the sidecar reports (its status after a skip): those not
 * recorded yet, each once (a conditional update per event; a sidecar holds
 * few). Skips of events no longer in the schedule change nothing.
 */
export async function recordSkips(ctx: DomainContext, channelId: string, status: Status): Promise<void> {
  const skipped = Object.entries(status.schedule?.skipped ?? {});
  if (skipped.length === 0) return;
  const recorded = await ctx.db.$transaction(async (tx) => {
    const ids: string[] = [];
    for (const [eventId, at] of skipped) {
      const n = await tx.$executeRaw`
        UPDATE schedule_events SET skipped_at = ${new Date(at)}, updated_at = now()
         WHERE id::text = ${eventId} AND channel_id = ${channelId}::uuid AND skipped_at IS NULL`;
      if (n === 1) ids.push(eventId);
    }
    if (ids.length === 0) return null;
    const rows = await tx.$queryRaw<{ version: number; project_id: string | null }[]>`
      UPDATE schedules s SET operator_actions = operator_actions + ${ids.length} FROM channels c
       WHERE s.channel_id = ${channelId}::uuid AND c.id = s.channel_id RETURNING s.version, c.project_id`;
    return rows[0] ? { row: rows[0], ids } : null;
  });
  if (recorded) publish(ctx, channelId, recorded.row, 'EVENT_SKIPPED', recorded.ids);
}

function publish(
  ctx: DomainContext,
  channelId: string,
  row: { version: number; project_id: string | null },
  kind: ScheduleChangeKind,
  eventIds: string[],
): void {
  ctx.services.pubsub.publish('scheduleChanged', channelId, {
    channelId,
    projectId: row.project_id,
    version: row.version,
    kind,
    eventIds,
    at: new Date().toISOString(),
  });
}
