import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { insertChannel } from '../helpers/fixtures.ts';
import { bearer, DAY, entryId, parseCsv, useExportHistory } from './asrun-export-helpers.ts';

// GET /asrun/export: what the CSV and BXF files hold; the route's access, parameters
// and streaming are in asrun-export-route.test.ts.
const { server, cast, ch, ids, exportUrl, exportOf } = useExportHistory();

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

describe('CSV', () => {
  it('is the channel history in the window exactly: RFC 4180, oldest first, formulas neutralized', async () => {
    const res = await exportOf(cast.viewer.token, { channelId: ch.main, ...DAY });
    expect(res.status).toBe(200);
    const main = `${ch.main},"Main, ""HD"""`;
    const { playlist: p, item: i, asset: a, asset2: a2 } = ids;
    expect(res.body).toBe(
      'id,channel_id,channel_name,playlist_id,item_id,asset_id,clip_name,started_at,ended_at,duration_ms,status,reason,' +
        'schedule_event_id,planned_start_at,planned_end_at,offset_ms,fills\r\n' +
        `${entryId(0)},${main},${p},,${a},Midnight start,2026-01-01T00:00:00.000Z,2026-01-01T00:00:10.000Z,10000,PLAYED,,,,,,\r\n` +
        `${entryId(1)},${main},${p},${i},${a},"Comma, clip",2026-01-01T10:00:00.000Z,2026-01-01T10:00:30.000Z,30000,PLAYED,,,,,,\r\n` +
        `${entryId(2)},${main},${p},,${a2},"Quote ""x"" clip",2026-01-01T10:00:30.000Z,2026-01-01T10:00:42.340Z,12340,SKIPPED,,,,,,\r\n` +
        `${entryId(3)},${main},${p},,${a},"Line\nbreak\r\nclip",2026-01-01T10:00:42.340Z,2026-01-01T10:00:50.000Z,7660,TRUNCATED,,,,,,\r\n` +
        `${entryId(4)},${main},${p},,${a},'=SUM(A1:A2),2026-01-01T10:01:00.000Z,2026-01-01T10:01:00.000Z,0,FAILED,,,,,,\r\n` +
        `${entryId(5)},${main},,,,'@cmd|calc,2026-01-01T10:01:00.000Z,2026-01-01T10:01:20.000Z,20000,PLAYED,,,,,,\r\n` +
        `${entryId(6)},${main},${p},,${a},Ünïcødé 日本語 🎬,2026-01-01T10:02:00.040Z,,,PLAYED,,,,,,\r\n`,
    );
    const [header, ...records] = parseCsv(res.body);
    expect(header).toHaveLength(17);
    expect(records.every((r) => r.length === 17)).toBe(true);
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
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="asrun-${ch.main}-20260101T000000Z-20260102T000000Z.csv"`,
    );
    expect(res.headers.get('cache-control')).toBe('no-store');
    const all = await exportOf(cast.admin.token, { format: 'csv' });
    expect(all.headers.get('content-disposition')).toBe('attachment; filename="asrun-all.csv"');
    const head = await fetch(exportUrl(`channelId=${ch.main}`), { method: 'HEAD', headers: bearer(cast.admin.token) });
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
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="asrun-${ch.main}-20260101T000000Z-20260102T000000Z.xml"`,
    );
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
    expect(schedule.Channel).toMatchObject({
      '@_onair:channelId': ch.main,
      '@_shortName': 'Main, "',
      'pmcp:Name': 'Main, "HD"',
    });

    const events = schedule.AsRun.map((a: any) => a.BasicAsRun);
    expect(events.map((e: any) => e.AsRunEventId.EventId)).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((n) => `urn:uuid:${entryId(n)}`),
    );
    expect(events.map((e: any) => e.Content.Name)).toEqual([
      'Midnight start',
      'Comma, clip',
      'Quote "x" clip',
      'Line\nbreak\r\nclip',
      '=SUM(A1:A2)',
      '@cmd|calc',
      'Ünïcødé 日本語 🎬',
    ]);
    expect(events.map((e: any) => e.Content.ContentId.HouseNumber ?? null)).toEqual([
      ids.asset,
      ids.asset,
      ids.asset2,
      ids.asset,
      ids.asset,
      null,
      ids.asset,
    ]);
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
    expect(skipped.Duration.SmpteDuration).toEqual({
      SmpteTimeCode: '00:00:12:08',
      '@_frameRate': '25',
      '@_framecount': '308',
    });
    expect(events[6].AsRunDetail.StartDateTime.SmpteDateTime.SmpteTimeCode).toBe('10:02:00:01');
    expect(events[1].AsRunDetail.Duration.SmpteDuration).toMatchObject({
      SmpteTimeCode: '00:00:30:00',
      '@_framecount': '750',
    });

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
    expect(b.Duration.SmpteDuration).toEqual({
      SmpteTimeCode: '00:00:01;00',
      '@_frameRate': '59.94',
      '@_framecount': '60',
    });
  });

  it('escapes what XML cannot hold as typed', async () => {
    const { services } = server;
    const tricky = await insertChannel(services, cast.home.id, { name: 'A & <B> "C"' });
    await services.db.asRunEntry.create({
      data: {
        channelId: tricky.id,
        clipName: '</Name>]]>&amp;\u0001\ttab',
        startedAt: new Date('2026-03-01T12:00:00Z'),
        status: 'PLAYED',
        durationMs: 1,
      },
    });
    const res = await exportOf(cast.admin.token, { channelId: tricky.id, format: 'bxf' });
    const schedule = parseBxf(res.body).BxfMessage.BxfData.Schedule[0];
    expect(schedule.Channel['pmcp:Name']).toBe('A & <B> "C"');
    // U+0001 has no XML form: the replacement character stands in.
    expect(schedule.AsRun[0].BasicAsRun.Content.Name).toBe('</Name>]]>&amp;\uFFFD\ttab');
  });
});
