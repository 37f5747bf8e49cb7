import type { Schedule } from '../../schedule/model.ts';
import { ErrorCode, OnairError } from '../../errors.ts';
import type { Services } from '../../services/index.ts';
import type { SidecarTarget } from '../../services/sidecar-client.ts';
import { announceAlarms, raiseAlarm, type AlarmChange } from '../channels/alarms.ts';
import { sidecarSecretOf } from '../channels/channel-lifecycle.ts';
import { sidecarSchedule } from './schedule-snapshot.ts';

/**
 * The schedule on air (docs/schedule.md, "On air"): the control plane sends a
 * running channel's sidecar its schedule as committed (PUT /schedule), after
 * every committed change, at start and after a failover; the sidecar runs it
 * by its own clock. Each push reads the schedule afresh, so the newest
 * version always wins and a late push is answered STALE, which is fine. A
 * schedule emptied (no events, no filler) hands the channel back to manual
 * operation (DELETE /schedule).
 */

/** What reaching the sidecar needs. */
export type SchedulePushDeps = Pick<Services, 'db' | 'log' | 'sidecars' | 'pubsub'> & {
  config: Pick<Services['config'], 'secretKey'>;
} & Partial<Pick<Services, 'redis' | 'metrics'>>;

/**
 * sent: the sidecar acknowledged the version; superseded: it runs a newer
 * one; detached: the schedule is empty and the sidecar was told so; none: the
 * channel is not running or has never had a schedule; failed: not delivered.
 */
export type SchedulePushOutcome = 'sent' | 'superseded' | 'detached' | 'none' | 'failed';

interface Target {
  channelId: string;
  projectId: string | null;
  sidecar: SidecarTarget;
  version: number;
  /** Null: nothing to run (no events and no filler). */
  schedule: Schedule | null;
}

async function readTarget(deps: SchedulePushDeps, channelId: string): Promise<Target | null> {
  const channel = await deps.db.channel.findFirst({
    where: { id: channelId, status: 'RUNNING', deletedAt: null },
    select: { id: true, projectId: true, videoFormat: true, sidecarUrl: true, sidecarSecret: true },
  });
  if (!channel?.sidecarUrl) return null;
  const secret = sidecarSecretOf(deps.config.secretKey, channel);
  if (!secret) return null;
  const sidecar = { url: channel.sidecarUrl, secret };
  // Most channels never had a schedule: one indexed read says so.
  const stored = await deps.db.schedule.findUnique({ where: { channelId }, select: { version: true } });
  if (!stored) return { channelId, projectId: channel.projectId, sidecar, version: 0, schedule: null };
  const schedule = await sidecarSchedule(deps.db, channel);
  const empty = schedule.events.length === 0 && schedule.filler.length === 0;
  return {
    channelId,
    projectId: channel.projectId,
    sidecar,
    version: schedule.version,
    schedule: empty ? null : schedule,
  };
}

interface Pushed {
  outcome: SchedulePushOutcome;
  target: Target | null;
  error?: string;
}

async function pushOnce(deps: SchedulePushDeps, channelId: string): Promise<Pushed> {
  const target = await readTarget(deps, channelId);
  // Version 0: never edited, so the sidecar never had one of ours to hand back.
  if (!target || (!target.schedule && target.version === 0)) return { outcome: 'none', target };
  const log = deps.log.child({ channelId, version: target.version });
  try {
    if (!target.schedule) {
      await deps.sidecars.deleteSchedule(target.sidecar);
      log.info('schedule emptied: the channel is back to manual operation');
      return { outcome: 'detached', target };
    }
    const ack = await deps.sidecars.putSchedule(target.sidecar, target.schedule);
    if (ack === 'stale') return { outcome: 'superseded', target };
    log.info({ acknowledged: ack.version, events: target.schedule.events.length }, 'schedule sent to the sidecar');
    return { outcome: 'sent', target };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    log.warn({ err: error }, 'schedule not delivered to the sidecar');
    return { outcome: 'failed', target, error };
  }
}

/** What the alarm's message starts with, so a schedule's EDIT_NOT_APPLIED is told from a playlist's. */
const ALARM_PREFIX = 'the schedule';

/**
 * While the sidecar runs an older version than the committed one, the channel
 * airs a schedule the operator no longer sees: EDIT_NOT_APPLIED, cleared when
 * a version is acknowledged (here, or when the sidecar's status shows it).
 */
async function followAlarm(deps: SchedulePushDeps, channelId: string, pushed: Pushed): Promise<void> {
  try {
    if (pushed.outcome === 'failed' && pushed.target) {
      const message = `${ALARM_PREFIX} version ${pushed.target.version} has not reached the sidecar, which runs the version it had: ${pushed.error}`;
      const change = await raiseAlarm(deps.db, channelId, 'EDIT_NOT_APPLIED', message);
      if (change) announceAlarms(deps, pushed.target.projectId, [change]);
    } else if (pushed.outcome !== 'failed') {
      await clearScheduleAlarm(deps, channelId, pushed.target?.projectId ?? null);
    }
  } catch (err) {
    deps.log.warn({ channelId, err: err instanceof Error ? err.message : String(err) }, 'EDIT_NOT_APPLIED not updated');
  }
}

/** Clears the channel's EDIT_NOT_APPLIED when it is the schedule's (a playlist's stays up). */
export async function clearScheduleAlarm(
  deps: SchedulePushDeps,
  channelId: string,
  projectId: string | null,
): Promise<void> {
  const at = new Date();
  const rows = await deps.db.$queryRawUnsafe<{ message: string }[]>(
    `UPDATE channel_alarms SET cleared_at = GREATEST(raised_at, $2::timestamptz)
      WHERE channel_id = $1::uuid AND kind = 'EDIT_NOT_APPLIED' AND cleared_at IS NULL AND message LIKE $3
      RETURNING message`,
    channelId,
    at,
    `${ALARM_PREFIX}%`,
  );
  const changes: AlarmChange[] = rows.map((r) => ({
    channelId,
    kind: 'EDIT_NOT_APPLIED',
    change: 'CLEARED',
    message: r.message,
    at,
  }));
  if (changes.length > 0) announceAlarms(deps, projectId, changes);
}

/**
 * @defaultValue retry delays after a failed push, each retry reading the
 * schedule afresh; after the last, it is tried again at the last delay for as
 * long as it fails (and the channel runs).
 */
export const SCHEDULE_RETRY_MS = [500, 1000, 2000, 4000] as const;

/** Channels whose retries run in this process: one loop each, however many pushes failed meanwhile. */
const retrying = new WeakMap<object, Set<string>>();

/**
 * Sends the channel's schedule as committed now to its running sidecar. Never
 * throws: whatever was committed stays committed. A push that fails raises
 * EDIT_NOT_APPLIED and is retried in the background until the sidecar
 * acknowledges a version, or the channel no longer runs.
 */
export async function pushSchedule(
  deps: SchedulePushDeps,
  channelId: string,
  retryMs: readonly number[] = SCHEDULE_RETRY_MS,
): Promise<SchedulePushOutcome> {
  let pushed: Pushed;
  try {
    pushed = await pushOnce(deps, channelId);
  } catch (err) {
    deps.log.warn({ channelId, err: err instanceof Error ? err.message : String(err) }, 'reading the schedule failed');
    pushed = { outcome: 'failed', target: null };
  }
  await followAlarm(deps, channelId, pushed);
  if (pushed.outcome === 'failed' && retryMs.length > 0) retry(deps, channelId, retryMs);
  return pushed.outcome;
}

function retry(deps: SchedulePushDeps, channelId: string, retryMs: readonly number[]): void {
  let loops = retrying.get(deps.db);
  if (!loops) retrying.set(deps.db, (loops = new Set()));
  if (loops.has(channelId)) return;
  loops.add(channelId);
  const attempt = (delays: readonly number[]) => {
    const timer = setTimeout(async () => {
      const outcome = await pushSchedule(deps, channelId, []);
      if (outcome === 'failed' && deps.redis?.status !== 'end') attempt(delays.length > 1 ? delays.slice(1) : delays);
      else loops.delete(channelId);
    }, delays[0]);
    timer.unref();
  };
  attempt(retryMs);
}

/** How long a sidecar just spawned may take to answer (a container binds its port after it starts). */
const ANSWER_DEADLINE_MS = 10_000;

/**
 * After a start or a failover: waits until the new sidecar answers, then
 * pushes the schedule (it joins in progress by its own clock). A channel
 * without a schedule costs one read.
 */
export async function pushScheduleOnStart(deps: SchedulePushDeps, channelId: string): Promise<SchedulePushOutcome> {
  const deadline = Date.now() + ANSWER_DEADLINE_MS;
  for (;;) {
    const target = await readTarget(deps, channelId).catch(() => null);
    if (!target || (!target.schedule && target.version === 0)) return 'none';
    try {
      await deps.sidecars.status(target.sidecar);
      break;
    } catch (err) {
      const unavailable = err instanceof OnairError && err.extensions.code === ErrorCode.SIDECAR_UNAVAILABLE;
      if (!unavailable || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return pushSchedule(deps, channelId);
}

/** Per channel, the last check of its sidecar's status against the committed version (this process). */
const lastChecked = new Map<string, { at: number; acknowledged: number | null; inStep: boolean }>();
const LAST_CHECKED_MAX = 10_000;

/**
 * @defaultValue how often a channel's acknowledged version is checked against
 * the committed one while they differ or the acknowledged one changes
 */
export const SCHEDULE_CHECK_MS = 1000;
/**
 * @defaultValue how often it is checked while the sidecar was last in step
 * and still shows the same version (a change whose process died before it
 * pushed is found sooner by the workers' sweep, schedule-delivery.ts)
 */
export const SCHEDULE_RECHECK_MS = 10_000;

/**
 * The sidecar's status (read with its events) against the committed schedule,
 * at most once a second per channel: a version behind (a push lost with the
 * process that committed it, a sidecar restarted from an older file) is sent
 * again; the version acknowledged clears EDIT_NOT_APPLIED. This is what makes
 * a committed change reach the sidecar whichever replica or worker committed
 * it, and whether or not that one lived to push it.
 */
export async function checkScheduleAcknowledged(
  deps: SchedulePushDeps,
  channelId: string,
  projectId: string | null,
  acknowledged: number | null,
  now = Date.now(),
): Promise<void> {
  const last = lastChecked.get(channelId);
  if (last) {
    const settled = last.inStep && last.acknowledged === acknowledged;
    if (now - last.at < (settled ? SCHEDULE_RECHECK_MS : SCHEDULE_CHECK_MS)) return;
  }
  if (lastChecked.size >= LAST_CHECKED_MAX) lastChecked.clear();
  const check = { at: now, acknowledged, inStep: false };
  lastChecked.set(channelId, check);
  try {
    const [row] = await deps.db.$queryRaw<{ version: number; empty: boolean; alarm: boolean }[]>`
      SELECT s.version,
             NOT EXISTS (SELECT 1 FROM schedule_events e WHERE e.channel_id = s.channel_id)
               AND NOT EXISTS (SELECT 1 FROM schedule_filler f WHERE f.channel_id = s.channel_id) AS empty,
             EXISTS (SELECT 1 FROM channel_alarms a WHERE a.channel_id = s.channel_id AND a.kind = 'EDIT_NOT_APPLIED'
                        AND a.cleared_at IS NULL AND a.message LIKE ${`${ALARM_PREFIX}%`}) AS alarm
        FROM schedules s WHERE s.channel_id = ${channelId}::uuid`;
    if (!row) {
      check.inStep = acknowledged === null;
      return;
    }
    const inStep = row.empty ? acknowledged === null : acknowledged !== null && acknowledged >= row.version;
    check.inStep = inStep;
    if (inStep) {
      if (row.alarm) await clearScheduleAlarm(deps, channelId, projectId);
    } else await pushSchedule(deps, channelId);
  } catch (err) {
    deps.log.warn({ channelId, err: err instanceof Error ? err.message : String(err) }, 'schedule version not checked');
  }
}
