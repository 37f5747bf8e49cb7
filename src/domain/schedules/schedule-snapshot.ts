import type { Db, Prisma } from '../../services/db.ts';
import type { Schedule } from '../../schedule/model.ts';
import { buildSchedule, EVENT_CONTENT, type BuiltSchedule, type ScheduleSettings } from './schedule-model.ts';

/**
 * A channel's schedule as stored, read without a caller: the API's reads check
 * the caller first (schedule-read.ts); the control plane's own pushes to a
 * sidecar (schedule-push.ts) act for no caller.
 */

export type Reader = Db | Prisma.TransactionClient;

/** A channel's schedule settings as the API shows them; a channel never edited has the defaults. */
export interface ScheduleView extends ScheduleSettings {
  channelId: string;
  projectId: string | null;
  videoFormat: string;
  /** Takes of MANUAL events and skips on air so far (keys the read cache; see schedule-cache.ts). */
  operatorActions: number;
}

export const DEFAULT_SETTINGS: ScheduleSettings = { version: 0, timeZone: 'UTC', dayStart: '06:00' };

/** The schedule of a channel the caller has just been allowed to see. */
export async function scheduleView(
  db: Reader,
  channel: { id: string; projectId: string | null; videoFormat: string },
): Promise<ScheduleView> {
  const row = await db.schedule.findUnique({ where: { channelId: channel.id } });
  const settings = row ? { version: row.version, timeZone: row.timeZone, dayStart: row.dayStart } : DEFAULT_SETTINGS;
  return {
    channelId: channel.id,
    projectId: channel.projectId,
    videoFormat: channel.videoFormat,
    operatorActions: row?.operatorActions ?? 0,
    ...settings,
  };
}

/** Reads events and filler of a schedule (in one transaction's snapshot when `db` is one) and builds the plan's input. */
export async function readSchedule(db: Reader, view: ScheduleView): Promise<BuiltSchedule> {
  const [rows, filler] = await Promise.all([
    db.scheduleEvent.findMany({
      where: { channelId: view.channelId },
      orderBy: { position: 'asc' },
      include: EVENT_CONTENT,
    }),
    db.scheduleFiller.findMany({
      where: { channelId: view.channelId },
      orderBy: { position: 'asc' },
      include: { asset: true },
    }),
  ]);
  return buildSchedule(
    view,
    view.videoFormat,
    rows,
    filler.map((f) => f.asset),
  );
}

/**
 * The same for the control plane's own pushes (start, failover, after an
 * edit), which act for no caller: the channel is the caller's to check.
 */
export function sidecarSchedule(
  db: Db,
  channel: { id: string; projectId: string | null; videoFormat: string },
): Promise<Schedule> {
  return db.$transaction(
    async (tx) => {
      const built = await readSchedule(tx, await scheduleView(tx, channel));
      // The takes and skips go with it: a sidecar that did not make them (after a failover) plans them too.
      return {
        ...built.schedule,
        ...(built.taken.size > 0 && { taken: Object.fromEntries(built.taken) }),
        ...(built.skipped.size > 0 && { skipped: Object.fromEntries(built.skipped) }),
      };
    },
    { isolationLevel: 'RepeatableRead' },
  );
}
