import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertChannel } from '../helpers/fixtures.ts';
import { ACTORS, outcome, tokenOf, useTestServer, type Actor, type GqlResult } from '../helpers/server.ts';
import { connectWs, type WsConnection } from '../helpers/ws.ts';
import { sidecarSchedule } from '../../src/domain/schedules/schedule-snapshot.ts';

const { server, cast } = useTestServer();

const HOUR = 3_600_000;
const future = (ms = HOUR) => new Date(Date.now() + ms).toISOString();

let assetId: string; // home, 60 s, staged
let fillerId: string; // home, 10 s, staged
let unknownId: string; // home, duration unknown
let otherAssetId: string; // other project

function newAsset(durationMs: number | null, projectId: string = cast.home.id, staged = true) {
  return server.services.db.asset.create({
    data: {
      projectId,
      filename: `clip-${Math.random().toString(36).slice(2, 6)}.mxf`,
      storageKey: 'k',
      durationMs,
      ...(staged && { mediaStatus: 'READY', mediaPath: `objects/${Math.random().toString(36).slice(2)}/c.mxf` }),
    },
  });
}

beforeAll(async () => {
  assetId = (await newAsset(60_000)).id;
  fillerId = (await newAsset(10_000)).id;
  unknownId = (await newAsset(null)).id;
  otherAssetId = (await newAsset(60_000, cast.other.id)).id;
});

const newChannel = (projectId: string | null = cast.home.id) => insertChannel(server.services, projectId);

const EDIT =
  'version eventId event { id position trigger at inPointMs outPointMs durationMs asset { id } playlist { id } }';
const ADD = `mutation($input: AddScheduleEventInput!) { addScheduleEvent(input: $input) { ${EDIT} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateScheduleEventInput!) { updateScheduleEvent(id: $id, input: $input) { ${EDIT} } }`;
const MOVE = `mutation($id: ID!, $position: Int!) { moveScheduleEvent(id: $id, position: $position) { ${EDIT} } }`;
const REMOVE = `mutation($id: ID!) { removeScheduleEvent(id: $id) { version eventId schedule { version events { id } } } }`;
const SETTINGS = `mutation($channelId: ID!, $input: UpdateScheduleInput!) { updateSchedule(channelId: $channelId, input: $input) { version schedule { timeZone dayStart } } }`;
const FILLER = `mutation($channelId: ID!, $assetIds: [ID!]!) { setScheduleFiller(channelId: $channelId, assetIds: $assetIds) { version schedule { filler { id } } } }`;
const SCHEDULE = `query($id: ID!) { channel(id: $id) { schedule { channelId version timeZone dayStart filler { id } events { id position trigger at } } } }`;

const WRITE: Record<Actor, string> = {
  admin: 'OK',
  editor: 'OK',
  operator: 'OK',
  viewer: 'FORBIDDEN',
  outsider: 'NOT_FOUND',
  revoked: 'UNAUTHENTICATED',
  anonymous: 'UNAUTHENTICATED',
};

function expectBadInput(res: GqlResult, field: string) {
  expect([field, res.errors?.[0]?.extensions]).toEqual([
    field,
    expect.objectContaining({ code: 'BAD_USER_INPUT', field }),
  ]);
  expect(res.errors?.[0]?.message.startsWith(`${field}: `)).toBe(true);
}

async function add(channelId: string, input: Record<string, unknown> = {}) {
  const res = await server.gql(cast.operator.token, ADD, {
    input: { channelId, trigger: 'HARD', at: future(), assetId, ...input },
  });
  expect(res.errors).toBeUndefined();
  return res.data.addScheduleEvent as { version: number; eventId: string };
}

describe('roles', () => {
  it('operators and up edit a schedule; viewers read it (FORBIDDEN to edit); other projects see nothing', async () => {
    const channel = await newChannel();
    const base = Date.now() + HOUR;
    for (const [k, actor] of ACTORS.entries()) {
      const res = await server.gql(tokenOf(cast, actor), ADD, {
        input: { channelId: channel.id, trigger: 'HARD', at: new Date(base + k * 60_000).toISOString(), assetId },
      });
      expect([actor, outcome(res)]).toEqual([actor, WRITE[actor]]);
    }
    const read = await Promise.all(
      ACTORS.map((actor) => server.gql(tokenOf(cast, actor), SCHEDULE, { id: channel.id })),
    );
    expect(read.map((r) => (r.errors ? outcome(r) : (r.data.channel?.schedule.events.length ?? null)))).toEqual([
      3,
      3,
      3,
      3,
      null,
      'UNAUTHENTICATED',
      'UNAUTHENTICATED',
    ]);
    const eventId = read[0].data.channel.schedule.events[0].id;
    const writes = [
      [UPDATE, { id: eventId, input: { at: future(2 * HOUR) } }],
      [MOVE, { id: eventId, position: 1 }],
      [REMOVE, { id: eventId }],
      [SETTINGS, { channelId: channel.id, input: { timeZone: 'Europe/Paris' } }],
      [FILLER, { channelId: channel.id, assetIds: [fillerId] }],
    ] as const;
    for (const [query, variables] of writes) {
      for (const actor of ['viewer', 'outsider', 'anonymous'] as const) {
        const res = await server.gql(tokenOf(cast, actor), query, variables);
        expect([actor, query.slice(0, 30), outcome(res)]).toEqual([actor, query.slice(0, 30), WRITE[actor]]);
      }
    }
    expect((await server.gql(cast.admin.token, SCHEDULE, { id: channel.id })).data.channel.schedule.version).toBe(3);
  });

  it("refuses another project's asset, another channel's playlist and an invisible playlist", async () => {
    const channel = await newChannel();
    const other = await newChannel(cast.other.id);
    const sibling = await newChannel();
    const otherPlaylist = await server.services.db.playlist.create({ data: { channelId: other.id, name: 'x' } });
    const siblingPlaylist = await server.services.db.playlist.create({ data: { channelId: sibling.id, name: 'x' } });
    const input = { channelId: channel.id, trigger: 'HARD', at: future() };
    // An editor of home does not see the other project's asset or playlist at all.
    const asEditor = (extra: object) => server.gql(cast.editor.token, ADD, { input: { ...input, ...extra } });
    expect(outcome(await asEditor({ assetId: otherAssetId }))).toBe('NOT_FOUND');
    expect(outcome(await asEditor({ playlistId: otherPlaylist.id }))).toBe('NOT_FOUND');
    expectBadInput(await asEditor({ playlistId: siblingPlaylist.id }), 'input.playlistId');
    // An admin sees everything, and still may not air another project's asset on this channel.
    expectBadInput(
      await server.gql(cast.admin.token, ADD, { input: { ...input, assetId: otherAssetId } }),
      'input.assetId',
    );
    expectBadInput(
      await server.gql(cast.admin.token, FILLER, { channelId: channel.id, assetIds: [otherAssetId] }),
      'assetIds',
    );
    // The outsider cannot reach this channel's schedule through its own channel either.
    expect(outcome(await server.gql(cast.outsider.token, ADD, { input: { ...input, assetId: otherAssetId } }))).toBe(
      'NOT_FOUND',
    );
    const schedule = await server.gql(cast.admin.token, SCHEDULE, { id: channel.id });
    expect(schedule.data.channel.schedule).toMatchObject({
      version: 0,
      events: [],
      timeZone: 'UTC',
      dayStart: '06:00',
    });
  });
});

describe('validation', () => {
  it('names the field of every invalid input', async () => {
    const channel = await newChannel();
    const first = await add(channel.id, { at: future(HOUR) });
    const playlist = await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'b' } });
    await server.services.db.item.create({ data: { playlistId: playlist.id, assetId, position: 0 } });
    const blinkId = (await newAsset(40)).id;
    const base = { channelId: channel.id, trigger: 'HARD', at: future(2 * HOUR), assetId };
    const cases: [string, string, Record<string, unknown>][] = [
      ['input.channelId', ADD, { input: { ...base, channelId: 'nope' } }],
      ['input.at', ADD, { input: { ...base, at: undefined } }],
      ['input.at', ADD, { input: { ...base, trigger: 'FOLLOW' } }],
      ['input.at', ADD, { input: { ...base, at: new Date(Date.now() - 1000).toISOString() } }],
      ['input.at', ADD, { input: { ...base, at: future(HOUR / 2), position: 1 } }],
      ['input.trigger', ADD, { input: { ...base, trigger: 'FOLLOW', at: undefined, position: 0 } }],
      ['input.assetId', ADD, { input: { ...base, assetId: undefined } }],
      ['input.assetId', ADD, { input: { ...base, assetId: 'nope' } }],
      ['input.assetId', ADD, { input: { ...base, assetId: unknownId } }],
      ['input.playlistId', ADD, { input: { ...base, playlistId: playlist.id } }],
      ['input.inPointMs', ADD, { input: { ...base, assetId: undefined, playlistId: playlist.id, inPointMs: 1000 } }],
      ['input.inPointMs', ADD, { input: { ...base, inPointMs: -1 } }],
      ['input.inPointMs', ADD, { input: { ...base, inPointMs: 60_000 } }],
      ['input.outPointMs', ADD, { input: { ...base, inPointMs: 5000, outPointMs: 5000 } }],
      ['input.outPointMs', ADD, { input: { ...base, outPointMs: 61_000 } }],
      ['input.transitionMs', ADD, { input: { ...base, transitionMs: 61_000 } }],
      ['input.position', ADD, { input: { ...base, position: 5 } }],
      ['input.position', ADD, { input: { ...base, position: -1 } }],
      ['input.afterEventId', ADD, { input: { ...base, afterEventId: crypto.randomUUID() } }],
      ['input.afterEventId', ADD, { input: { ...base, afterEventId: first.eventId, position: 0 } }],
      ['id', UPDATE, { id: 'nope', input: {} }],
      ['input.trigger', UPDATE, { id: first.eventId, input: { trigger: null } }],
      ['input.trigger', UPDATE, { id: first.eventId, input: { trigger: 'MANUAL' } }],
      ['input.at', UPDATE, { id: first.eventId, input: { at: null } }],
      ['position', MOVE, { id: first.eventId, position: 1 }],
      ['position', MOVE, { id: first.eventId, position: -1 }],
      ['input.timeZone', SETTINGS, { channelId: channel.id, input: { timeZone: 'Mars/Olympus' } }],
      ['input.dayStart', SETTINGS, { channelId: channel.id, input: { dayStart: '25:00' } }],
      ['input.dayStart', SETTINGS, { channelId: channel.id, input: { dayStart: null } }],
      ['assetIds', FILLER, { channelId: channel.id, assetIds: ['nope'] }],
      ['assetIds', FILLER, { channelId: channel.id, assetIds: [unknownId] }],
      ['assetIds', FILLER, { channelId: channel.id, assetIds: [blinkId] }],
    ];
    for (const [field, query, variables] of cases)
      expectBadInput(await server.gql(cast.operator.token, query, variables), field);
    const day = await server.gql(
      cast.viewer.token,
      `query($id: ID!) { channel(id: $id) { schedule { day(date: "2027-02-30") { hours } } } }`,
      {
        id: channel.id,
      },
    );
    expectBadInput(day, 'date');
    // Nothing of it was written.
    const schedule = await server.gql(cast.viewer.token, SCHEDULE, { id: channel.id });
    expect(schedule.data.channel.schedule).toMatchObject({ version: first.version, filler: [] });
    expect(schedule.data.channel.schedule.events).toHaveLength(1);
  });
});

describe('edits', () => {
  it('adds after an event, makes a clip a block and back, moves and removes, each with the next version', async () => {
    const channel = await newChannel();
    const playlist = await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'b' } });
    await server.services.db.item.create({ data: { playlistId: playlist.id, assetId, position: 0 } });
    const a = await add(channel.id, { at: future(HOUR) });
    const c = await add(channel.id, { trigger: 'FOLLOW', at: undefined });
    const b = await add(channel.id, { trigger: 'SOFT', at: future(2 * HOUR), afterEventId: a.eventId });
    const order = async () =>
      (await server.gql(cast.viewer.token, SCHEDULE, { id: channel.id })).data.channel.schedule.events.map(
        (e: any) => e.id,
      );
    expect(await order()).toEqual([a.eventId, b.eventId, c.eventId]);

    const block = await server.gql(cast.operator.token, UPDATE, { id: c.eventId, input: { playlistId: playlist.id } });
    expect(block.data.updateScheduleEvent).toMatchObject({
      version: b.version + 1,
      event: { id: c.eventId, trigger: 'FOLLOW', asset: null, playlist: { id: playlist.id }, durationMs: null },
    });
    const clip = await server.gql(cast.operator.token, UPDATE, {
      id: c.eventId,
      input: { assetId, inPointMs: 1000, outPointMs: 21_000, trigger: 'HARD', at: future(3 * HOUR) },
    });
    expect(clip.data.updateScheduleEvent).toMatchObject({
      version: b.version + 2,
      event: { trigger: 'HARD', asset: { id: assetId }, playlist: null, durationMs: 20_000, inPointMs: 1000 },
    });
    // Back to FOLLOW: the time goes with it.
    const follow = await server.gql(cast.operator.token, UPDATE, { id: c.eventId, input: { trigger: 'FOLLOW' } });
    expect(follow.data.updateScheduleEvent.event).toMatchObject({ trigger: 'FOLLOW', at: null });

    const moved = await server.gql(cast.operator.token, MOVE, { id: c.eventId, position: 1 });
    expect(moved.data.moveScheduleEvent).toMatchObject({ version: b.version + 4, event: { position: 1 } });
    expect(await order()).toEqual([a.eventId, c.eventId, b.eventId]);
    const removed = await server.gql(cast.operator.token, REMOVE, { id: c.eventId });
    expect(removed.data.removeScheduleEvent).toMatchObject({
      version: b.version + 5,
      eventId: null,
      schedule: { version: b.version + 5, events: [{ id: a.eventId }, { id: b.eventId }] },
    });
    const settings = await server.gql(cast.operator.token, SETTINGS, {
      channelId: channel.id,
      input: { timeZone: 'America/New_York', dayStart: '05:30' },
    });
    expect(settings.data.updateSchedule).toMatchObject({
      version: b.version + 6,
      schedule: { timeZone: 'America/New_York', dayStart: '05:30' },
    });
    const filler = await server.gql(cast.operator.token, FILLER, {
      channelId: channel.id,
      assetIds: [fillerId, assetId, fillerId],
    });
    expect(filler.data.setScheduleFiller.schedule.filler.map((f: any) => f.id)).toEqual([fillerId, assetId, fillerId]);
  });
});

describe('the schedule as a whole', () => {
  it('refuses an edit that leaves an untimed event first, naming the field and the event', async () => {
    const channel = await newChannel();
    const hard = await add(channel.id);
    const follow = await add(channel.id, { trigger: 'FOLLOW', at: undefined });
    const removed = await server.gql(cast.operator.token, REMOVE, { id: hard.eventId });
    expectBadInput(removed, 'id');
    expect(removed.errors?.[0]?.message).toContain(follow.eventId);
    expectBadInput(await server.gql(cast.operator.token, MOVE, { id: hard.eventId, position: 1 }), 'position');
    expectBadInput(await server.gql(cast.operator.token, MOVE, { id: follow.eventId, position: 0 }), 'position');
    expectBadInput(
      await server.gql(cast.operator.token, UPDATE, { id: hard.eventId, input: { trigger: 'FOLLOW' } }),
      'input.trigger',
    );
    const schedule = await server.gql(cast.viewer.token, SCHEDULE, { id: channel.id });
    expect(schedule.data.channel.schedule.events.map((e: any) => e.id)).toEqual([hard.eventId, follow.eventId]);
  });
});

const DAY = `query($id: ID!, $date: String!) { channel(id: $id) { schedule { day(date: $date) {
  date from to hours
  events { eventId event { id } trigger status time plannedStart plannedEnd durationFrames lateFrames overrunFrames underrunFrames truncatedFrames truncated missingClips }
  segments { kind start end eventId clipIndex assetId clipName truncated pushed fills alarm }
  unplayable { eventId reason }
} } } }`;

describe('broadcast day', () => {
  it('plans a day across the autumn clock change: 25 hours, HARD on its frame, over-runs cut, filler in the gaps', async () => {
    const channel = await newChannel();
    await server.gql(cast.operator.token, SETTINGS, { channelId: channel.id, input: { timeZone: 'Europe/London' } });
    await server.gql(cast.operator.token, FILLER, { channelId: channel.id, assetIds: [fillerId] });
    const unstaged = (await newAsset(30_000, cast.home.id, false)).id;
    // The clocks go back at 01:00 UTC on Sunday 31 October 2027: in the broadcast day of Saturday the 30th.
    const soft = await add(channel.id, { trigger: 'SOFT', at: '2027-10-30T12:00:00Z' });
    const follow = await add(channel.id, { trigger: 'FOLLOW', at: undefined, assetId: unstaged });
    const hard = await add(channel.id, { trigger: 'HARD', at: '2027-10-30T12:01:10Z' }); // cuts FOLLOW after 10 s
    const res = await server.gql(cast.viewer.token, DAY, { id: channel.id, date: '2027-10-30' });
    expect(res.errors).toBeUndefined();
    const day = res.data.channel.schedule.day;
    expect(day).toMatchObject({
      date: '2027-10-30',
      from: '2027-10-30T05:00:00.000Z',
      to: '2027-10-31T06:00:00.000Z',
      hours: 25,
      unplayable: [],
    });
    expect(day.events.map((e: any) => [e.eventId, e.status, e.plannedStart, e.plannedEnd])).toEqual([
      [soft.eventId, 'PLANNED', '2027-10-30T12:00:00.000Z', '2027-10-30T12:01:00.000Z'],
      [follow.eventId, 'PLANNED', '2027-10-30T12:01:00.000Z', '2027-10-30T12:01:10.000Z'],
      [hard.eventId, 'PLANNED', '2027-10-30T12:01:10.000Z', '2027-10-30T12:02:10.000Z'],
    ]);
    expect(day.events[1]).toMatchObject({ truncated: true, truncatedFrames: 500, overrunFrames: 500, missingClips: 1 });
    expect(day.events[0].event.id).toBe(soft.eventId);
    const segments = day.segments as any[];
    // Segments tile the day: each ends where the next starts, first and last cross its edges.
    for (let i = 1; i < segments.length; i++) expect(segments[i].start).toBe(segments[i - 1].end);
    expect(Date.parse(segments[0].start)).toBeLessThanOrEqual(Date.parse(day.from));
    expect(Date.parse(segments.at(-1).end)).toBeGreaterThanOrEqual(Date.parse(day.to));
    const around = segments.filter((s) => s.start >= '2027-10-30T11:59:50' && s.start < '2027-10-30T12:02:10');
    expect(around.map((s) => [s.kind, s.start, s.end, s.eventId, s.fills, s.truncated])).toEqual([
      ['FILLER', '2027-10-30T11:59:50.000Z', '2027-10-30T12:00:00.000Z', null, 'GAP', false],
      ['CLIP', '2027-10-30T12:00:00.000Z', '2027-10-30T12:01:00.000Z', soft.eventId, null, false],
      // The unstaged clip plays filler for its planned length, cut by the HARD event.
      ['FILLER', '2027-10-30T12:01:00.000Z', '2027-10-30T12:01:10.000Z', follow.eventId, 'MISSING', false],
      ['CLIP', '2027-10-30T12:01:10.000Z', '2027-10-30T12:02:10.000Z', hard.eventId, null, false],
    ]);
    expect(segments.every((s) => s.alarm === false)).toBe(true);
    // The spring change: 23 hours.
    const spring = await server.gql(cast.viewer.token, DAY, { id: channel.id, date: '2027-03-27' });
    expect(spring.data.channel.schedule.day).toMatchObject({ hours: 23, events: [] });
  });

  it('overlaps a MIX with the end of the event before it, which plays on under it; a HARD event after it cuts', async () => {
    const channel = await newChannel();
    await server.gql(cast.operator.token, FILLER, { channelId: channel.id, assetIds: [fillerId] });
    const first = await add(channel.id, { trigger: 'HARD', at: '2027-06-01T10:00:00Z' }); // 60 s
    const mixed = await add(channel.id, { trigger: 'FOLLOW', at: undefined, transition: 'MIX', transitionMs: 2_000 });
    const cut = await add(channel.id, {
      trigger: 'HARD',
      at: '2027-06-01T10:01:58Z',
      transition: 'MIX',
      transitionMs: 1_000,
    });
    const query = `query($id: ID!, $date: String!) { channel(id: $id) { schedule { day(date: $date) {
      events { eventId plannedStart plannedEnd durationFrames transitionFrames truncated }
      segments { start end eventId transitionFrames tailFrames truncated }
    } } } }`;
    const res = await server.gql(cast.viewer.token, query, { id: channel.id, date: '2027-06-01' });
    expect(res.errors).toBeUndefined();
    const day = res.data.channel.schedule.day;
    expect(day.events).toEqual([
      // The first ends PLAYED where the MIX starts, 2 s (50 frames at 25 a second) before its clip runs out.
      {
        eventId: first.eventId,
        plannedStart: '2027-06-01T10:00:00.000Z',
        plannedEnd: '2027-06-01T10:00:58.000Z',
        durationFrames: 1500,
        transitionFrames: 0,
        truncated: false,
      },
      {
        eventId: mixed.eventId,
        plannedStart: '2027-06-01T10:00:58.000Z',
        plannedEnd: '2027-06-01T10:01:58.000Z',
        durationFrames: 1500,
        transitionFrames: 50,
        truncated: false,
      },
      // A timed start is a cut, whatever its transition.
      {
        eventId: cut.eventId,
        plannedStart: '2027-06-01T10:01:58.000Z',
        plannedEnd: '2027-06-01T10:02:58.000Z',
        durationFrames: 1500,
        transitionFrames: 0,
        truncated: false,
      },
    ]);
    const clips = (day.segments as any[]).filter((s) => s.eventId !== null);
    expect(clips.map((s) => [s.start, s.end, s.eventId, s.transitionFrames, s.tailFrames, s.truncated])).toEqual([
      ['2027-06-01T10:00:00.000Z', '2027-06-01T10:00:58.000Z', first.eventId, 0, 50, false],
      ['2027-06-01T10:00:58.000Z', '2027-06-01T10:01:58.000Z', mixed.eventId, 50, 0, false],
      ['2027-06-01T10:01:58.000Z', '2027-06-01T10:02:58.000Z', cut.eventId, 0, 0, false],
    ]);
  });
});

describe('the event on air', () => {
  it('is shown by nowAndNext and cannot be edited, moved or removed (CONFLICT naming it); nothing changes', async () => {
    const channel = await newChannel();
    const long = (await newAsset(2 * HOUR)).id;
    // Written as a schedule that has run would hold it: edits refuse times in the past.
    await server.services.db.schedule.create({ data: { channelId: channel.id, version: 7 } });
    const onAir = await server.services.db.scheduleEvent.create({
      data: { channelId: channel.id, position: 0, trigger: 'HARD', at: new Date(Date.now() - 60_000), assetId: long },
    });
    const next = await add(channel.id, { trigger: 'HARD', at: future(HOUR) });
    const now = await server.gql(
      cast.viewer.token,
      `query($id: ID!) { channel(id: $id) { schedule { nowAndNext { at event { eventId status } segment { kind eventId clipName }
        positionMs nextEvent { eventId plannedStart } nextSegment { eventId start } nextHardEvent { eventId } timeToNextHardMs } } } }`,
      { id: channel.id },
    );
    const nn = now.data.channel.schedule.nowAndNext;
    expect(nn).toMatchObject({
      event: { eventId: onAir.id, status: 'PLANNED' },
      segment: { kind: 'CLIP', eventId: onAir.id },
      nextEvent: { eventId: next.eventId },
      nextSegment: { eventId: next.eventId },
      nextHardEvent: { eventId: next.eventId },
    });
    // It started on the first frame at or after its time: up to a frame (40 ms at 25 fps) later.
    expect(nn.positionMs).toBeGreaterThanOrEqual(60_000 - 40);
    expect(nn.positionMs).toBeLessThan(120_000);
    expect(nn.timeToNextHardMs).toBeGreaterThan(HOUR - 60_000);
    expect(nn.timeToNextHardMs).toBeLessThanOrEqual(HOUR + 40);

    const before = await server.gql(cast.viewer.token, SCHEDULE, { id: channel.id });
    for (const [query, variables] of [
      [UPDATE, { id: onAir.id, input: { outPointMs: 600_000 } }],
      [UPDATE, { id: onAir.id, input: { trigger: 'SOFT' } }],
      [MOVE, { id: onAir.id, position: 1 }],
      [REMOVE, { id: onAir.id }],
      [MOVE, { id: next.eventId, position: 0 }],
    ] as const) {
      const res = await server.gql(cast.operator.token, query, variables);
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', eventId: onAir.id });
      expect(res.errors?.[0]?.message).toContain(onAir.id);
    }
    expect(await server.gql(cast.viewer.token, SCHEDULE, { id: channel.id })).toEqual(before);
    expect(before.data.channel.schedule.version).toBe(8);
  });
});

describe('the day after a SKIPPED as-run entry', () => {
  it('shows a later edit of a HARD event the as-run names as skipped', async () => {
    const channel = await newChannel();
    const first = await add(channel.id, { trigger: 'HARD', at: future(HOUR) });
    const second = await add(channel.id, { trigger: 'HARD', at: future(2 * HOUR) });
    const date = new Date(Date.now() - 6 * HOUR).toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 18 * HOUR).toISOString().slice(0, 10);
    const read = async () => {
      const days = await Promise.all(
        [date, tomorrow].map((d) => server.gql(cast.viewer.token, DAY, { id: channel.id, date: d })),
      );
      return days.flatMap((res) => {
        expect(res.errors).toBeUndefined();
        return res.data.channel.schedule.day.events as { eventId: string; status: string; time: string }[];
      });
    };
    expect((await read()).find((e) => e.eventId === second.eventId)?.status).toBe('PLANNED');
    // As the schedule's runner writes an event a HARD one passed: at the passing event's planned start.
    const plannedAt = new Date(Date.now() + HOUR);
    await server.services.db.asRunEntry.create({
      data: {
        channelId: channel.id,
        clipName: 'clip.mxf',
        startedAt: plannedAt,
        endedAt: plannedAt,
        durationMs: 0,
        status: 'SKIPPED',
        reason: 'passed by a HARD event',
        scheduleEventId: second.eventId,
        scheduleVersion: second.version,
        plannedStartAt: plannedAt,
        plannedEndAt: plannedAt,
      },
    });
    const movedAt = new Date(Date.parse(future(2 * HOUR)) + 120_000);
    movedAt.setUTCMilliseconds(0);
    const res = await server.gql(cast.operator.token, UPDATE, {
      id: second.eventId,
      input: { at: movedAt.toISOString() },
    });
    expect(res.errors).toBeUndefined();
    const events = await read();
    expect(events.find((e) => e.eventId === second.eventId)).toMatchObject({
      status: 'PLANNED',
      time: movedAt.toISOString(),
    });
    expect(events.find((e) => e.eventId === first.eventId)?.status).toBe('PLANNED');
  });
});

describe('a MANUAL event taken', () => {
  it('is planned from its take: on air in nowAndNext and the day, the event after it following; it cannot be edited', async () => {
    const channel = await newChannel();
    const long = (await newAsset(2 * HOUR)).id;
    // Written as a schedule that has run would hold it, the MANUAL event taken 10 s ago (as a take records it).
    await server.services.db.schedule.create({ data: { channelId: channel.id, version: 3, operatorActions: 1 } });
    const takenAt = new Date(Math.floor((Date.now() - 10_000) / 1000) * 1000);
    await server.services.db.scheduleEvent.create({
      data: { channelId: channel.id, position: 0, trigger: 'HARD', at: new Date(Date.now() - 60_000), assetId: long },
    });
    const manual = await server.services.db.scheduleEvent.create({
      data: { channelId: channel.id, position: 1, trigger: 'MANUAL', assetId, takenAt },
    });
    const follow = await add(channel.id, { trigger: 'FOLLOW', at: undefined });
    const now = await server.gql(
      cast.viewer.token,
      `query($id: ID!) { channel(id: $id) { schedule { nowAndNext { event { eventId status plannedStart plannedEnd }
        nextEvent { eventId status plannedStart } } } } }`,
      { id: channel.id },
    );
    expect(now.errors).toBeUndefined();
    const end = new Date(takenAt.getTime() + 60_000).toISOString();
    expect(now.data.channel.schedule.nowAndNext).toEqual({
      event: { eventId: manual.id, status: 'PLANNED', plannedStart: takenAt.toISOString(), plannedEnd: end },
      nextEvent: { eventId: follow.eventId, status: 'PLANNED', plannedStart: end },
    });
    const res = await server.gql(cast.operator.token, UPDATE, { id: manual.id, input: { outPointMs: 30_000 } });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', eventId: manual.id });
    // What a sidecar is sent (start, failover): the take goes with it, so a fresh sidecar does not hold for it again.
    const sent = await sidecarSchedule(server.services.db, channel);
    expect(sent.taken).toEqual({ [manual.id]: takenAt.getTime() });
  });
});

describe('query cost', () => {
  it("answers a console's read of every channel's day and refuses one that nests the playlists of every event", async () => {
    const console = `{ channels { name schedule { version nowAndNext { event { eventId } segment { clipName } timeToNextHardMs }
      day(date: "2027-01-01") { hours events { eventId status plannedStart event { asset { filename } } }
        segments { kind start end clipName fills alarm } } } } }`;
    const ok = await server.gql(cast.viewer.token, console);
    expect(ok.errors).toBeUndefined();
    const nested = `{ channels { schedule { day(date: "2027-01-01") { events { event { playlist { items { asset { id } } } } } } } } }`;
    const refused = await server.gql(cast.viewer.token, nested);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', maxCost: 50_000 });
  });
});

describe('scheduleChanged', () => {
  const open: WsConnection[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.dispose()));
  });
  const as = (token: string) => {
    const connection = connectWs(server.url, { authorization: `Bearer ${token}` });
    open.push(connection);
    return connection;
  };
  const CHANGES = `subscription($id: ID!) { scheduleChanged(channelId: $id) { channelId version kind eventIds at schedule { version } } }`;

  it('delivers each committed change with its version to a viewer of the channel', async () => {
    const channel = await newChannel();
    const sub = as(cast.viewer.token).subscribe(CHANGES, { id: channel.id });
    // Changes made until the subscriber shows one: from then on it listens.
    await sub.waitFor((r) => r.data?.scheduleChanged?.kind === 'FILLER_CHANGED', {
      poke: () => server.gql(cast.operator.token, FILLER, { channelId: channel.id, assetIds: [fillerId] }),
      pokeEveryMs: 200,
    });
    const added = await add(channel.id);
    const change = await sub.waitFor((r) => r.data?.scheduleChanged?.kind === 'EVENT_ADDED');
    expect(change.data.scheduleChanged).toMatchObject({
      channelId: channel.id,
      version: added.version,
      eventIds: [added.eventId],
      schedule: { version: added.version },
    });
    const moved = await server.gql(cast.operator.token, UPDATE, { id: added.eventId, input: { at: future(3 * HOUR) } });
    const update = await sub.waitFor((r) => r.data?.scheduleChanged?.kind === 'EVENT_UPDATED');
    expect(update.data.scheduleChanged).toMatchObject({
      version: moved.data.updateScheduleEvent.version,
      eventIds: [added.eventId],
    });
  });

  it('refuses a channel the subscriber may not see, as if it did not exist', async () => {
    const channel = await newChannel();
    const sub = as(cast.outsider.token).subscribe(CHANGES, { id: channel.id });
    await sub.waitEnded();
    expect(sub.results[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
