import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { insertChannel } from '../helpers/fixtures.ts';
import { ACTORS, createActor, createCast, startTestServer, tokenOf, type Actor, type Cast, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let cast: Cast;
let origin: string;
const ch = {} as Record<'main' | 'second' | 'old' | 'other' | 'adminOnly' | 'bulk' | 'bulk2', string>;
const ids = { playlist: '', item: '', asset: '', asset2: '' };

// The known history lies in this day; the bulk history a year later, out of its way.
const DAY = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' };
const BULK_ROWS = 20_000;
const BULK2_ROWS = 5_000;
const entryId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

interface Entry {
  n: number;
  channel: keyof typeof ch;
  clipName: string;
  startedAt: string;
  endedAt?: string | null;
  durationMs?: number | null;
  status?: 'PLAYED' | 'SKIPPED' | 'TRUNCATED' | 'FAILED';
  playlist?: boolean;
  item?: boolean;
  asset?: 'asset' | 'asset2' | null;
}

const HISTORY: Entry[] = [
  { n: 90, channel: 'main', clipName: 'Day before', startedAt: '2025-12-31T23:59:59.999Z', endedAt: '2026-01-01T00:00:09.999Z', durationMs: 10000 },
  { n: 0, channel: 'main', clipName: 'Midnight start', startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:00:10.000Z', durationMs: 10000 },
  { n: 1, channel: 'main', clipName: 'Comma, clip', startedAt: '2026-01-01T10:00:00.000Z', endedAt: '2026-01-01T10:00:30.000Z', durationMs: 30000, item: true },
  { n: 2, channel: 'main', clipName: 'Quote "x" clip', startedAt: '2026-01-01T10:00:30.000Z', endedAt: '2026-01-01T10:00:42.340Z', durationMs: 12340, status: 'SKIPPED', asset: 'asset2' },
  { n: 3, channel: 'main', clipName: 'Line\nbreak\r\nclip', startedAt: '2026-01-01T10:00:42.340Z', endedAt: '2026-01-01T10:00:50.000Z', durationMs: 7660, status: 'TRUNCATED' },
  { n: 4, channel: 'main', clipName: '=SUM(A1:A2)', startedAt: '2026-01-01T10:01:00.000Z', endedAt: '2026-01-01T10:01:00.000Z', durationMs: 0, status: 'FAILED' },
  // Same start as n=4: the id breaks the tie.
  { n: 5, channel: 'main', clipName: '@cmd|calc', startedAt: '2026-01-01T10:01:00.000Z', endedAt: '2026-01-01T10:01:20.000Z', durationMs: 20000, playlist: false, asset: null },
  { n: 6, channel: 'main', clipName: 'Ünïcødé 日本語 🎬', startedAt: '2026-01-01T10:02:00.040Z', endedAt: null, durationMs: null },
  { n: 91, channel: 'main', clipName: 'Next day', startedAt: '2026-01-02T00:00:00.000Z', endedAt: '2026-01-02T00:00:05.000Z', durationMs: 5000 },
  { n: 11, channel: 'second', clipName: 'Second A', startedAt: '2026-01-01T10:00:10.000Z', endedAt: '2026-01-01T10:00:15.000Z', durationMs: 5000 },
  { n: 12, channel: 'second', clipName: 'Second B', startedAt: '2026-01-01T10:01:30.500Z', endedAt: '2026-01-01T10:01:31.501Z', durationMs: 1001 },
  { n: 21, channel: 'other', clipName: 'Other clip', startedAt: '2026-01-01T10:00:15.000Z', endedAt: '2026-01-01T10:00:16.000Z', durationMs: 1000 },
  { n: 31, channel: 'adminOnly', clipName: 'Admin only', startedAt: '2026-01-01T10:00:20.000Z', endedAt: '2026-01-01T10:00:21.000Z', durationMs: 1000 },
  { n: 41, channel: 'old', clipName: 'Deleted channel clip', startedAt: '2026-01-01T10:00:25.000Z', endedAt: '2026-01-01T10:00:26.000Z', durationMs: 1000 },
];

const bearer = (token: string | null): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

async function exportOf(token: string | null, query: Record<string, string>) {
  const res = await fetch(`${origin}/asrun/export?${new URLSearchParams(query)}`, { headers: bearer(token) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** RFC 4180, strictly: CRLF records, quoted fields with doubled quotes. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote === -1) throw new Error('unterminated quoted field');
        field += text.slice(i, quote);
        i = quote + 1;
        if (text[i] !== '"') break;
        field += '"';
        i++;
      }
    } else {
      const end = text.slice(i).search(/,|\r\n/);
      field = end === -1 ? text.slice(i) : text.slice(i, i + end);
      if (/["\r\n]/.test(field)) throw new Error(`unquoted field holds a quote or line break: ${JSON.stringify(field)}`);
      i += field.length;
    }
    record.push(field);
    if (text[i] === ',') i++;
    else if (text.startsWith('\r\n', i)) {
      records.push(record);
      record = [];
      i += 2;
    } else if (i < text.length) throw new Error(`unexpected ${JSON.stringify(text[i])} at ${i}`);
  }
  if (record.length) throw new Error('last record lacks its CRLF');
  return records;
}

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  // Numeric character references (&#13;) as characters.
  htmlEntities: true,
  isArray: (name) => ['Schedule', 'AsRun', 'EventNote'].includes(name),
});

function parseBxf(body: string) {
  expect(XMLValidator.validate(body)).toBe(true);
  return xml.parse(body);
}

beforeAll(async () => {
  server = await startTestServer();
  origin = new URL(server.url).origin;
  cast = await createCast(server.services);
  const { services } = server;
  ch.main = (await insertChannel(services, cast.home.id, { name: 'Main, "HD"', videoFormat: '1080i5000' })).id;
  ch.second = (await insertChannel(services, cast.home.id, { name: 'Second', videoFormat: '1080p5994' })).id;
  ch.old = (await insertChannel(services, cast.home.id, { name: 'Old', deletedAt: new Date() })).id;
  ch.other = (await insertChannel(services, cast.other.id, { name: 'Other' })).id;
  ch.adminOnly = (await insertChannel(services, null, { name: 'Admin only' })).id;
  ch.bulk = (await insertChannel(services, cast.home.id, { name: 'Bulk' })).id;
  ch.bulk2 = (await insertChannel(services, cast.home.id, { name: 'Bulk 2' })).id;

  const asset = await services.db.asset.create({ data: { projectId: cast.home.id, filename: 'a.mxf', storageKey: 'a.mxf' } });
  const asset2 = await services.db.asset.create({ data: { projectId: cast.home.id, filename: 'b.mxf', storageKey: 'b.mxf' } });
  const playlist = await services.db.playlist.create({ data: { channelId: ch.main, name: 'Day' } });
  const item = await services.db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: 0 } });
  Object.assign(ids, { playlist: playlist.id, item: item.id, asset: asset.id, asset2: asset2.id });

  await services.db.asRunEntry.createMany({
    data: HISTORY.map((e) => ({
      id: entryId(e.n),
      channelId: ch[e.channel],
      playlistId: e.playlist === false ? null : ids.playlist,
      itemId: e.item ? ids.item : null,
      assetId: e.asset === null ? null : ids[e.asset ?? 'asset'],
      clipName: e.clipName,
      startedAt: new Date(e.startedAt),
      endedAt: e.endedAt ? new Date(e.endedAt) : null,
      durationMs: e.durationMs ?? null,
      status: e.status ?? 'PLAYED',
    })),
  });
  // Starts in threes, so ties straddle the 1,000-row batch boundaries.
  await services.sql.query(
    `INSERT INTO as_run (channel_id, clip_name, started_at, ended_at, duration_ms, status)
     SELECT $1::uuid, 'bulk-' || i, timestamptz '2027-01-01T00:00:00Z' + (i / 3) * interval '1 second',
            timestamptz '2027-01-01T00:00:00Z' + (i / 3) * interval '1 second' + interval '1 second', 1000, 'PLAYED'
       FROM generate_series(0, ${BULK_ROWS - 1}) AS i`,
    [ch.bulk],
  );
  // Starts in twos, on the same seconds as the first bulk channel: ties across channels too.
  await services.sql.query(
    `INSERT INTO as_run (channel_id, clip_name, started_at, status)
     SELECT $1::uuid, 'bulk2-' || i, timestamptz '2027-01-01T00:00:00Z' + (i / 2) * interval '1 second', 'PLAYED'
       FROM generate_series(0, ${BULK2_ROWS - 1}) AS i`,
    [ch.bulk2],
  );
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe('CSV', () => {
  it('is the channel history in the window exactly: RFC 4180, oldest first, formulas neutralized', async () => {
    const res = await exportOf(cast.viewer.token, { channelId: ch.main, ...DAY });
    expect(res.status).toBe(200);
    const main = `${ch.main},"Main, ""HD"""`;
    const { playlist: p, item: i, asset: a, asset2: a2 } = ids;
    expect(res.body).toBe(
      'id,channel_id,channel_name,playlist_id,item_id,asset_id,clip_name,started_at,ended_at,duration_ms,status\r\n' +
        `${entryId(0)},${main},${p},,${a},Midnight start,2026-01-01T00:00:00.000Z,2026-01-01T00:00:10.000Z,10000,PLAYED\r\n` +
        `${entryId(1)},${main},${p},${i},${a},"Comma, clip",2026-01-01T10:00:00.000Z,2026-01-01T10:00:30.000Z,30000,PLAYED\r\n` +
        `${entryId(2)},${main},${p},,${a2},"Quote ""x"" clip",2026-01-01T10:00:30.000Z,2026-01-01T10:00:42.340Z,12340,SKIPPED\r\n` +
        `${entryId(3)},${main},${p},,${a},"Line\nbreak\r\nclip",2026-01-01T10:00:42.340Z,2026-01-01T10:00:50.000Z,7660,TRUNCATED\r\n` +
        `${entryId(4)},${main},${p},,${a},'=SUM(A1:A2),2026-01-01T10:01:00.000Z,2026-01-01T10:01:00.000Z,0,FAILED\r\n` +
        `${entryId(5)},${main},,,,'@cmd|calc,2026-01-01T10:01:00.000Z,2026-01-01T10:01:20.000Z,20000,PLAYED\r\n` +
        `${entryId(6)},${main},${p},,${a},Ünïcødé 日本語 🎬,2026-01-01T10:02:00.040Z,,,PLAYED\r\n`,
    );
    const [header, ...records] = parseCsv(res.body);
    expect(header).toHaveLength(11);
    expect(records.every((r) => r.length === 11)).toBe(true);
    expect(records.map((r) => r[6])).toEqual([
      'Midnight start',
      'Comma, clip',
      'Quote "x" clip',
      'Line\nbreak\r\nclip',
      "'=SUM(A1:A2)",
      "'@cmd|calc",
      'Ünïcødé 日本語 🎬',
    ]);
    expect(new Set(records.map((r) => r[2]))).toEqual(new Set(['Main, "HD"']));
  });

  it('is a UTF-8 CSV attachment named after the channel and window, never cached', async () => {
    const res = await exportOf(cast.admin.token, { channelId: ch.main, ...DAY });
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="asrun-${ch.main}-20260101T000000Z-20260102T000000Z.csv"`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const all = await exportOf(cast.admin.token, { format: 'csv' });
    expect(all.headers.get('content-disposition')).toBe('attachment; filename="asrun-all.csv"');
    const head = await fetch(`${origin}/asrun/export?channelId=${ch.main}`, { method: 'HEAD', headers: bearer(cast.admin.token) });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/csv; charset=utf-8');
  });

  it('without channelId: every channel the caller may see, oldest first across channels', async () => {
    const res = await exportOf(cast.editor.token, DAY);
    const records = parseCsv(res.body).slice(1);
    expect(records.map((r) => r[6])).toEqual([
      'Midnight start',
      'Comma, clip',
      'Second A',
      'Deleted channel clip',
      'Quote "x" clip',
      'Line\nbreak\r\nclip',
      "'=SUM(A1:A2)",
      "'@cmd|calc",
      'Second B',
      'Ünïcødé 日本語 🎬',
    ]);
    expect(records.find((r) => r[6] === 'Deleted channel clip')?.[2]).toBe('Old');
  });
});

describe('BXF', () => {
  it('is a SMPTE ST 2021 BXF as-run message: one BasicAsRun per entry, in order, with the standard values', async () => {
    const res = await exportOf(cast.operator.token, { channelId: ch.main, ...DAY, format: 'bxf' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="asrun-${ch.main}-20260101T000000Z-20260102T000000Z.xml"`);
    expect(res.body.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<BxfMessage ')).toBe(true);
    const doc = parseBxf(res.body);
    expect(Object.keys(doc).filter((k) => k !== '?xml')).toEqual(['BxfMessage']);
    const message = doc.BxfMessage;
    expect(message['@_xmlns']).toBe('http://smpte-ra.org/schemas/2021/2019/BXF');
    expect(message['@_id']).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(Number.isNaN(Date.parse(message['@_dateTime']))).toBe(false);
    expect(message).toMatchObject({
      '@_messageType': 'Information',
      '@_origin': 'onair',
      '@_originType': 'Automation',
      '@_userName': 'operator',
      '@_destination': 'Traffic',
    });
    expect(message.BxfData['@_action']).toBe('add');
    const schedules = message.BxfData.Schedule;
    expect(schedules).toHaveLength(1);
    const schedule = schedules[0];
    expect(schedule).toMatchObject({ '@_type': 'Primary', '@_scheduleStart': DAY.from, '@_scheduleEnd': DAY.to });
    expect(schedule['@_scheduleId']).toMatch(/^urn:uuid:/);
    expect(schedule.Channel).toMatchObject({ '@_onair:channelId': ch.main, '@_shortName': 'Main, "', 'pmcp:Name': 'Main, "HD"' });

    const events = schedule.AsRun.map((a: any) => a.BasicAsRun);
    expect(events.map((e: any) => e.AsRunEventId.EventId)).toEqual([0, 1, 2, 3, 4, 5, 6].map((n) => `urn:uuid:${entryId(n)}`));
    expect(events.map((e: any) => e.Content.Name)).toEqual([
      'Midnight start',
      'Comma, clip',
      'Quote "x" clip',
      'Line\nbreak\r\nclip',
      '=SUM(A1:A2)',
      '@cmd|calc',
      'Ünïcødé 日本語 🎬',
    ]);
    expect(events.map((e: any) => e.Content.ContentId.HouseNumber ?? null)).toEqual([ids.asset, ids.asset, ids.asset2, ids.asset, ids.asset, null, ids.asset]);
    expect(events[5].Content.ContentId.AlternateId).toEqual({ '#text': '@cmd|calc', '@_idType': 'ClipName' });
    expect(events.map((e: any) => e.AsRunDetail.Status)).toEqual([
      'Aired Without Discrepancy',
      'Aired Without Discrepancy',
      'Aired with Duration Discrepancy',
      'Aired with Duration Discrepancy',
      'Did not air',
      'Aired Without Discrepancy',
      'Unknown',
    ]);
    expect(events.map((e: any) => e.AsRunDetail.EventNotes?.EventNote[0] ?? null)).toEqual([
      null,
      null,
      'Skipped: cut short by an operator.',
      'Truncated: cut short by a stop or a failure of the channel.',
      'Failed: could not be put to air.',
      null,
      'On air when this message was made: its end and duration are not known yet.',
    ]);
    expect(events.every((e: any) => e.AsRunDetail.Type === 'Primary')).toBe(true);

    // 1080i5000 is 25 frames per second: 340 ms is frame 8, 40 ms frame 1.
    const skipped = events[2].AsRunDetail;
    expect(skipped.StartDateTime.SmpteDateTime).toEqual({
      SmpteTimeCode: '10:00:30:00',
      '@_broadcastDate': '2026-01-01',
      '@_utcStartofBroadcastDay': '2026-01-01T00:00:00Z',
      '@_frameRate': '25',
    });
    expect(skipped.Duration.SmpteDuration).toEqual({ SmpteTimeCode: '00:00:12:08', '@_frameRate': '25', '@_framecount': '308' });
    expect(events[6].AsRunDetail.StartDateTime.SmpteDateTime.SmpteTimeCode).toBe('10:02:00:01');
    expect(events[1].AsRunDetail.Duration.SmpteDuration).toMatchObject({ SmpteTimeCode: '00:00:30:00', '@_framecount': '750' });

    // The entry as onair keeps it, to the millisecond.
    expect(events[1].PrivateInformation['onair:AsRunEntry']).toEqual({
      '@_id': entryId(1),
      '@_channelId': ch.main,
      '@_playlistId': ids.playlist,
      '@_itemId': ids.item,
      '@_assetId': ids.asset,
      '@_startedAt': '2026-01-01T10:00:00.000Z',
      '@_endedAt': '2026-01-01T10:00:30.000Z',
      '@_durationMs': '30000',
      '@_status': 'PLAYED',
    });
    expect(events[6].PrivateInformation['onair:AsRunEntry']['@_endedAt']).toBeUndefined();
  });

  it('without channelId: one Schedule per visible channel with entries, by name, each oldest first', async () => {
    const res = await exportOf(cast.viewer.token, { ...DAY, format: 'bxf' });
    const schedules = parseBxf(res.body).BxfMessage.BxfData.Schedule;
    expect(schedules.map((s: any) => s.Channel['@_onair:channelId'])).toEqual([ch.main, ch.old, ch.second]);
    const second = schedules[2];
    expect(second.AsRun.map((a: any) => a.BasicAsRun.Content.Name)).toEqual(['Second A', 'Second B']);
    // 1080p5994: 59.94 frames per second in drop-frame time code; 500 ms is frame 30.
    const b = second.AsRun[1].BasicAsRun.AsRunDetail;
    expect(b.StartDateTime.SmpteDateTime).toMatchObject({ SmpteTimeCode: '10:01:30;30', '@_frameRate': '59.94' });
    expect(b.Duration.SmpteDuration).toEqual({ SmpteTimeCode: '00:00:01;00', '@_frameRate': '59.94', '@_framecount': '60' });
  });

  it('escapes what XML cannot hold as typed', async () => {
    const { services } = server;
    const tricky = await insertChannel(services, cast.home.id, { name: 'A & <B> "C"' });
    await services.db.asRunEntry.create({
      data: { channelId: tricky.id, clipName: '</Name>]]>&amp;\u0001\ttab', startedAt: new Date('2026-03-01T12:00:00Z'), status: 'PLAYED', durationMs: 1 },
    });
    const res = await exportOf(cast.admin.token, { channelId: tricky.id, format: 'bxf' });
    const schedule = parseBxf(res.body).BxfMessage.BxfData.Schedule[0];
    expect(schedule.Channel['pmcp:Name']).toBe('A & <B> "C"');
    // U+0001 has no XML form: the replacement character stands in.
    expect(schedule.AsRun[0].BasicAsRun.Content.Name).toBe('</Name>]]>&amp;\uFFFD\ttab');
  });
});

describe('access', () => {
  const HOME: Record<Actor, number> = { admin: 200, editor: 200, operator: 200, viewer: 200, outsider: 404, revoked: 401, anonymous: 401 };

  it.each(ACTORS)('%s: a home channel by id', async (actor) => {
    const res = await exportOf(tokenOf(cast, actor), { channelId: ch.main, ...DAY });
    expect(res.status).toBe(HOME[actor]);
    if (res.status === 200) expect(parseCsv(res.body)).toHaveLength(8);
    else expect(JSON.parse(res.body).errors[0].extensions.code).toBe(res.status === 404 ? 'NOT_FOUND' : 'UNAUTHENTICATED');
  });

  it.each(ACTORS)('%s: without channelId, the rows of the channels it may see', async (actor) => {
    const res = await exportOf(tokenOf(cast, actor), DAY);
    if (actor === 'revoked' || actor === 'anonymous') {
      expect(res.status).toBe(401);
      return;
    }
    expect(res.status).toBe(200);
    const channels = new Set(parseCsv(res.body).slice(1).map((r) => r[1]));
    const expected =
      actor === 'admin' ? [ch.main, ch.second, ch.old, ch.other, ch.adminOnly] : actor === 'outsider' ? [ch.other] : [ch.main, ch.second, ch.old];
    expect(channels).toEqual(new Set(expected));
  });

  it('answers 401 and 404 in the API error shape', async () => {
    const anonymous = await exportOf(null, { channelId: ch.main });
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    expect(JSON.parse(anonymous.body)).toMatchInlineSnapshot(`
      {
        "errors": [
          {
            "extensions": {
              "code": "UNAUTHENTICATED",
            },
            "message": "missing credentials: send Authorization: Bearer <token>",
          },
        ],
      }
    `);
    const revoked = await exportOf(cast.revoked.token, { channelId: ch.main });
    expect(JSON.parse(revoked.body).errors[0]).toEqual({ message: 'invalid or revoked token', extensions: { code: 'UNAUTHENTICATED' } });
    const unknown = await exportOf(cast.admin.token, { channelId: '7d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toEqual({ errors: [{ message: 'channel not found', extensions: { code: 'NOT_FOUND' } }] });
    const post = await fetch(`${origin}/asrun/export`, { method: 'POST', headers: bearer(cast.admin.token) });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('records the token use, as a GraphQL request does', async () => {
    const actor = await createActor(server.services, { roles: { [cast.home.id]: 'VIEWER' } });
    await exportOf(actor.token, { channelId: ch.main, ...DAY });
    await server.app.tokenUsage.flush();
    const token = await server.services.db.apiToken.findUniqueOrThrow({ where: { id: actor.tokenId } });
    expect(token.lastUsedAt).not.toBeNull();
  });
});

describe('parameters', () => {
  it('from is inclusive and to exclusive, on startedAt', async () => {
    const names = async (from: string, to: string) =>
      parseCsv((await exportOf(cast.admin.token, { channelId: ch.main, from, to })).body)
        .slice(1)
        .map((r) => r[6]);
    expect(await names('2026-01-01T10:00:00.000Z', '2026-01-01T10:00:30.000Z')).toEqual(['Comma, clip']);
    expect(await names('2026-01-01T10:00:00.001Z', '2026-01-01T10:00:30.001Z')).toEqual(['Quote "x" clip']);
    expect(await names('2026-01-01T10:01:00.000Z', '2026-01-01T10:01:00.001Z')).toEqual(["'=SUM(A1:A2)", "'@cmd|calc"]);
    // An offset, sent with its '+' unencoded (it arrives as a space).
    const raw = await fetch(`${origin}/asrun/export?channelId=${ch.main}&from=2026-01-01T11:00:00+01:00&to=2026-01-01T11:00:30+01:00`, {
      headers: bearer(cast.admin.token),
    });
    expect(parseCsv(await raw.text()).slice(1).map((r) => r[6])).toEqual(['Comma, clip']);
    expect((await exportOf(cast.admin.token, { channelId: ch.main, from: '2025-01-01T00:00:00Z', to: '2025-01-02T00:00:00Z' })).body).toBe(
      'id,channel_id,channel_name,playlist_id,item_id,asset_id,clip_name,started_at,ended_at,duration_ms,status\r\n',
    );
  });

  it.each([
    ['channelId', 'channelId=not-an-id'],
    ['channelId', `channelId=${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(11)}`],
    ['channelId', 'channelId=&format=csv'],
    ['from', 'from=yesterday'],
    ['from', 'from=2026-01-01'],
    ['from', 'from=2026-01-01T00:00:00'],
    ['from', 'from=2026-02-30T00:00:00Z'],
    ['to', 'to=2026-13-01T00:00:00Z'],
    ['to', 'from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z'],
    ['to', 'from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z'],
    ['format', 'format=pdf'],
    ['format', 'format=CSV'],
    ['format', 'format=csv&format=bxf'],
    ['form', 'form=2026-01-01T00:00:00Z'],
  ])('400 BAD_USER_INPUT naming %s for ?%s', async (field, query) => {
    const res = await fetch(`${origin}/asrun/export?${query}`, { headers: bearer(cast.admin.token) });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(body.errors[0].message.startsWith(`${field}: `)).toBe(true);
  });
});

describe('streaming', () => {
  it('delivers a large history complete and in order, CSV and BXF', async () => {
    const csv = await exportOf(cast.editor.token, { channelId: ch.bulk });
    const records = parseCsv(csv.body).slice(1);
    expect(records).toHaveLength(BULK_ROWS);
    for (let i = 1; i < records.length; i++) {
      const [prev, next] = [records[i - 1], records[i]];
      expect(prev[7] < next[7] || (prev[7] === next[7] && prev[0] < next[0])).toBe(true);
    }
    expect(new Set(records.map((r) => r[6])).size).toBe(BULK_ROWS);
    expect(records[0][7]).toBe('2027-01-01T00:00:00.000Z');
    expect(records.at(-1)![7]).toBe(`2027-01-01T01:51:06.000Z`);

    const bxf = await exportOf(cast.editor.token, { channelId: ch.bulk, format: 'bxf' });
    expect(XMLValidator.validate(bxf.body)).toBe(true);
    const bxfIds = [...bxf.body.matchAll(/<EventId>urn:uuid:([0-9a-f-]{36})<\/EventId>/g)].map((m) => m[1]);
    expect(bxfIds).toEqual(records.map((r) => r[0]));
  });

  it('merges many channels into one order, complete, across batch and tie boundaries', async () => {
    const res = await exportOf(cast.viewer.token, { from: '2027-01-01T00:00:00Z', to: '2028-01-01T00:00:00Z' });
    const records = parseCsv(res.body).slice(1);
    const truth = await server.services.sql.query<{ id: string }>(
      `SELECT id FROM as_run WHERE channel_id = ANY($1::uuid[]) AND started_at >= '2027-01-01T00:00:00Z' ORDER BY started_at, id`,
      [[ch.bulk, ch.bulk2]],
    );
    expect(truth).toHaveLength(BULK_ROWS + BULK2_ROWS);
    expect(records.map((r) => r[0])).toEqual(truth.map((r) => r.id));
    // The first second: three entries of one channel and two of the other, ordered by id.
    expect(records.slice(0, 5).map((r) => r[2]).sort()).toEqual(['Bulk', 'Bulk', 'Bulk', 'Bulk 2', 'Bulk 2']);
  });

  it('stops reading when the client goes away, and the server keeps serving', async () => {
    const errors = vi.spyOn(server.services.log, 'error');
    const asRunStatements = () => server.queries.filter((q) => q.includes('FROM as_run WHERE')).length;
    const before = asRunStatements();
    const socketClosed = new Promise<void>((resolve, reject) => {
      const req = request(`${origin}/asrun/export?channelId=${ch.bulk}&format=bxf`, { headers: bearer(cast.admin.token) }, (res) => {
        expect(res.statusCode).toBe(200);
        res.on('error', () => {}); // "aborted": this client's own doing
        // Read one chunk, then nothing: the server fills the socket and waits for 'drain'.
        res.once('data', () => {
          res.pause();
          void settled(asRunStatements).then(() => {
            req.destroy();
            resolve();
          });
        });
      });
      req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
      req.end();
    });
    await socketClosed;
    const readWhileWaiting = asRunStatements() - before;
    await settled(asRunStatements);
    const readInAll = asRunStatements() - before;
    // A whole export is 21 statements (20 full batches and an empty one).
    expect(readWhileWaiting).toBeLessThan(21);
    expect(readInAll).toBeLessThanOrEqual(readWhileWaiting + 1);

    const next = await exportOf(cast.admin.token, { channelId: ch.main, ...DAY });
    expect(next.status).toBe(200);
    expect(parseCsv(next.body)).toHaveLength(8);
    expect(errors).not.toHaveBeenCalled();
    errors.mockRestore();
  });
});

/** Resolves once `count` has not changed for a few samples in a row. */
async function settled(count: () => number): Promise<void> {
  let last = -1;
  let same = 0;
  for (let i = 0; i < 100 && same < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = count();
    same = now === last ? same + 1 : 0;
    last = now;
  }
}
