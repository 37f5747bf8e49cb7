import type { ScheduleChangeKind } from '../../services/pubsub.ts';
import type { Services } from '../../services/index.ts';
import { pushSchedule } from './schedule-push.ts';

/**
 * What a schedule airs also changes without an edit of it: the items of a
 * playlist a block airs, and the media path of a clip once staged. The
 * schedules concerned get a new version after that commit and the change is
 * published, so that the version a sidecar holds always names one content.
 * After the commit, in a statement of its own: inside the playlist edit's
 * transaction it would take the schedule row after the playlist's, the
 * reverse of a schedule edit's order.
 */
type BumpServices = Pick<Services, 'db' | 'pubsub' | 'log'> & Partial<Pick<Services, 'sidecars' | 'config' | 'redis'>>;

async function bump(
  services: BumpServices,
  kind: ScheduleChangeKind,
  rows: () => Promise<{ channel_id: string; version: number; project_id: string | null; event_ids: string[] | null }[]>,
  what: Record<string, string>,
): Promise<void> {
  try {
    const at = new Date().toISOString();
    const changed = await rows();
    for (const row of changed) {
      services.pubsub.publish('scheduleChanged', row.channel_id, {
        channelId: row.channel_id,
        projectId: row.project_id,
        version: row.version,
        kind,
        eventIds: row.event_ids ?? [],
        at,
      });
    }
    // The running sidecars get the new version (a caller without a sidecar client leaves it to the
    // worker's check of each sidecar's acknowledged version).
    const { sidecars, config } = services;
    if (sidecars && config)
      await Promise.all(changed.map((row) => pushSchedule({ ...services, sidecars, config }, row.channel_id)));
  } catch (err) {
    // The edit is committed whatever this says; the next change of the schedule carries it.
    services.log.warn(
      { ...what, err: err instanceof Error ? err.message : String(err) },
      'schedule version not bumped',
    );
  }
}

/** After a commit that changed a playlist's items: the schedules with a block of it. */
export function blockChanged(services: Services, playlistId: string): Promise<void> {
  return bump(
    services,
    'BLOCK_CHANGED',
    () => services.db.$queryRaw`
      WITH events AS (
        SELECT channel_id, array_agg(id ORDER BY position) AS event_ids
        FROM schedule_events WHERE playlist_id = ${playlistId}::uuid GROUP BY channel_id)
      UPDATE schedules s SET version = s.version + 1, updated_at = now()
      FROM events e, channels c
      WHERE s.channel_id = e.channel_id AND c.id = s.channel_id
      RETURNING s.channel_id, s.version, c.project_id, e.event_ids::text[] AS event_ids`,
    { playlistId },
  );
}

/** After an asset's media was staged, failed or went missing: the schedules that air it (a clip, in a block, or as filler). */
export function mediaChanged(services: BumpServices, assetId: string): Promise<void> {
  return bump(
    services,
    'MEDIA_CHANGED',
    () => services.db.$queryRaw`
      WITH airing AS (
        SELECT channel_id FROM schedule_events WHERE asset_id = ${assetId}::uuid
        UNION SELECT e.channel_id FROM schedule_events e JOIN items i ON i.playlist_id = e.playlist_id
          WHERE i.asset_id = ${assetId}::uuid
        UNION SELECT channel_id FROM schedule_filler WHERE asset_id = ${assetId}::uuid)
      UPDATE schedules s SET version = s.version + 1, updated_at = now()
      FROM airing a, channels c
      WHERE s.channel_id = a.channel_id AND c.id = s.channel_id
      RETURNING s.channel_id, s.version, c.project_id, NULL::text[] AS event_ids`,
    { assetId },
  );
}
