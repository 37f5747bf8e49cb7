import { beforeAll, describe, expect, it } from 'vitest';
import { broadcastDateOf } from '../../src/domain/schedules/bxf/bxf-time.ts';
import { frameRateOf } from '../../src/schedule/frames.ts';
import { bxfScheduleMessage, checkBxfStructure, type TestBxfEvent } from '../helpers/bxf-schedule.ts';
import { insertChannel, uniq } from '../helpers/fixtures.ts';
import { ACTORS, outcome, tokenOf, useTestServer } from '../helpers/server.ts';

// importBxfSchedule: a day from the traffic system into a channel's schedule, all or nothing.
const { server, cast } = useTestServer();

const IMPORT = `mutation($channelId: ID!, $document: String!) {
  importBxfSchedule(channelId: $channelId, document: $document) {
    imported broadcastDate eventsRead eventsIgnored eventsImported eventsReplaced version
    problems { eventId index reason }
  }
}`;

const DAY_PLAN = `query($id: ID!, $date: String!) {
  channel(id: $id) { schedule { day(date: $date) { events { trigger plannedStart event { asset { houseId } } } } } }
}`;

const MIN = 60_000;
const uuid = (n: number) => `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
/** Whole seconds: time code at 25 fps then names them exactly. */
const NOW = Math.floor(Date.now() / 1000) * 1000;
/** A UTC day starting six hours before the test, so that nothing it schedules crosses its end. */
const DAY_START = new Date(NOW - 6 * 60 * MIN).toISOString().slice(11, 16);
const CLOCK = { rate: frameRateOf('1080i5000'), timeZone: 'UTC', dayStart: DAY_START };
const TODAY = broadcastDateOf(NOW, CLOCK);

/** SMPTE time of day (UTC) at 25 fps. */
const tc = (ms: number) => {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}:${two(Math.floor(d.getUTCMilliseconds() / 40))}`;
};
/** A length as time code (under a day). */
const length = tc;

const assets: Record<string, string> = {};
async function asset(key: string, filename: string, houseId: string | null, durationMs = 30 * MIN) {
  const row = await server.services.db.asset.create({
    data: {
      projectId: cast.home.id,
      filename,
      storageKey: `media/${filename}`,
      durationMs,
      houseId,
      mediaStatus: 'READY',
      mediaPath: `objects/${uniq()}/${filename}`,
    },
  });
  assets[key] = row.id;
}

beforeAll(async () => {
  await asset('programme', 'morning.mxf', 'PRG-1');
  await asset('spot1', 'spot-one.mxf', 'SPOT-1', 30_000);
  await asset('spot2', 'spot-two.mxf', 'SPOT-2', 30_000);
  await asset('promo', 'promo.mxf', null, 60_000);
  await asset('film', 'film.mxf', 'FILM-9', 2 * 60 * MIN);
});

/** A channel whose schedule runs UTC days starting at DAY_START. */
async function newChannel() {
  const channel = await insertChannel(server.services, cast.home.id, { videoFormat: '1080i5000' });
  await server.services.db.schedule.create({ data: { channelId: channel.id, timeZone: 'UTC', dayStart: DAY_START } });
  return channel.id;
}

const events = (channelId: string) =>
  server.services.db.scheduleEvent.findMany({ where: { channelId }, orderBy: { position: 'asc' } });
const version = async (channelId: string) =>
  (await server.services.db.schedule.findUniqueOrThrow({ where: { channelId } })).version;

const importDay = (channelId: string, document: string, token: string | null = cast.editor.token) =>
  server.gql(token, IMPORT, { channelId, document });

/** The traffic day: a fixed programme, a spot after it, a fixed promo (matched by name), a spot, a film. */
function trafficDay(
  startMs: number,
  over: { promoAt?: number; lastSpot?: string; film?: boolean } = {},
): TestBxfEvent[] {
  return [
    {
      eventId: uuid(1),
      startMode: 'Fixed',
      start: tc(startMs),
      duration: length(2 * MIN),
      houseNumber: 'PRG-1',
      som: '00:00:10:00',
    },
    {
      eventId: uuid(2),
      startMode: 'Follow',
      start: tc(startMs + 2 * MIN),
      duration: length(30_000),
      houseNumber: 'SPOT-1',
    },
    { eventId: uuid(3), secondary: true, start: tc(startMs + 2 * MIN), duration: length(10_000) },
    {
      eventId: uuid(4),
      startMode: 'Fixed',
      start: tc(over.promoAt ?? startMs + 10 * MIN),
      duration: length(MIN),
      name: 'promo.mxf',
    },
    {
      eventId: uuid(5),
      startMode: 'Follow',
      start: tc(startMs + 11 * MIN),
      duration: length(30_000),
      houseNumber: over.lastSpot ?? 'SPOT-2',
    },
    ...(over.film
      ? [
          {
            eventId: uuid(6),
            startMode: 'Follow',
            start: tc(startMs + 12 * MIN),
            duration: length(90 * MIN),
            houseNumber: 'FILM-9',
          },
        ]
      : []),
  ];
}

describe('importBxfSchedule', () => {
  it('an event that cannot be matched is named in the report, and nothing is imported', async () => {
    const channelId = await newChannel();
    const day = trafficDay(NOW + 5 * MIN, { lastSpot: 'NO-SUCH-SPOT' });
    const document = bxfScheduleMessage({ broadcastDate: TODAY, events: day });
    checkBxfStructure(document);
    const res = await importDay(channelId, document);
    expect(res.errors).toBeUndefined();
    expect(res.data.importBxfSchedule).toEqual({
      imported: false,
      broadcastDate: TODAY,
      eventsRead: 4,
      eventsIgnored: 1,
      eventsImported: 0,
      eventsReplaced: 0,
      version: null,
      problems: [
        { eventId: uuid(5), index: 5, reason: `no asset of the channel's project has house ID "NO-SUCH-SPOT"` },
      ],
    });
    expect(await events(channelId)).toEqual([]);
    expect(await version(channelId)).toBe(0);
  });

  it('events that cannot be read and events that cannot be matched are reported together, in document order', async () => {
    const channelId = await newChannel();
    const day = trafficDay(NOW + 5 * MIN, { lastSpot: 'NO-SUCH-SPOT' });
    day[1] = { ...day[1], startMode: 'External' };
    const res = await importDay(channelId, bxfScheduleMessage({ broadcastDate: TODAY, events: day }));
    expect(res.data.importBxfSchedule).toMatchObject({
      imported: false,
      eventsRead: 3,
      problems: [
        { eventId: uuid(2), index: 2, reason: 'StartMode External (started by another device) is not supported' },
        { eventId: uuid(5), index: 5, reason: `no asset of the channel's project has house ID "NO-SUCH-SPOT"` },
      ],
    });
    expect(await events(channelId)).toEqual([]);
  });

  it('imports a day to come: each event a clip of its asset, fixed times to the frame, follows after', async () => {
    const channelId = await newChannel();
    const start = NOW + 5 * MIN;
    const document = bxfScheduleMessage({ broadcastDate: TODAY, events: trafficDay(start) });
    checkBxfStructure(document);
    const res = await importDay(channelId, document);
    expect(res.data.importBxfSchedule).toMatchObject({
      imported: true,
      broadcastDate: TODAY,
      eventsRead: 4,
      eventsIgnored: 1,
      eventsImported: 4,
      eventsReplaced: 0,
      version: 1,
      problems: [],
    });
    const rows = await events(channelId);
    expect(
      rows.map((e) => [e.trigger, e.at?.toISOString() ?? null, e.assetId, e.inPointMs, e.outPointMs, e.position]),
    ).toEqual([
      ['HARD', new Date(start).toISOString(), assets.programme, 10_000, 130_000, 0],
      ['FOLLOW', null, assets.spot1, null, 30_000, 1],
      ['HARD', new Date(start + 10 * MIN).toISOString(), assets.promo, null, 60_000, 2],
      ['FOLLOW', null, assets.spot2, null, 30_000, 3],
    ]);
    // As the channel's day plans it: each fixed event on its time, each follow when the one before ends.
    const plan = await server.gql(cast.viewer.token, DAY_PLAN, { id: channelId, date: TODAY });
    expect(plan.errors).toBeUndefined();
    expect(
      plan.data.channel.schedule.day.events.map((e: any) => [e.trigger, e.plannedStart, e.event.asset.houseId]),
    ).toEqual([
      ['HARD', new Date(start).toISOString(), 'PRG-1'],
      ['FOLLOW', new Date(start + 2 * MIN).toISOString(), 'SPOT-1'],
      ['HARD', new Date(start + 10 * MIN).toISOString(), null],
      ['FOLLOW', new Date(start + 11 * MIN).toISOString(), 'SPOT-2'],
    ]);
  });

  it('a re-import of the day after a change updates the events to come and leaves the one on air alone', async () => {
    const channelId = await newChannel();
    // On air since a minute ago: the channel's programme, as the schedule that ran holds it.
    const onAir = await server.services.db.scheduleEvent.create({
      data: {
        channelId,
        position: 0,
        trigger: 'HARD',
        at: new Date(NOW - MIN),
        assetId: assets.programme,
        outPointMs: 5 * MIN,
      },
    });
    // Traffic's day has the same programme there (it started, so it stays as it aired), then the rest.
    const first = await importDay(
      channelId,
      bxfScheduleMessage({ broadcastDate: TODAY, events: trafficDay(NOW - MIN) }),
    );
    expect(first.data.importBxfSchedule).toMatchObject({
      imported: true,
      eventsImported: 3,
      eventsReplaced: 0,
      problems: [],
    });
    const afterFirst = await events(channelId);
    expect(afterFirst.map((e) => e.assetId)).toEqual([assets.programme, assets.spot1, assets.promo, assets.spot2]);
    expect(afterFirst[0]).toEqual(onAir);

    // Traffic moves the promo, changes the last spot and adds a film; the channel re-imports the day.
    const changed = trafficDay(NOW - MIN, { promoAt: NOW + 15 * MIN, lastSpot: 'SPOT-1', film: true });
    const second = await importDay(channelId, bxfScheduleMessage({ broadcastDate: TODAY, events: changed }));
    expect(second.data.importBxfSchedule).toMatchObject({
      imported: true,
      eventsRead: 5,
      eventsImported: 4,
      eventsReplaced: 3,
      version: (first.data.importBxfSchedule.version as number) + 1,
      problems: [],
    });
    const afterSecond = await events(channelId);
    expect(afterSecond[0]).toEqual(onAir);
    expect(afterSecond.map((e) => [e.trigger, e.at?.toISOString() ?? null, e.assetId])).toEqual([
      ['HARD', new Date(NOW - MIN).toISOString(), assets.programme],
      ['FOLLOW', null, assets.spot1],
      ['HARD', new Date(NOW + 15 * MIN).toISOString(), assets.promo],
      ['FOLLOW', null, assets.spot1],
      ['FOLLOW', null, assets.film],
    ]);
    // The events to come are the new ones: none of the first import's rows is left.
    const firstIds = new Set(afterFirst.slice(1).map((e) => e.id));
    expect(afterSecond.slice(1).some((e) => firstIds.has(e.id))).toBe(false);
  });

  it('events of other days stay; a day that is over has nothing to import', async () => {
    const channelId = await newChannel();
    const tomorrowAt = NOW + 20 * 60 * MIN; // past this day's end (NOW + 18 h)
    await server.services.db.scheduleEvent.create({
      data: { channelId, position: 0, trigger: 'HARD', at: new Date(tomorrowAt), assetId: assets.film },
    });
    const res = await importDay(channelId, bxfScheduleMessage({ broadcastDate: TODAY, events: trafficDay(NOW + MIN) }));
    expect(res.data.importBxfSchedule).toMatchObject({ imported: true, eventsImported: 4, eventsReplaced: 0 });
    const rows = await events(channelId);
    expect(rows.map((e) => e.assetId)).toEqual([
      assets.programme,
      assets.spot1,
      assets.promo,
      assets.spot2,
      assets.film,
    ]);
    expect(rows[4].at?.toISOString()).toBe(new Date(tomorrowAt).toISOString());

    const yesterday = new Date(Date.parse(`${TODAY}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    const old = await importDay(
      channelId,
      bxfScheduleMessage({ broadcastDate: yesterday, events: trafficDay(NOW).slice(0, 1) }),
    );
    expect(old.data.importBxfSchedule).toMatchObject({
      imported: false,
      problems: [
        { eventId: null, index: null, reason: `broadcast day ${yesterday} is over: there is nothing to import` },
      ],
    });
  });

  it('a day that would start with a follow on an empty schedule is refused, naming its event', async () => {
    const channelId = await newChannel();
    const day = trafficDay(NOW + 5 * MIN).filter((e) => e.eventId !== uuid(1));
    const res = await importDay(channelId, bxfScheduleMessage({ broadcastDate: TODAY, events: day }));
    expect(res.data.importBxfSchedule).toMatchObject({
      imported: false,
      problems: [
        {
          eventId: uuid(2),
          index: 1,
          reason:
            'the first event to import starts after the event before it, and the schedule has none before it: give it a Fixed start',
        },
      ],
    });
    expect(await events(channelId)).toEqual([]);
  });

  it('an event that runs past the end of its asset is reported by its document id: nothing is imported', async () => {
    const channelId = await newChannel();
    // The programme runs 2 minutes from SOM 29:00 of a 30-minute asset: past its end.
    const day = trafficDay(NOW + 5 * MIN);
    day[0] = { ...day[0], som: '00:29:00:00' };
    const res = await importDay(channelId, bxfScheduleMessage({ broadcastDate: TODAY, events: day }));
    expect(res.data.importBxfSchedule).toMatchObject({ imported: false, problems: [{ eventId: uuid(1), index: 1 }] });
    expect(res.data.importBxfSchedule.problems[0].reason).toMatch(/long/);
    expect(await events(channelId)).toEqual([]);
  });

  it('role matrix: editors and admins import; operators and viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
    const expected: Record<string, string> = {
      admin: 'OK',
      editor: 'OK',
      operator: 'FORBIDDEN',
      viewer: 'FORBIDDEN',
      outsider: 'NOT_FOUND',
      revoked: 'UNAUTHENTICATED',
      anonymous: 'UNAUTHENTICATED',
    };
    for (const actor of ACTORS) {
      const channelId = await newChannel();
      const document = bxfScheduleMessage({ broadcastDate: TODAY, events: trafficDay(NOW + 30 * MIN) });
      const res = await importDay(channelId, document, tokenOf(cast, actor));
      expect([actor, outcome(res)]).toEqual([actor, expected[actor]]);
      expect((await events(channelId)).length).toBe(actor === 'admin' || actor === 'editor' ? 4 : 0);
    }
  });

  it('a document that is not BXF is reported, not thrown; bad arguments are BAD_USER_INPUT naming them', async () => {
    const channelId = await newChannel();
    const res = await importDay(channelId, '<html><body>schedule</body></html>');
    expect(res.data.importBxfSchedule).toMatchObject({
      imported: false,
      eventsRead: 0,
      problems: [{ eventId: null, index: null, reason: 'not a BXF message: its root is not BxfMessage' }],
    });
    const empty = await importDay(channelId, '');
    expect(empty.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'document' });
    const badId = await importDay('not-an-id', '<x/>');
    expect(badId.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'channelId' });
  });
  it('a 2,000-event day (over MAX_BODY_BYTES) imports with the default limits; other large bodies are refused', async () => {
    const channelId = await newChannel();
    const start = NOW + 5 * MIN;
    const day: TestBxfEvent[] = Array.from({ length: 2000 }, (_, i) => ({
      eventId: uuid(1000 + i),
      startMode: i % 100 === 0 ? 'Fixed' : 'Follow',
      start: tc(start + i * 30_000),
      duration: length(30_000),
      houseNumber: i % 2 ? 'SPOT-1' : 'SPOT-2',
    }));
    const document = bxfScheduleMessage({ broadcastDate: TODAY, events: day });
    const body = JSON.stringify({ query: IMPORT, variables: { channelId, document } });
    expect(body.length).toBeGreaterThan(1024 * 1024);
    const t = performance.now();
    const res = await importDay(channelId, document);
    console.log(`MEASURE import of 2,000 events ${(performance.now() - t).toFixed(0)} ms`);
    expect(res.errors).toBeUndefined();
    expect(res.data.importBxfSchedule).toMatchObject({ imported: true, eventsImported: 2000, problems: [] });
    expect((await events(channelId)).length).toBe(2000);

    // As large a body, for anything but the import, or without a valid token: refused unread or unrun.
    const other = await server.gql(cast.editor.token, `query($pad: String) { me { id } }`, { pad: document });
    expect(other.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(other.errors?.[0]?.message).toMatch(/only importBxfSchedule/);
    const anonymous = await importDay(channelId, document, null);
    expect(anonymous.errors?.[0]?.message).toMatch(/request body larger than 1048576 bytes/);
  }, 180_000);
});
