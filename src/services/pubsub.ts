import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import type { AsRunStatus, MediaStatus } from '../../prisma/generated/client/enums.ts';
import type { EngineStateWire } from '../domain/engine-status.ts';

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

export const CHANNEL_EVENT_KINDS = ['CREATED', 'UPDATED', 'DELETED', 'STATUS_CHANGED', 'HEARTBEAT_LOST', 'FAILOVER'] as const;
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
  };
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
