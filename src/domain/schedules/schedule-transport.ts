import type { Status } from '../../protocol/sidecar-api.ts';
import { ErrorCode, OnairError, conflict } from '../../errors.ts';
import { requireChannel } from '../channels/channels.ts';
import { engineState, type EngineState } from '../channels/engine-status.ts';
import { targetOf } from '../channels/transport.ts';
import type { DomainContext } from '../shared/context.ts';
import { parseId } from '../shared/ids.ts';

/**
 * An operator's hand on a running schedule (docs/schedule.md, precedence):
 * take a MANUAL event that holds, or give the channel back to the schedule
 * after manual play. The sidecar decides, by its own clock; its refusals are
 * CONFLICT. OPERATOR and up, as the transport commands.
 */

/** The sidecar's answer as the channel's engine status, remembered for the next read. */
function answered(ctx: DomainContext, channel: { id: string; sidecarUrl: string | null }, status: Status) {
  const state = engineState(channel.id, status);
  ctx.services.engineReads.remember(state, channel.sidecarUrl);
  return state;
}

/**
 * takeScheduleEvent: the MANUAL event goes to air at the next frame the
 * engine can make, cutting what plays. NOT_FOUND (field eventId) for an event
 * not in the channel's schedule; CONFLICT (with eventId) for one that is not
 * MANUAL, or that the sidecar cannot take now (not holding, suspended, its
 * schedule not yet the one that has it).
 */
export async function takeScheduleEvent(
  ctx: DomainContext,
  rawChannelId: string,
  rawEventId: string,
): Promise<EngineState> {
  const channel = await requireChannel(ctx, 'channelId', rawChannelId, 'OPERATOR');
  const eventId = parseId('eventId', rawEventId);
  const event = await ctx.db.scheduleEvent.findFirst({
    where: { id: eventId, channelId: channel.id },
    select: { trigger: true },
  });
  if (!event) throw new OnairError(ErrorCode.NOT_FOUND, 'schedule event not found', { field: 'eventId' });
  if (event.trigger !== 'MANUAL')
    throw conflict(`schedule event ${eventId} is ${event.trigger}: only a MANUAL event is taken`, { eventId });
  const target = targetOf(ctx, channel);
  let status: Status;
  try {
    status = await ctx.services.sidecars.takeScheduleEvent(target, eventId);
  } catch (err) {
    ctx.services.engineReads.forget(channel.id);
    if (err instanceof OnairError && err.extensions.code === ErrorCode.CONFLICT)
      throw conflict(`schedule event ${eventId} cannot be taken now: ${err.message}`, { eventId });
    throw err;
  }
  await recordTake(ctx, channel.id, eventId, status);
  return answered(ctx, channel, status);
}

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

/**
 * Keeps a take the sidecar accepted, so the API's reads (day, now and next)
 * plan it as the sidecar does: once per event, and only while it is MANUAL
 * (one conditional update). The sidecar is not sent the schedule again: it
 * has the take, which a new version of the schedule keeps while the event
 * stays MANUAL. The schedule's count of takes moves, not its version.
 */
async function recordTake(ctx: DomainContext, channelId: string, eventId: string, status: Status): Promise<void> {
  const at = takenAt(status, eventId);
  if (!at) {
    ctx.services.log.warn({ channelId, eventId }, 'take accepted without its instant: reads show the event holding');
    return;
  }
  await ctx.db.$transaction(async (tx) => {
    const taken = await tx.$executeRaw`
      UPDATE schedule_events SET taken_at = ${at}, updated_at = now()
       WHERE id = ${eventId}::uuid AND channel_id = ${channelId}::uuid AND trigger = 'MANUAL' AND taken_at IS NULL`;
    if (taken === 1) await tx.$executeRaw`UPDATE schedules SET takes = takes + 1 WHERE channel_id = ${channelId}::uuid`;
  });
}

/**
 * resumeSchedule: the schedule takes the channel back from manual play,
 * joining where the wall clock is. CONFLICT when it is not suspended (or the
 * channel has no schedule on its sidecar).
 */
export async function resumeSchedule(ctx: DomainContext, rawChannelId: string): Promise<EngineState> {
  const channel = await requireChannel(ctx, 'channelId', rawChannelId, 'OPERATOR');
  const target = targetOf(ctx, channel);
  try {
    return answered(ctx, channel, await ctx.services.sidecars.resumeSchedule(target));
  } catch (err) {
    ctx.services.engineReads.forget(channel.id);
    throw err;
  }
}
