import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyEventsPage, closeOpenAsRun, type ApplyPageInput } from '../../src/domain/as-run/as-run-record.ts';
import type { EventsPage, SidecarEvent } from '../../src/protocol/sidecar-api.ts';
import { timeOrderedId } from '../../src/sidecar/event-log.ts';
import { HeartbeatWriter } from '../../src/worker/ingest/heartbeats.ts';
import { ChannelLeases } from '../../src/worker/ingest/lease.ts';
import { insertChannel, uniq } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';

// Applying pages of sidecar events to the as-run log, against the real database.
const { server } = useTestServer();
let projectId: string;

beforeAll(async () => {
  projectId = (await server.services.db.project.create({ data: { name: `p-${uniq()}` } })).id;
});

const REF = 'sidecar-1';
const t = (s: number) => new Date(Date.UTC(2026, 10, 24, 12, 0, s)).toISOString();

async function setup() {
  const { db } = server.services;
  const channel = await insertChannel(server.services, projectId, {
    status: 'RUNNING',
    sidecarRef: REF,
    sidecarUrl: 'http://127.0.0.1:1',
  });
  const playlist = await db.playlist.create({ data: { channelId: channel.id, name: 'pl' } });
  const items: { id: string; assetId: string }[] = [];
  for (let i = 0; i < 3; i++) {
    const asset = await db.asset.create({
      data: { projectId, filename: `clip${i}.mp4`, storageKey: `k${i}`, durationMs: 1000 },
    });
    items.push(await db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: i } }));
  }
  const ref = (i: number) => ({
    itemId: items[i].id,
    assetId: items[i].assetId,
    playlistId: playlist.id,
    clipName: `clip${i}.mp4`,
  });
  const onAir = (seq: number, i: number, startedAt: string): SidecarEvent => ({
    seq,
    at: startedAt,
    kind: 'ITEM_ON_AIR',
    ...ref(i),
    startedAt,
  });
  const ended = (
    seq: number,
    i: number,
    startedAt: string | null,
    endedAt: string,
    how: 'PLAYED' | 'SKIPPED' | 'TRUNCATED' | 'FAILED' = 'PLAYED',
  ): SidecarEvent => ({
    seq,
    at: endedAt,
    kind: 'ITEM_ENDED',
    ...ref(i),
    startedAt,
    endedAt,
    durationMs: startedAt ? Date.parse(endedAt) - Date.parse(startedAt) : 0,
    how,
  });
  const state = (seq: number, s: 'PLAYING' | 'STOPPED'): SidecarEvent => ({
    seq,
    at: t(0),
    kind: 'STATE_CHANGED',
    state: s,
  });
  const apply = (epoch: string, after: number, events: SidecarEvent[], extra: Partial<ApplyPageInput> = {}) => {
    const page: EventsPage = { epoch, events, lastSeq: events.at(-1)?.seq ?? after };
    return applyEventsPage(db, {
      channelId: channel.id,
      sidecarRef: REF,
      after,
      page,
      receivedAt: new Date(),
      ...extra,
    });
  };
  const rows = () =>
    db.asRunEntry.findMany({
      where: { channelId: channel.id },
      orderBy: [{ startedAt: 'asc' }, { sidecarSeq: 'asc' }],
    });
  const position = async () => {
    const c = await db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    return { epoch: c.sidecarEpoch, seq: c.sidecarSeq };
  };
  return { channel, items, onAir, ended, state, apply, rows, position };
}

describe('applying a page of sidecar events', () => {
  it('an item on air is a row with endedAt null (PLAYED provisionally), completed by its ITEM_ENDED', async () => {
    const { apply, onAir, ended, state, rows, position, items, channel } = await setup();
    const epoch = timeOrderedId();
    const first = await apply(epoch, 0, [state(1, 'PLAYING'), onAir(2, 0, t(1))]);
    expect(first.outcome).toBe('applied');
    expect(first.projectId).toBe(projectId);
    expect(first.rows).toMatchObject([
      { itemId: items[0].id, clipName: 'clip0.mp4', startedAt: t(1), endedAt: null, status: 'PLAYED' },
    ]);
    expect(await rows()).toMatchObject([
      { itemId: items[0].id, endedAt: null, durationMs: null, status: 'PLAYED', sidecarEpoch: epoch, sidecarSeq: 2 },
    ]);
    expect(await position()).toEqual({ epoch, seq: 2 });

    const second = await apply(epoch, 2, [ended(3, 0, t(1), t(3), 'SKIPPED'), onAir(4, 1, t(3))]);
    expect(second.rows.map((r) => [r.clipName, r.status, r.endedAt])).toEqual([
      ['clip0.mp4', 'SKIPPED', t(3)],
      ['clip1.mp4', 'PLAYED', null],
    ]);
    const all = await rows();
    expect(all).toHaveLength(2);
    expect(all[0]).toMatchObject({
      id: first.rows[0].id,
      status: 'SKIPPED',
      durationMs: 2000,
      endedAt: new Date(t(3)),
    });
    expect(await position()).toEqual({ epoch, seq: 4 });
    expect(
      (await server.services.db.channel.findUniqueOrThrow({ where: { id: channel.id } })).lastHeartbeatAt,
    ).not.toBeNull();
  });

  it('what a schedule airs is recorded against its plan: event, version, planned start and end, fills', async () => {
    const { apply, onAir, ended, rows } = await setup();
    const epoch = timeOrderedId();
    const eventId = randomUUID();
    const plan = (fills: 'GAP' | 'MISSING' | null, id: string | null, start: number, end: number) => ({
      schedule: { version: 7, eventId: id, plannedStartAt: t(start), plannedEndAt: t(end), fills },
    });
    const late = { ...onAir(1, 0, t(1)), ...plan(null, eventId, 0, 2) } as SidecarEvent;
    const endedCut = { ...ended(2, 0, t(1), t(2), 'TRUNCATED'), ...plan(null, eventId, 0, 2) } as SidecarEvent;
    const gap = { ...onAir(3, 1, t(2)), ...plan('GAP', null, 2, 4) } as SidecarEvent;
    // A malformed event id (the sidecar's word) is recorded as unknown, the rest kept.
    const odd = { ...onAir(4, 2, t(4)), ...plan('MISSING', 'not-a-uuid', 4, 6) } as SidecarEvent;
    const applied = await apply(epoch, 0, [late, endedCut, gap, odd]);
    expect(applied.rows[0]).toMatchObject({
      scheduleEventId: eventId,
      scheduleVersion: 7,
      plannedStartAt: t(0),
      plannedEndAt: t(2),
      fills: null,
    });
    expect((await rows()).map((r) => [r.status, r.scheduleEventId, r.plannedStartAt?.toISOString(), r.fills])).toEqual([
      ['TRUNCATED', eventId, t(0), null],
      ['PLAYED', null, t(2), 'GAP'],
      ['PLAYED', null, t(4), 'MISSING'],
    ]);
    // Manual play names no plan.
    const { apply: applyManual, onAir: manualOnAir, rows: manualRows } = await setup();
    await applyManual(timeOrderedId(), 0, [manualOnAir(1, 0, t(1))]);
    expect(await manualRows()).toMatchObject([{ scheduleEventId: null, plannedStartAt: null, fills: null }]);
  });

  it('an event the schedule passed without airing it is a SKIPPED row when the event that passed it airs, once', async () => {
    const { db } = server.services;
    const scheduled = async () => {
      const ctx = await setup();
      await db.schedule.create({ data: { channelId: ctx.channel.id, version: 3 } });
      const event = (position: number, trigger: 'HARD' | 'MANUAL', s: number | null) =>
        db.scheduleEvent.create({
          data: {
            channelId: ctx.channel.id,
            position,
            trigger,
            at: s === null ? null : t(s),
            assetId: ctx.items[0].assetId,
          },
        });
      // Planned at 12:00:00 (1 s clip); the MANUAL one after it is never taken; the HARD one at 12:00:10 passes it.
      const ids = [
        (await event(0, 'HARD', 0)).id,
        (await event(1, 'MANUAL', null)).id,
        (await event(2, 'HARD', 10)).id,
      ];
      const airing = (seq: number, eventId: string, s: number, version = 3) =>
        ({
          ...ctx.onAir(seq, 0, t(s)),
          schedule: { version, eventId, plannedStartAt: t(s), plannedEndAt: t(s + 1), fills: null },
        }) as SidecarEvent;
      return { ...ctx, ids, airing };
    };

    const { apply, rows, ids, airing } = await scheduled();
    const [first, manual, hard] = ids;
    const epoch = timeOrderedId();
    await apply(epoch, 0, [airing(1, first, 0)]);
    const applied = await apply(epoch, 1, [airing(2, hard, 10)]);
    expect(applied.rows.map((r) => [r.status, r.scheduleEventId])).toEqual([
      ['PLAYED', hard],
      ['SKIPPED', manual],
    ]);
    // Aired again (a join after a restart): nothing new is claimed.
    await apply(epoch, 2, [airing(3, hard, 10)]);
    const skipped = (await rows()).filter((r) => r.status === 'SKIPPED');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({
      scheduleEventId: manual,
      clipName: 'clip0.mp4',
      startedAt: new Date(t(10)),
      durationMs: 0,
      reason: 'the schedule passed it: it never aired',
    });

    // An airing of another version than the committed one claims nothing (an edit may have moved them).
    const other = await scheduled();
    await other.apply(timeOrderedId(), 0, [other.airing(1, other.ids[2], 10, 2)]);
    expect((await other.rows()).map((r) => r.status)).toEqual(['PLAYED']);
  });

  it('the same page applied twice, or by two readers at once, writes each row once', async () => {
    const { apply, onAir, ended, rows, position } = await setup();
    const epoch = timeOrderedId();
    const page = [onAir(1, 0, t(1)), ended(2, 0, t(1), t(2)), onAir(3, 1, t(2))];
    const [a, b] = await Promise.all([apply(epoch, 0, page), apply(epoch, 0, page)]);
    const again = await apply(epoch, 0, page);
    expect([a.rows.length + b.rows.length, again.rows.length]).toEqual([3, 0]);
    expect((await rows()).map((r) => [r.clipName, r.status, r.endedAt?.toISOString() ?? null])).toEqual([
      ['clip0.mp4', 'PLAYED', t(2)],
      ['clip1.mp4', 'PLAYED', null],
    ]);
    expect(await position()).toEqual({ epoch, seq: 3 });
  });

  it('pages out of order (a second reader behind the first) write only what is past the recorded position', async () => {
    const { apply, onAir, ended, rows, position } = await setup();
    const epoch = timeOrderedId();
    const events = [
      onAir(1, 0, t(1)),
      ended(2, 0, t(1), t(2)),
      onAir(3, 1, t(2)),
      ended(4, 1, t(2), t(4)),
      onAir(5, 2, t(4)),
    ];
    await apply(epoch, 0, events.slice(0, 4));
    // The slower reader's older page: nothing new in it, and the position does not go back.
    const behind = await apply(epoch, 0, events.slice(0, 2));
    expect(behind.rows).toEqual([]);
    expect(await position()).toEqual({ epoch, seq: 4 });
    // An overlapping page: only seq 5 is new.
    const overlap = await apply(epoch, 2, events.slice(2, 5));
    expect(overlap.rows.map((r) => r.clipName)).toEqual(['clip2.mp4']);
    expect((await rows()).map((r) => r.clipName)).toEqual(['clip0.mp4', 'clip1.mp4', 'clip2.mp4']);
    // A page that starts past the recorded position would skip events: refused, to be read again.
    const ahead = await apply(epoch, 7, [ended(8, 2, t(4), t(6))]);
    expect(ahead).toMatchObject({ outcome: 'refetch', epoch, seq: 5, rows: [] });
    expect((await rows()).at(-1)?.endedAt).toBeNull();
  });

  it("a new epoch (the sidecar restarted) closes the previous epoch's open rows TRUNCATED at the last heartbeat; a late page of the old epoch is ignored", async () => {
    const { apply, onAir, rows, position, channel } = await setup();
    const old = timeOrderedId(Date.now() - 60_000);
    const heartbeat = new Date(Date.parse(t(5)));
    await apply(old, 0, [onAir(1, 0, t(1))], { receivedAt: heartbeat });
    const renewed = timeOrderedId();
    // The new epoch's page must be read from its start.
    expect((await apply(renewed, 1, [onAir(2, 1, t(8))])).outcome).toBe('refetch');
    const applied = await apply(renewed, 0, [onAir(1, 1, t(8))], { receivedAt: new Date(Date.parse(t(9))) });
    expect(applied.rows.map((r) => [r.clipName, r.status, r.endedAt])).toEqual([
      ['clip0.mp4', 'TRUNCATED', t(5)],
      ['clip1.mp4', 'PLAYED', null],
    ]);
    expect(await position()).toEqual({ epoch: renewed, seq: 1 });
    const stale = await apply(old, 1, [onAir(2, 2, t(6))]);
    expect(stale.outcome).toBe('stale');
    expect((await rows()).map((r) => [r.clipName, r.status, r.durationMs])).toEqual([
      ['clip0.mp4', 'TRUNCATED', 4000],
      ['clip1.mp4', 'PLAYED', null],
    ]);
    expect(await position()).toEqual({ epoch: renewed, seq: 1 });
    expect(channel.id).toBeTruthy();
  });

  it('an item deleted meanwhile: its row is written with no item, and completed all the same', async () => {
    const { apply, onAir, ended, rows, items } = await setup();
    const { db } = server.services;
    const epoch = timeOrderedId();
    await db.item.delete({ where: { id: items[0].id } });
    await apply(epoch, 0, [onAir(1, 0, t(1))]);
    await db.item.delete({ where: { id: items[1].id } });
    await apply(epoch, 1, [ended(2, 0, t(1), t(2)), onAir(3, 1, t(2))]);
    await apply(epoch, 3, [ended(4, 1, t(2), t(3), 'TRUNCATED')]);
    expect((await rows()).map((r) => [r.itemId, r.assetId, r.clipName, r.status, r.endedAt?.toISOString()])).toEqual([
      [null, items[0].assetId, 'clip0.mp4', 'PLAYED', t(2)],
      [null, items[1].assetId, 'clip1.mp4', 'TRUNCATED', t(3)],
    ]);
  });

  it('an item that failed before air is a FAILED row of no length; an ITEM_ENDED whose ITEM_ON_AIR was never read is a complete row', async () => {
    const { apply, ended, rows, position } = await setup();
    const epoch = timeOrderedId();
    const page = [ended(5, 0, null, t(1), 'FAILED'), ended(6, 1, t(1), t(4), 'PLAYED')];
    await apply(epoch, 0, page);
    await apply(epoch, 0, page);
    expect(
      (await rows()).map((r) => [
        r.clipName,
        r.status,
        r.startedAt.toISOString(),
        r.endedAt?.toISOString(),
        r.durationMs,
        r.sidecarSeq,
      ]),
    ).toEqual([
      ['clip0.mp4', 'FAILED', t(1), t(1), 0, 5],
      ['clip1.mp4', 'PLAYED', t(1), t(4), 3000, 6],
    ]);
    expect(await position()).toEqual({ epoch, seq: 6 });
  });

  it('a page from a sidecar the channel no longer runs writes nothing', async () => {
    const { apply, onAir, rows, position } = await setup();
    const result = await apply(timeOrderedId(), 0, [onAir(1, 0, t(1))], { sidecarRef: 'another-sidecar' });
    expect(result.outcome).toBe('moved');
    expect(await rows()).toEqual([]);
    expect(await position()).toEqual({ epoch: null, seq: 0 });
  });

  it('closeOpenAsRun closes what is on air with the status given, never before it started', async () => {
    const { apply, onAir, ended, rows, channel } = await setup();
    const epoch = timeOrderedId();
    await apply(epoch, 0, [onAir(1, 0, t(1)), ended(2, 0, t(1), t(2)), onAir(3, 1, t(10))]);
    const closed = await closeOpenAsRun(server.services.db, channel.id, new Date(t(5)), 'FAILED');
    expect(closed.map((r) => [r.clipName, r.status, r.endedAt, r.durationMs])).toEqual([
      ['clip1.mp4', 'FAILED', t(10), 0],
    ]);
    expect((await closeOpenAsRun(server.services.db, channel.id, new Date())).length).toBe(0);
    expect((await rows()).map((r) => r.status)).toEqual(['PLAYED', 'FAILED']);
  });
});

describe('sidecar epochs', () => {
  it('sort by the time the sidecar started, as text', () => {
    const earlier = timeOrderedId(Date.UTC(2026, 10, 24, 12, 0, 0, 1));
    const later = timeOrderedId(Date.UTC(2026, 10, 24, 12, 0, 0, 2));
    expect(earlier).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(earlier < later).toBe(true);
    expect(timeOrderedId(Date.UTC(2030, 0, 1)) > later).toBe(true);
  });
});

describe('heartbeats and leases', () => {
  it('quiet answers write the heartbeat of the sidecar they came from, in one statement', async () => {
    const { db, sql, log } = server.services;
    const a = await insertChannel(server.services, null, { status: 'RUNNING', sidecarRef: 'ref-a' });
    const b = await insertChannel(server.services, null, { status: 'RUNNING', sidecarRef: 'ref-b' });
    const writer = new HeartbeatWriter(sql, log, 60_000);
    const at = new Date(Date.now() - 1000);
    writer.beat(a.id, 'ref-a', at);
    writer.beat(b.id, 'an-older-sidecar', at);
    const before = server.queries.length;
    await writer.close();
    expect(server.queries.length - before).toBe(1);
    expect((await db.channel.findUniqueOrThrow({ where: { id: a.id } })).lastHeartbeatAt).toEqual(at);
    expect((await db.channel.findUniqueOrThrow({ where: { id: b.id } })).lastHeartbeatAt).toBeNull();
  });

  it('a channel lease has one holder; the other can neither renew nor release it', async () => {
    const { redis } = server.services;
    const prefix = `ingest-test-${uniq()}`;
    const one = new ChannelLeases(redis, prefix, 'worker-1', 5000);
    const two = new ChannelLeases(redis, prefix, 'worker-2', 5000);
    const channel = randomUUID();
    const [first, second] = await Promise.all([one.acquire([channel]), two.acquire([channel])]);
    expect([...first, ...second]).toEqual([channel]);
    const [holder, other] = first.length ? [one, two] : [two, one];
    expect(await holder.renew([channel])).toEqual([]);
    expect(await other.renew([channel])).toEqual([channel]);
    await other.release([channel]);
    expect(await redis.get(holder.key(channel))).toBe(holder.token);
    await holder.release([channel]);
    expect(await other.acquire([channel])).toEqual([channel]);
    await other.release([channel]);
  });
});
