import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import type { AsRunStatus, MediaStatus } from '../../prisma/generated/client/enums.ts';
import type { EngineStateWire } from '../domain/channels/engine-status.ts';
import type { AlarmKind } from '../protocol/sidecar-api.ts';

/** A change of an asset's staging: every item of the asset shows it. */
export interface AssetMediaEvent {
  assetId: string;
  status: MediaStatus;
  /** Bytes copied and expected, while STAGING. */
  progress?: { copiedBytes: number; totalBytes: number };
  error?: string | null;
}

/** A channel's engine state changed (state, on-air item, reachability). */
export interface EngineStatusEvent {
  /** The channel's project when published; delivery checks the subscriber's rights on it. */
  projectId: string | null;
  status: EngineStateWire;
}

export const CHANNEL_EVENT_KINDS = [
  'CREATED',
  'UPDATED',
  'DELETED',
  'STATUS_CHANGED',
  'HEARTBEAT_LOST',
  'FAILOVER',
  'ALARM_RAISED',
  'ALARM_CLEARED',
] as const;
export type ChannelEventKind = (typeof CHANNEL_EVENT_KINDS)[number];

/** A lifecycle event of a channel (ChannelEvent). */
export interface ChannelEventMessage {
  kind: ChannelEventKind;
  channelId: string;
  projectId: string | null;
  /**
   * Set when the event moved the channel out of this project: its members
   * hear the move too (the channel is then null for them).
   */
  formerProjectId?: string | null;
  /** ISO time. */
  at: string;
  message: string | null;
  /** The alarm an ALARM_RAISED or ALARM_CLEARED event is about. */
  alarm?: AlarmKind | null;
}

/** An as-run row as recorded (on air: endedAt null) or completed. Dates as ISO strings. */
export interface AsRunMessage {
  projectId: string | null;
  entry: {
    id: string;
    channelId: string;
    playlistId: string | null;
    itemId: string | null;
    assetId: string | null;
    clipName: string;
    startedAt: string;
    endedAt: string | null;
    durationMs: number | null;
    status: AsRunStatus;
    /** Why a FAILED or TRUNCATED entry ended (absent from publishers that predate it). */
    reason?: string | null;
    /** What a schedule aired it for (absent from publishers that predate it; null for manual play). */
    scheduleEventId?: string | null;
    scheduleVersion?: number | null;
    plannedStartAt?: string | null;
    plannedEndAt?: string | null;
    fills?: 'GAP' | 'MISSING' | 'MANUAL' | null;
  };
}

export const SCHEDULE_CHANGE_KINDS = [
  'EVENT_ADDED',
  'EVENT_UPDATED',
  'EVENT_MOVED',
  'EVENT_REMOVED',
  'EVENTS_REPLACED',
  'SETTINGS_CHANGED',
  'FILLER_CHANGED',
  /** A playlist a block airs was edited (its items). */
  'BLOCK_CHANGED',
  /** Media of a clip the schedule airs was staged (its media path). */
  'MEDIA_CHANGED',
  /** An operator took a MANUAL event (the plan changes; the version stays: a take is not content). */
  'EVENT_TAKEN',
  /** An operator skipped the event on air: what followed it moved up (the version stays). */
  'EVENT_SKIPPED',
] as const;
export type ScheduleChangeKind = (typeof SCHEDULE_CHANGE_KINDS)[number];

/** A committed change of a channel's schedule, with the version it made. */
export interface ScheduleChangeMessage {
  channelId: string;
  projectId: string | null;
  version: number;
  kind: ScheduleChangeKind;
  /** The events the change added, changed, moved or removed (none for settings and filler). */
  eventIds: string[];
  /** ISO time of the commit. */
  at: string;
}

/**
 * Every topic of onair's event bus. Events cross replicas through Redis; each
 * carries the project it belongs to, so that delivery can check the
 * subscriber's rights on every event.
 */
export type Topics = {
  /** Keyed by project id ('admin' for project-less assets). */
  assetMedia: [projectKey: string, event: AssetMediaEvent];
  /** Keyed by channel id. */
  engineStatus: [channelId: string, event: EngineStatusEvent];
  channelEvents: [event: ChannelEventMessage];
  asRun: [event: AsRunMessage];
  /** Keyed by channel id. */
  scheduleChanged: [channelId: string, event: ScheduleChangeMessage];
};

export type PubSub = ReturnType<typeof createPubSub<Topics>>;

/**
 * Publishing uses `publish`; subscribing needs a connection of its own (Redis pub/sub mode).
 * Redis channels are server-wide (no database number applies), so every topic
 * carries the installation's name: two installations on one Redis hear only their own events.
 */
export function createEventBus(publishClient: Redis, subscribeClient: Redis, namespace: string): PubSub {
  const target = createRedisEventTarget({ publishClient, subscribeClient });
  const prefix = `${namespace}:events:`;
  return createPubSub<Topics>({
    eventTarget: {
      addEventListener: (topic, listener) => target.addEventListener(prefix + topic, listener),
      removeEventListener: (topic, listener) => target.removeEventListener(prefix + topic, listener),
      dispatchEvent: (event) => target.dispatchEvent(new CustomEvent(prefix + event.type, { detail: event.detail })),
    },
  });
}

export const projectKey = (projectId: string | null) => projectId ?? 'admin';
