import { beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.ts';
import { deleteChannel } from '../../src/domain/channels/channels.ts';
import { addItem, removeItem, reorderItems, updateItem } from '../../src/domain/playlists/items.ts';
import { deletePlaylist } from '../../src/domain/playlists/playlists.ts';
import { setAssetMedia } from '../../src/domain/media/staging/media.ts';
import { markMissingMedia } from '../../src/domain/media/staging/missing.ts';
import { mediaChanged } from '../../src/domain/schedules/schedule-content.ts';
import {
  addScheduleEvent,
  moveScheduleEvent,
  removeScheduleEvent,
  updateScheduleEvent,
} from '../../src/domain/schedules/schedule-events.ts';
import { scheduleDay, scheduleForSidecar } from '../../src/domain/schedules/schedule-read.ts';
import { scheduleView } from '../../src/domain/schedules/schedule-snapshot.ts';
import { replaceScheduleEvents } from '../../src/domain/schedules/schedule-replace.ts';
import { setScheduleFiller, updateScheduleSettings } from '../../src/domain/schedules/schedule-settings.ts';
import type { DomainContext } from '../../src/domain/shared/context.ts';
import { ScheduleSchema } from '../../src/schedule/model.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';
import { useTestServer } from '../helpers/server.ts';

const { server, cast } = useTestServer();
let ctx: DomainContext;

const HOUR = 3_600_000;

beforeAll(() => {
  const principal: Principal = {
    userId: cast.operator.userId,
    tokenId: cast.operator.tokenId,
    isAdmin: false,
    roles: new Map([[cast.home.id, 'OPERATOR']]),
  };
  ctx = { db: server.services.db, services: server.services, principal };
});

function newAsset(durationMs: number | null, staged = true) {
  return server.services.db.asset.create({
    data: {
      projectId: cast.home.id,
      filename: `clip-${Math.random().toString(36).slice(2, 6)}.mxf`,
      storageKey: 'k',
      durationMs,
      ...(staged && { mediaStatus: 'READY', mediaPath: `objects/${Math.random().toString(36).slice(2)}/c.mxf` }),
    },
  });
}

const newChannel = () => insertChannel(server.services, cast.home.id);
const version = async (channelId: string) =>
  (await server.services.db.schedule.findUnique({ where: { channelId } }))?.version ?? 0;

/** An event that started before now, written as a schedule that ran would hold it (edits refuse the past). */
async function onAirEvent(channelId: string, assetId: string, startedMsAgo: number) {
  await server.services.db.schedule.upsert({ where: { channelId }, create: { channelId }, update: {} });
  const count = await server.services.db.scheduleEvent.count({ where: { channelId } });
  return server.services.db.scheduleEvent.create({
    data: { channelId, position: count, trigger: 'HARD', at: new Date(Date.now() - startedMsAgo), assetId },
  });
}

describe('scheduleForSidecar', () => {
  it('gives the schedule as the sidecar parses it: clips, blocks from the playlist items, filler, unstaged media', async () => {
    const channel = await newChannel();
    const clip = await newAsset(60_000);
    const unstaged = await newAsset(30_000, false);
    const filler = await newAsset(10_000);
    const playlist = await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'block' } });
    await server.services.db.item.createMany({
      data: [
        { playlistId: playlist.id, assetId: clip.id, position: 0, inPointMs: 1_000, outPointMs: 11_000 },
        { playlistId: playlist.id, assetId: unstaged.id, position: 1 },
      ],
    });
    const at = new Date(Date.now() + HOUR);
    const first = await addScheduleEvent(ctx, { channelId: channel.id, trigger: 'HARD', at, assetId: clip.id });
    await addScheduleEvent(ctx, { channelId: channel.id, trigger: 'FOLLOW', playlistId: playlist.id });
    await setScheduleFiller(ctx, channel.id, [filler.id]);

    const schedule = await scheduleForSidecar(ctx, channel.id);
    expect(ScheduleSchema.parse(schedule)).toEqual(schedule);
    expect(schedule.version).toBe(3);
    expect(schedule.videoFormat).toBe('1080i5000');
    expect(schedule.events.map((e) => [e.eventId, e.trigger, e.at ?? null, e.content.kind])).toEqual([
      [first.value.id, 'HARD', at.toISOString(), 'CLIP'],
      [expect.any(String), 'FOLLOW', null, 'BLOCK'],
    ]);
    const block = schedule.events[1].content;
    expect(block.kind === 'BLOCK' && block.clips.map((c) => [c.assetId, c.durationMs, c.mediaPath])).toEqual([
      [clip.id, 10_000, clip.mediaPath],
      [unstaged.id, 30_000, `unstaged/${unstaged.id}`],
    ]);
    expect(schedule.filler.map((c) => c.assetId)).toEqual([filler.id]);
  });
});

describe('edits', () => {
  it('two concurrent edits both land, with versions n+1 and n+2', async () => {
    const channel = await newChannel();
    const asset = await newAsset(60_000);
    const base = Date.now() + 2 * HOUR;
    await addScheduleEvent(ctx, { channelId: channel.id, trigger: 'HARD', at: new Date(base), assetId: asset.id });
    const n = await version(channel.id);
    const results = await Promise.all(
      [1, 2].map((k) =>
        addScheduleEvent(ctx, {
          channelId: channel.id,
          trigger: 'HARD',
          at: new Date(base + k * HOUR),
          assetId: asset.id,
        }),
      ),
    );
    expect(results.map((r) => r.version).sort()).toEqual([n + 1, n + 2]);
    expect(await version(channel.id)).toBe(n + 2);
    const events = await server.services.db.scheduleEvent.findMany({
      where: { channelId: channel.id },
      orderBy: { position: 'asc' },
    });
    expect(events).toHaveLength(3);
    expect(events.map((e) => e.position)).toEqual([0, 1, 2]);
  });

  it('refuses to edit, move or remove the event on air (CONFLICT naming it) and changes nothing', async () => {
    const channel = await newChannel();
    const asset = await newAsset(HOUR);
    const onAir = await onAirEvent(channel.id, asset.id, 60_000);
    const next = await addScheduleEvent(ctx, {
      channelId: channel.id,
      trigger: 'FOLLOW',
      assetId: asset.id,
    });
    const before = await server.services.db.scheduleEvent.findMany({ where: { channelId: channel.id } });
    const v = await version(channel.id);
    const attempts = [
      () => updateScheduleEvent(ctx, onAir.id, { outPointMs: 30_000 }),
      () => moveScheduleEvent(ctx, onAir.id, 1),
      () => removeScheduleEvent(ctx, onAir.id),
      // Another event put before it.
      () => moveScheduleEvent(ctx, next.value.id, 0),
      () => addScheduleEvent(ctx, { channelId: channel.id, trigger: 'FOLLOW', assetId: asset.id, position: 0 }),
    ];
    for (const attempt of attempts) {
      const err = await attempt().then(
        () => null,
        (e: { extensions?: Record<string, unknown>; message: string }) => e,
      );
      expect(err?.extensions).toMatchObject({ code: 'CONFLICT', eventId: onAir.id });
      expect(err?.message).toContain(onAir.id);
    }
    expect(await server.services.db.scheduleEvent.findMany({ where: { channelId: channel.id } })).toEqual(before);
    expect(await version(channel.id)).toBe(v);
    // The event after it can still change.
    const moved = await updateScheduleEvent(ctx, next.value.id, { outPointMs: 20_000 });
    expect(moved.version).toBe(v + 1);
  });

  it('refuses an edit that would start another event in the past', async () => {
    const channel = await newChannel();
    const short = await newAsset(10_000);
    // Aired: 10 s from 10 minutes ago; then a HARD event in an hour and one following it.
    await onAirEvent(channel.id, short.id, 10 * 60_000);
    const hard = await addScheduleEvent(ctx, {
      channelId: channel.id,
      trigger: 'HARD',
      at: new Date(Date.now() + HOUR),
      assetId: short.id,
    });
    const follow = await addScheduleEvent(ctx, { channelId: channel.id, trigger: 'FOLLOW', assetId: short.id });
    // Without the HARD event, the FOLLOW one would follow the event that aired.
    const err = await removeScheduleEvent(ctx, hard.value.id).catch((e) => e);
    expect(err.extensions).toMatchObject({ code: 'CONFLICT', eventId: follow.value.id });
    expect(err.message).toMatch(/which is past/);
  });

  it('a playlist scheduled as a block cannot be deleted; a channel with a schedule can', async () => {
    const channel = await newChannel();
    const asset = await newAsset(60_000);
    const playlist = await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'block' } });
    await server.services.db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: 0 } });
    const block = await addScheduleEvent(ctx, {
      channelId: channel.id,
      trigger: 'SOFT',
      at: new Date(Date.now() + HOUR),
      playlistId: playlist.id,
    });
    const err = await deletePlaylist(ctx, playlist.id).catch((e) => e);
    expect(err.extensions).toMatchObject({ code: 'CONFLICT', eventId: block.value.id });
    const editor = { ...ctx, principal: { ...ctx.principal!, roles: new Map([[cast.home.id, 'EDITOR' as const]]) } };
    await deleteChannel(editor, channel.id);
    expect(await server.services.db.schedule.findUnique({ where: { channelId: channel.id } })).toBeNull();
  });
});

describe('content changed without an edit of the schedule', () => {
  it("a block's playlist edited, or a clip's media staged, gives the schedule a new version", async () => {
    const channel = await newChannel();
    const asset = await newAsset(60_000);
    const unstaged = await newAsset(60_000, false);
    const playlist = await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'block' } });
    await server.services.db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: 0 } });
    await addScheduleEvent(ctx, {
      channelId: channel.id,
      trigger: 'HARD',
      at: new Date(Date.now() + HOUR),
      playlistId: playlist.id,
    });
    await addScheduleEvent(ctx, { channelId: channel.id, trigger: 'FOLLOW', assetId: unstaged.id });
    const v = await version(channel.id);
    const changes: { kind: string; version: number }[] = [];
    const stop = server.services.pubsub.subscribe('scheduleChanged', channel.id);
    const reading = (async () => {
      for await (const change of stop) changes.push(change);
    })();
    // A probe published until it arrives: from then on the subscriber listens.
    const probe = {
      channelId: channel.id,
      projectId: null,
      version: -1,
      kind: 'SETTINGS_CHANGED' as const,
      eventIds: [],
    };
    await until(() => {
      server.services.pubsub.publish('scheduleChanged', channel.id, { ...probe, at: new Date().toISOString() });
      return changes.length > 0;
    }, 'the subscriber listening');
    changes.length = 0;
    await addItem(ctx, { playlistId: playlist.id, assetId: asset.id }, {});
    expect(await version(channel.id)).toBe(v + 1);
    const before = await scheduleForSidecar(ctx, channel.id);
    const clip = before.events[1].content;
    expect(clip.kind === 'CLIP' && clip.clip.mediaPath).toBe(`unstaged/${unstaged.id}`);
    await server.services.db.asset.update({
      where: { id: unstaged.id },
      data: { mediaStatus: 'READY', mediaPath: 'objects/x/staged.mxf' },
    });
    await mediaChanged(server.services, unstaged.id);
    const after = await scheduleForSidecar(ctx, channel.id);
    expect(after.version).toBe(v + 2);
    expect(after.events[1].content.kind === 'CLIP' && after.events[1].content.clip.mediaPath).toBe(
      'objects/x/staged.mxf',
    );
    await until(() => changes.filter((c) => c.version > 0).length >= 2, 'both changes');
    expect(changes.filter((c) => c.version > 0).map((c) => [c.kind, c.version])).toEqual([
      ['BLOCK_CHANGED', v + 1],
      ['MEDIA_CHANGED', v + 2],
    ]);
    await stop.return?.();
    await reading;
  });
});

describe('a block on air', () => {
  /** A channel whose schedule airs a block of `playlist` that started `startedMsAgo`. */
  async function blockStarted(startedMsAgo: number, itemMs: number) {
    const channel = await newChannel();
    const asset = await newAsset(itemMs);
    const playlist = await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'block' } });
    const items = await Promise.all(
      [0, 1].map((position) =>
        server.services.db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position } }),
      ),
    );
    await server.services.db.schedule.create({ data: { channelId: channel.id } });
    const event = await server.services.db.scheduleEvent.create({
      data: {
        channelId: channel.id,
        position: 0,
        trigger: 'HARD',
        at: new Date(Date.now() - startedMsAgo),
        playlistId: playlist.id,
      },
    });
    return { channel, asset, playlist, items, event };
  }

  it("refuses every edit of its playlist's items (CONFLICT naming the event) and changes nothing", async () => {
    const { channel, asset, playlist, items, event } = await blockStarted(60_000, HOUR);
    const before = await server.services.db.item.findMany({ where: { playlistId: playlist.id } });
    const v = await version(channel.id);
    const attempts = [
      () => addItem(ctx, { playlistId: playlist.id, assetId: asset.id }, {}),
      () => updateItem(ctx, items[1].id, { outPointMs: 60_000 }, {}),
      () => removeItem(ctx, items[1].id),
      () => reorderItems(ctx, playlist.id, [items[1].id, items[0].id], {}),
    ];
    for (const attempt of attempts) {
      const err = await attempt().catch((e) => e);
      expect(err.extensions).toMatchObject({ code: 'CONFLICT', eventId: event.id });
      expect(err.message).toContain(event.id);
    }
    expect(await server.services.db.item.findMany({ where: { playlistId: playlist.id } })).toEqual(before);
    expect(await version(channel.id)).toBe(v);
  });

  it('nor while a block of it that aired places the event on air (a FOLLOW after it); a HARD event in between frees it', async () => {
    const { channel, asset, playlist, event } = await blockStarted(150_000, 60_000);
    const follow = await server.services.db.scheduleEvent.create({
      data: { channelId: channel.id, position: 1, trigger: 'FOLLOW', assetId: asset.id, outPointMs: 50_000 },
    });
    // The block aired 0:00-2:00 ago; the FOLLOW clip is on air: a longer block would move it.
    const err = await addItem(ctx, { playlistId: playlist.id, assetId: asset.id }, {}).catch((e) => e);
    expect(err.extensions).toMatchObject({ code: 'CONFLICT', eventId: event.id });
    expect(err.message).toContain(follow.id);
    await server.services.db.scheduleEvent.update({
      where: { id: follow.id },
      data: { trigger: 'HARD', at: new Date(Date.now() - 20_000) },
    });
    await server.services.db.schedule.update({ where: { channelId: channel.id }, data: { version: { increment: 1 } } });
    await addItem(ctx, { playlistId: playlist.id, assetId: asset.id }, {});
    expect(await server.services.db.item.count({ where: { playlistId: playlist.id } })).toBe(3);
  });

  it('once the block has ended, or before it starts, its playlist is edited as any other', async () => {
    const ended = await blockStarted(HOUR, 60_000);
    await addItem(ctx, { playlistId: ended.playlist.id, assetId: ended.asset.id }, {});
    const later = await blockStarted(-HOUR, 60_000);
    await removeItem(ctx, later.items[0].id);
    expect(await server.services.db.item.count({ where: { playlistId: ended.playlist.id } })).toBe(3);
    expect(await server.services.db.item.count({ where: { playlistId: later.playlist.id } })).toBe(1);
  });
});

describe('media that fails', () => {
  it('a clip whose media goes missing (media check) or fails staging bumps the version: the plan and the sidecar get filler for it', async () => {
    const channel = await newChannel();
    const [gone, failing] = [await newAsset(60_000), await newAsset(60_000, false)];
    await addScheduleEvent(ctx, {
      channelId: channel.id,
      trigger: 'HARD',
      at: new Date(Date.now() + HOUR),
      assetId: gone.id,
    });
    await addScheduleEvent(ctx, { channelId: channel.id, trigger: 'FOLLOW', assetId: failing.id });
    const v = await version(channel.id);
    // Its staged file is not on the media volume: the media check marks it ERROR.
    expect(await markMissingMedia(server.services, [gone.id])).toEqual([gone.id]);
    expect(await version(channel.id)).toBe(v + 1);
    const after = await scheduleForSidecar(ctx, channel.id);
    expect(after.version).toBe(v + 1);
    const clip = after.events[0].content;
    expect(clip.kind === 'CLIP' && clip.clip.mediaPath).toBe(`unstaged/${gone.id}`);
    // Staging that gives up sets ERROR the same way.
    await setAssetMedia(server.services, failing.id, { mediaStatus: 'ERROR', mediaError: 'not found' });
    expect(await version(channel.id)).toBe(v + 2);
  });
});

describe('broadcast days', () => {
  it('a day across a daylight-saving change has 23 or 25 hours in the schedule time zone', async () => {
    // The clocks change at 01:00 UTC on Sundays: in the broadcast days that start at 06:00 the Saturday.
    const channel = await newChannel();
    await updateScheduleSettings(ctx, channel.id, { timeZone: 'Europe/London', dayStart: '06:00' });
    const view = await scheduleView(server.services.db, channel);
    const autumn = await scheduleDay(server.services.db, view, '2026-10-24');
    const spring = await scheduleDay(server.services.db, view, '2026-03-28');
    const summer = await scheduleDay(server.services.db, view, '2026-07-01');
    expect([autumn.hours, spring.hours, summer.hours]).toEqual([25, 23, 24]);
    expect(new Date(autumn.window.fromMs).toISOString()).toBe('2026-10-24T05:00:00.000Z');
    expect(new Date(autumn.window.toMs).toISOString()).toBe('2026-10-25T06:00:00.000Z');
  });
});

describe('replaceScheduleEvents (a traffic import of a day)', () => {
  it("replaces a window's future events in one version, leaving the event on air and other days alone", async () => {
    const channel = await newChannel();
    const asset = await newAsset(HOUR);
    const short = await newAsset(60_000);
    const onAir = await onAirEvent(channel.id, asset.id, 60_000);
    const day = { fromMs: Date.now() - 2 * HOUR, toMs: Date.now() + 12 * HOUR };
    const old = await addScheduleEvent(ctx, {
      channelId: channel.id,
      trigger: 'HARD',
      at: new Date(Date.now() + 2 * HOUR),
      assetId: short.id,
    });
    const tomorrow = await addScheduleEvent(ctx, {
      channelId: channel.id,
      trigger: 'HARD',
      at: new Date(Date.now() + 20 * HOUR),
      assetId: short.id,
    });
    const v = await version(channel.id);

    // One invalid event: nothing is replaced, and the error names it.
    const refused = await replaceScheduleEvents(ctx, channel.id, day, [
      { trigger: 'HARD', at: new Date(Date.now() + 3 * HOUR), assetId: short.id },
      { trigger: 'SOFT', assetId: short.id },
    ]).catch((e) => e);
    expect(refused.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'events.1.at' });
    expect(await version(channel.id)).toBe(v);

    const done = await replaceScheduleEvents(ctx, channel.id, day, [
      { trigger: 'HARD', at: new Date(Date.now() + 3 * HOUR), assetId: short.id },
      { trigger: 'FOLLOW', assetId: short.id },
    ]);
    expect(done.version).toBe(v + 1);
    expect(done.value.removed).toEqual([old.value.id]);
    const events = await server.services.db.scheduleEvent.findMany({
      where: { channelId: channel.id },
      orderBy: { position: 'asc' },
    });
    expect(events.map((e) => e.id)).toEqual([onAir.id, ...done.value.added, tomorrow.value.id]);
    expect(events.map((e) => e.position)).toEqual([0, 1, 2, 3]);
    const schedule = await scheduleForSidecar(ctx, channel.id);
    expect(schedule.events.map((e) => e.eventId)).toEqual(events.map((e) => e.id));
  });
  it('refuses a list that would leave an untimed event first, naming its field, not a row the caller never saw', async () => {
    const channel = await newChannel();
    const asset = await newAsset(60_000);
    const day = { fromMs: Date.now(), toMs: Date.now() + 12 * HOUR };
    const ids = async () =>
      (await server.services.db.scheduleEvent.findMany({ where: { channelId: channel.id } })).map((e) => e.id);
    for (const trigger of ['FOLLOW', 'MANUAL'] as const) {
      const refused = await replaceScheduleEvents(ctx, channel.id, day, [
        { trigger, assetId: asset.id },
        { trigger: 'HARD', at: new Date(Date.now() + HOUR), assetId: asset.id },
      ]).catch((e) => e);
      expect([trigger, refused.extensions]).toEqual([
        trigger,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'events.0.trigger' }),
      ]);
      expect(refused.message).toMatch(/^events\.0\.trigger: /);
      expect(refused.message).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
      expect(await ids()).toEqual([]);
    }
    // The timed event the list would follow is the one it replaces: the new first event still has none before it.
    const hard = await addScheduleEvent(ctx, {
      channelId: channel.id,
      trigger: 'HARD',
      at: new Date(Date.now() + HOUR),
      assetId: asset.id,
    });
    const v = await version(channel.id);
    const refused = await replaceScheduleEvents(ctx, channel.id, day, [{ trigger: 'FOLLOW', assetId: asset.id }]).catch(
      (e) => e,
    );
    expect(refused.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'events.0.trigger' });
    expect(await ids()).toEqual([hard.value.id]);
    expect(await version(channel.id)).toBe(v);
  });
});
