import type { AlarmKind } from '../../protocol/sidecar-api.ts';
import type { Services } from '../../services/index.ts';
import type { ChannelEventKind, ChannelEventMessage } from '../../services/pubsub.ts';

export interface ChannelEventInput {
  kind: ChannelEventKind;
  channelId: string;
  /** The channel's project after the change: whose members hear the event. */
  projectId: string | null;
  /** The project the change moved the channel out of, if it did. */
  formerProjectId?: string | null;
  message?: string | null;
  /** The alarm of an ALARM_RAISED or ALARM_CLEARED event. */
  alarm?: AlarmKind | null;
  /** @defaultValue now */
  at?: Date;
}

/**
 * Tells every replica's channelEvents subscribers. Call it after the change
 * committed: a subscriber that reads the channel must find the new state.
 */
export function publishChannelEvent(services: Pick<Services, 'pubsub'>, event: ChannelEventInput): void {
  const message: ChannelEventMessage = {
    kind: event.kind,
    channelId: event.channelId,
    projectId: event.projectId,
    at: (event.at ?? new Date()).toISOString(),
    message: event.message ?? null,
  };
  if (event.alarm) message.alarm = event.alarm;
  if (event.formerProjectId !== undefined && event.formerProjectId !== event.projectId) {
    message.formerProjectId = event.formerProjectId;
  }
  services.pubsub.publish('channelEvents', message);
}
