import type { Status } from '../../protocol/sidecar-api.ts';
import { ErrorCode, OnairError, conflict } from '../../errors.ts';
import { requireChannel } from '../channels/channels.ts';
import { engineState, type EngineState } from '../channels/engine-status.ts';
import { targetOf } from '../channels/transport.ts';
import type { DomainContext } from '../shared/context.ts';
import { parseId } from '../shared/ids.ts';
import { recordTake } from './schedule-operator.ts';

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
