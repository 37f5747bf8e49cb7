import type { SidecarEvent } from '../../protocol/sidecar-api.ts';
import { frameRateOf } from '../../schedule/frames.ts';
import { planSchedule } from '../../schedule/plan.ts';
import type { Prisma } from '../../services/db.ts';
import { readSchedule, scheduleView } from '../schedules/schedule-snapshot.ts';

/**
 * Events the plan passed without airing them (SKIPPED: a MANUAL event not
 * taken before the HARD event after it, an event a HARD event overran before
 * it could start) have no airing for the sidecar to report. They are written
 * as as-run rows of their own, status SKIPPED and no length, at the planned
 * start of the event that passed them, when that event goes on air: so the
 * record against plan names every event, in the exports too.
 *
 * Only when the committed schedule is the version the sidecar aired (an edit
 * in between may have moved them: nothing is claimed then), and only for
 * events with no as-run row at all (a MANUAL event taken aired, whatever the
 * control plane's plan, which does not know takes, says).
 */

type OnAir = Extract<SidecarEvent, { kind: 'ITEM_ON_AIR' }>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SKIPPED_REASON = 'the schedule passed it: it never aired';

/** The ITEM_ON_AIR events of a page that start a scheduled event (its first airing, not filler). */
function eventStarts(events: readonly SidecarEvent[]): OnAir[] {
  return events.filter(
    (e): e is OnAir =>
      e.kind === 'ITEM_ON_AIR' && !!e.schedule?.eventId && e.schedule.fills === null && UUID.test(e.schedule.eventId),
  );
}

/** Ids of the SKIPPED rows written (inside the page's transaction, under the channel's lock). */
export async function recordSkippedEvents(
  tx: Prisma.TransactionClient,
  channel: { id: string; projectId: string | null; videoFormat: string },
  epoch: string,
  events: readonly SidecarEvent[],
): Promise<string[]> {
  const starts = eventStarts(events);
  if (starts.length === 0) return [];
  const view = await scheduleView(tx, channel);
  const written: string[] = [];
  let built: Awaited<ReturnType<typeof readSchedule>> | null = null;
  for (const start of starts) {
    const airing = start.schedule!;
    if (airing.version !== view.version) continue;
    // Its first airing only (the row just written): a block's later clips, a join, passed nothing new.
    const [{ n }] = await tx.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM as_run
       WHERE channel_id = ${channel.id}::uuid AND schedule_event_id = ${airing.eventId}::uuid`;
    if (n > 1) continue;
    built ??= await readSchedule(tx, view);
    const rate = frameRateOf(view.videoFormat);
    const startMs = Date.parse(airing.plannedStartAt);
    const plan = planSchedule(built.schedule, rate, {
      window: { fromMs: startMs, toMs: startMs + 1 },
      nowMs: startMs + 1,
      missingAssets: built.missingAssets,
      // An operator's skip moved what followed it up, as the sidecar planned it.
      skipped: built.skipped,
    });
    const at = plan.events.findIndex((e) => e.eventId === airing.eventId);
    if (at < 0) continue;
    // The events just before it that the plan skipped, back to the last one it planned to air.
    const skipped: string[] = [];
    for (let i = at - 1; i >= 0 && plan.events[i].status === 'SKIPPED'; i--) skipped.push(plan.events[i].eventId);
    for (const eventId of skipped.reverse()) {
      const rows = await tx.$queryRaw<{ id: string }[]>`
        INSERT INTO as_run (channel_id, clip_name, started_at, ended_at, duration_ms, status, reason, sidecar_epoch,
                            schedule_event_id, schedule_version, planned_start_at, planned_end_at)
        SELECT ${channel.id}::uuid, ${clipNameOf(built.schedule, eventId)}, ${airing.plannedStartAt}::timestamptz,
               ${airing.plannedStartAt}::timestamptz, 0, 'SKIPPED', ${SKIPPED_REASON}, ${epoch},
               ${eventId}::uuid, ${airing.version}::int, ${airing.plannedStartAt}::timestamptz,
               ${airing.plannedStartAt}::timestamptz
         WHERE NOT EXISTS (SELECT 1 FROM as_run WHERE channel_id = ${channel.id}::uuid AND schedule_event_id = ${eventId}::uuid)
        RETURNING id`;
      written.push(...rows.map((r) => r.id));
    }
  }
  return written;
}

function clipNameOf(schedule: Awaited<ReturnType<typeof readSchedule>>['schedule'], eventId: string): string {
  const event = schedule.events.find((e) => e.eventId === eventId);
  if (!event) return eventId;
  return event.content.kind === 'CLIP' ? event.content.clip.clipName : `block ${event.content.playlistId}`;
}
