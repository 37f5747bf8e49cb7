import { conflict } from '../../errors.ts';
import { frameRateOf } from '../../schedule/frames.ts';
import { onAirAt } from '../../schedule/on-air.ts';
import type { Tx } from '../playlists/playlists.ts';
import { cachedSchedule } from './schedule-cache.ts';
import { planOf } from './schedule-read.ts';
import { readSchedule, scheduleView } from './schedule-snapshot.ts';

/**
 * The on-air rule for blocks: the event on air is never changed under it, and
 * a block's content is its playlist's items. So while a schedule event airs a
 * playlist as a block, that playlist's items cannot be added, changed, removed
 * or reordered (CONFLICT naming the event). Nor while a block of it that aired
 * places the event on air: the events from the last HARD (or MANUAL) event up
 * to the one on air start each where the one before ended, so a longer or
 * shorter block there would move what is on air. Otherwise (a block to come,
 * one that aired before the last HARD event) the playlist is edited as any
 * other, and the events that air it later take the change. (A playlist played
 * with `play` is different: its edits apply from the next item, README
 * "Editing on air".)
 */
export async function assertBlockNotOnAir(tx: Tx, playlistId: string, nowMs = Date.now()): Promise<void> {
  // A playlist belongs to one channel: the schedule to look at is that channel's, if it airs the playlist at all.
  const block = await tx.scheduleEvent.findFirst({
    where: { playlistId },
    select: { schedule: { select: { channel: { select: { id: true, projectId: true, videoFormat: true } } } } },
  });
  if (!block) return;
  const view = await scheduleView(tx, block.schedule.channel);
  const built = await cachedSchedule(view, () => readSchedule(tx, view));
  const plan = planOf(built, frameRateOf(view.videoFormat), { fromMs: nowMs, toMs: nowMs + 1 }, nowMs);
  const onAirId = onAirAt(plan, nowMs)?.segment.eventId;
  const events = built.schedule.events;
  const onAir = onAirId ? events.findIndex((e) => e.eventId === onAirId) : -1;
  for (let i = onAir; i >= 0; i--) {
    const e = events[i];
    if (e.content.kind === 'BLOCK' && e.content.playlistId === playlistId)
      throw conflict(
        i === onAir
          ? `the playlist is on air as schedule event ${e.eventId} (a block): its items cannot be changed until the event ends`
          : `the playlist aired as schedule event ${e.eventId} (a block), which places schedule event ${onAirId} on air now: its items cannot be changed until that event ends`,
        { eventId: e.eventId },
      );
    // A HARD (or MANUAL) event starts on its own time, whatever aired before it.
    if (e.trigger === 'HARD' || e.trigger === 'MANUAL') break;
  }
}
