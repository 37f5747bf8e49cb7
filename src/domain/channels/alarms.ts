import type { AlarmKind } from '../../protocol/sidecar-api.ts';
import type { Db, Prisma } from '../../services/db.ts';
import type { Services } from '../../services/index.ts';
import { publishChannelEvent } from './channel-events.ts';

/**
 * Channel alarms: faults an operator must see at once (Channel.alarms, the
 * ALARM_RAISED / ALARM_CLEARED channel events, a log line and a counter).
 * They live in channel_alarms so that every replica answers the same; at most
 * one alarm of a kind is up per channel (a partial unique index), and raise
 * and clear are one conditional statement each, so that an event read twice
 * (a worker restarted mid-page) changes nothing the second time.
 */

type Client = Db | Prisma.TransactionClient;

/** The kinds a sidecar raises about itself; a new sidecar (epoch) starts with none of them up. */
export const SIDECAR_ALARM_KINDS: readonly AlarmKind[] = [
  'OUTPUT_LOST',
  'ENGINE_BEHIND',
  'PLAYOUT_STOPPED',
  'MEDIA_MISSING',
  'SCHEDULE_HOLD',
];

/** A raise or clear that changed what is up, to publish once the change committed. */
export interface AlarmChange {
  channelId: string;
  kind: AlarmKind;
  change: 'RAISED' | 'CLEARED';
  message: string;
  at: Date;
}

/**
 * Raises an alarm. Already up: only its message follows (no change to tell).
 * Returns the change when the alarm was not up.
 */
export async function raiseAlarm(
  db: Client,
  channelId: string,
  kind: AlarmKind,
  message: string,
  at = new Date(),
): Promise<AlarmChange | null> {
  // xmax = 0 only on a row this statement inserted (an update of an up alarm sets it).
  const rows = await db.$queryRawUnsafe<{ inserted: boolean }[]>(
    `INSERT INTO channel_alarms (channel_id, kind, message, raised_at)
     SELECT $1::uuid, $2::"ChannelAlarmKind", $3, $4::timestamptz
      WHERE EXISTS (SELECT 1 FROM channels WHERE id = $1::uuid)
     ON CONFLICT (channel_id, kind) WHERE cleared_at IS NULL
     DO UPDATE SET message = EXCLUDED.message WHERE channel_alarms.message IS DISTINCT FROM EXCLUDED.message
     RETURNING (xmax = 0) AS inserted`,
    channelId,
    kind,
    message,
    at,
  );
  return rows[0]?.inserted ? { channelId, kind, change: 'RAISED', message, at } : null;
}

/** Clears an alarm that is up; a cleared (or never raised) one changes nothing. */
export async function clearAlarm(
  db: Client,
  channelId: string,
  kind: AlarmKind,
  at = new Date(),
): Promise<AlarmChange | null> {
  const rows = await db.$queryRawUnsafe<{ message: string }[]>(
    `UPDATE channel_alarms SET cleared_at = GREATEST(raised_at, $3::timestamptz)
      WHERE channel_id = $1::uuid AND kind = $2::"ChannelAlarmKind" AND cleared_at IS NULL
      RETURNING message`,
    channelId,
    kind,
    at,
  );
  return rows[0] ? { channelId, kind, change: 'CLEARED', message: rows[0].message, at } : null;
}

/** Clears every alarm of the channel that is up (of the given kinds only, when given). */
export async function clearAlarms(
  db: Client,
  channelId: string,
  kinds: readonly AlarmKind[] | null = null,
  at = new Date(),
): Promise<AlarmChange[]> {
  const rows = await db.$queryRawUnsafe<{ kind: AlarmKind; message: string }[]>(
    `UPDATE channel_alarms SET cleared_at = GREATEST(raised_at, $2::timestamptz)
      WHERE channel_id = $1::uuid AND cleared_at IS NULL AND ($3::text[] IS NULL OR kind::text = ANY($3::text[]))
      RETURNING kind::text AS kind, message`,
    channelId,
    at,
    kinds ? [...kinds] : null,
  );
  return rows.map((r) => ({ channelId, kind: r.kind, change: 'CLEARED', message: r.message, at }));
}

/** What the operator reads in the channel event's message. */
export function describeAlarmChange(change: AlarmChange): string {
  return change.change === 'RAISED'
    ? `${change.kind}: ${change.message}`
    : `${change.kind} cleared (was: ${change.message})`;
}

/** Metrics are counted where the process has them (every worker and API process does). */
export type AlarmServices = Pick<Services, 'pubsub' | 'log'> & { metrics?: Services['metrics'] };

/**
 * Tells about committed changes: the channel event (ALARM_RAISED /
 * ALARM_CLEARED, naming the alarm), a warn line for a raise and an info line
 * for a clear, and onair_channel_alarms_raised_total.
 */
export function announceAlarms(services: AlarmServices, projectId: string | null, changes: AlarmChange[]): void {
  for (const change of changes) {
    const fields = { channelId: change.channelId, alarm: change.kind, message: change.message };
    if (change.change === 'RAISED') {
      services.log.warn(fields, 'channel alarm raised');
      services.metrics?.channelAlarmsRaised.inc({ channel: change.channelId, kind: change.kind });
    } else {
      services.log.info(fields, 'channel alarm cleared');
    }
    publishChannelEvent(services, {
      kind: change.change === 'RAISED' ? 'ALARM_RAISED' : 'ALARM_CLEARED',
      channelId: change.channelId,
      projectId,
      alarm: change.kind,
      message: describeAlarmChange(change),
      at: change.at,
    });
  }
}

/** A change of NODE_OFFLINE with the channel's project, for announceAlarms. */
export interface NodeAlarmChange extends AlarmChange {
  projectId: string | null;
}

/**
 * NODE_OFFLINE follows node health, for all channels at once (two statements
 * a tick): raised for each RUNNING channel whose node is offline, cleared
 * when its node is online again, when it moved to another node (failover),
 * or when it no longer runs and is not in ERROR (the operator stopped it).
 */
export async function syncNodeAlarms(db: Client, at = new Date()): Promise<NodeAlarmChange[]> {
  const raised = await db.$queryRawUnsafe<{ channel_id: string; project_id: string | null; message: string }[]>(
    `WITH up AS (
       INSERT INTO channel_alarms (channel_id, kind, message, raised_at)
       SELECT c.id, 'NODE_OFFLINE', 'node ' || n.hostname || ' does not answer', $1::timestamptz
         FROM channels c JOIN cluster_nodes n ON n.id = c.node_id
        WHERE NOT n.online AND c.status = 'RUNNING' AND c.deleted_at IS NULL
       ON CONFLICT (channel_id, kind) WHERE cleared_at IS NULL DO NOTHING
       RETURNING channel_id, message)
     SELECT up.channel_id, c.project_id, up.message FROM up JOIN channels c ON c.id = up.channel_id`,
    at,
  );
  const cleared = await db.$queryRawUnsafe<{ channel_id: string; project_id: string | null; message: string }[]>(
    `UPDATE channel_alarms a SET cleared_at = GREATEST(a.raised_at, $1::timestamptz)
       FROM channels c LEFT JOIN cluster_nodes n ON n.id = c.node_id
      WHERE a.channel_id = c.id AND a.kind = 'NODE_OFFLINE' AND a.cleared_at IS NULL
        AND (n.id IS NULL OR n.online OR c.status NOT IN ('RUNNING', 'STARTING', 'ERROR'))
      RETURNING a.channel_id, c.project_id, a.message`,
    at,
  );
  return [
    ...raised.map((r) => ({
      channelId: r.channel_id,
      projectId: r.project_id,
      kind: 'NODE_OFFLINE' as const,
      change: 'RAISED' as const,
      message: r.message,
      at,
    })),
    ...cleared.map((r) => ({
      channelId: r.channel_id,
      projectId: r.project_id,
      kind: 'NODE_OFFLINE' as const,
      change: 'CLEARED' as const,
      message: r.message,
      at,
    })),
  ];
}
