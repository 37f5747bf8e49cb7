import { XMLValidator } from 'fast-xml-parser';
import { request } from 'node:http';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { insertChannel } from '../helpers/fixtures.ts';
import { ACTORS, createActor, tokenOf, type Actor } from '../helpers/server.ts';
import { bearer, DAY, parseCsv, useExportHistory } from './asrun-export-helpers.ts';

// GET /asrun/export as an HTTP route: who may read what, its parameters, and a large
// history streamed with backpressure; the files' contents are in asrun-export-formats.test.ts.
const { server, cast, ch, exportUrl, exportOf } = useExportHistory();
const bulk = { one: '', two: '' };
// A bulk history a year after the known day, out of its way.
const BULK_ROWS = 20_000;
const BULK2_ROWS = 5_000;

beforeAll(async () => {
  const { services } = server;
  bulk.one = (await insertChannel(services, cast.home.id, { name: 'Bulk' })).id;
  bulk.two = (await insertChannel(services, cast.home.id, { name: 'Bulk 2' })).id;
  // Starts in threes, so ties straddle the 1,000-row batch boundaries.
  await services.sql.query(
    `INSERT INTO as_run (channel_id, clip_name, started_at, ended_at, duration_ms, status)
     SELECT $1::uuid, 'bulk-' || i, timestamptz '2027-01-01T00:00:00Z' + (i / 3) * interval '1 second',
            timestamptz '2027-01-01T00:00:00Z' + (i / 3) * interval '1 second' + interval '1 second', 1000, 'PLAYED'
       FROM generate_series(0, ${BULK_ROWS - 1}) AS i`,
    [bulk.one],
  );
  // Starts in twos, on the same seconds as the first bulk channel: ties across channels too.
  await services.sql.query(
    `INSERT INTO as_run (channel_id, clip_name, started_at, status)
     SELECT $1::uuid, 'bulk2-' || i, timestamptz '2027-01-01T00:00:00Z' + (i / 2) * interval '1 second', 'PLAYED'
       FROM generate_series(0, ${BULK2_ROWS - 1}) AS i`,
    [bulk.two],
  );
});

describe('access', () => {
  const HOME: Record<Actor, number> = {
    admin: 200,
    editor: 200,
    operator: 200,
    viewer: 200,
    outsider: 404,
    revoked: 401,
    anonymous: 401,
  };

  it.each(ACTORS)('%s: a home channel by id', async (actor) => {
    const res = await exportOf(tokenOf(cast, actor), { channelId: ch.main, ...DAY });
    expect(res.status).toBe(HOME[actor]);
    if (res.status === 200) expect(parseCsv(res.body)).toHaveLength(8);
    else
      expect(JSON.parse(res.body).errors[0].extensions.code).toBe(res.status === 404 ? 'NOT_FOUND' : 'UNAUTHENTICATED');
  });

  it.each(ACTORS)('%s: without channelId, the rows of the channels it may see', async (actor) => {
    const res = await exportOf(tokenOf(cast, actor), DAY);
    if (actor === 'revoked' || actor === 'anonymous') {
      expect(res.status).toBe(401);
      return;
    }
    expect(res.status).toBe(200);
    const channels = new Set(
      parseCsv(res.body)
        .slice(1)
        .map((r) => r[1]),
    );
    const expected =
      actor === 'admin'
        ? [ch.main, ch.second, ch.old, ch.other, ch.adminOnly]
        : actor === 'outsider'
          ? [ch.other]
          : [ch.main, ch.second, ch.old];
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
    expect(JSON.parse(revoked.body).errors[0]).toEqual({
      message: 'invalid or revoked token',
      extensions: { code: 'UNAUTHENTICATED' },
    });
    const unknown = await exportOf(cast.admin.token, { channelId: '7d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toEqual({
      errors: [{ message: 'channel not found', extensions: { code: 'NOT_FOUND' } }],
    });
    const post = await fetch(exportUrl(), { method: 'POST', headers: bearer(cast.admin.token) });
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
    const raw = await fetch(
      exportUrl(`channelId=${ch.main}&from=2026-01-01T11:00:00+01:00&to=2026-01-01T11:00:30+01:00`),
      {
        headers: bearer(cast.admin.token),
      },
    );
    expect(
      parseCsv(await raw.text())
        .slice(1)
        .map((r) => r[6]),
    ).toEqual(['Comma, clip']);
    expect(
      (
        await exportOf(cast.admin.token, {
          channelId: ch.main,
          from: '2025-01-01T00:00:00Z',
          to: '2025-01-02T00:00:00Z',
        })
      ).body,
    ).toBe(
      'id,channel_id,channel_name,playlist_id,item_id,asset_id,clip_name,started_at,ended_at,duration_ms,status,reason,' +
        'schedule_event_id,planned_start_at,planned_end_at,offset_ms,fills\r\n',
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
    const res = await fetch(exportUrl(query), { headers: bearer(cast.admin.token) });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(body.errors[0].message.startsWith(`${field}: `)).toBe(true);
  });
});

describe('streaming', () => {
  it('delivers a large history complete and in order, CSV and BXF', async () => {
    const csv = await exportOf(cast.editor.token, { channelId: bulk.one });
    const records = parseCsv(csv.body).slice(1);
    expect(records).toHaveLength(BULK_ROWS);
    for (let i = 1; i < records.length; i++) {
      const [prev, next] = [records[i - 1], records[i]];
      expect(prev[7] < next[7] || (prev[7] === next[7] && prev[0] < next[0])).toBe(true);
    }
    expect(new Set(records.map((r) => r[6])).size).toBe(BULK_ROWS);
    expect(records[0][7]).toBe('2027-01-01T00:00:00.000Z');
    expect(records.at(-1)![7]).toBe(`2027-01-01T01:51:06.000Z`);

    const bxf = await exportOf(cast.editor.token, { channelId: bulk.one, format: 'bxf' });
    expect(XMLValidator.validate(bxf.body)).toBe(true);
    const bxfIds = [...bxf.body.matchAll(/<EventId>urn:uuid:([0-9a-f-]{36})<\/EventId>/g)].map((m) => m[1]);
    expect(bxfIds).toEqual(records.map((r) => r[0]));
  });

  it('merges many channels into one order, complete, across batch and tie boundaries', async () => {
    const res = await exportOf(cast.viewer.token, { from: '2027-01-01T00:00:00Z', to: '2028-01-01T00:00:00Z' });
    const records = parseCsv(res.body).slice(1);
    const truth = await server.services.sql.query<{ id: string }>(
      `SELECT id FROM as_run WHERE channel_id = ANY($1::uuid[]) AND started_at >= '2027-01-01T00:00:00Z' ORDER BY started_at, id`,
      [[bulk.one, bulk.two]],
    );
    expect(truth).toHaveLength(BULK_ROWS + BULK2_ROWS);
    expect(records.map((r) => r[0])).toEqual(truth.map((r) => r.id));
    // The first second: three entries of one channel and two of the other, ordered by id.
    expect(
      records
        .slice(0, 5)
        .map((r) => r[2])
        .sort(),
    ).toEqual(['Bulk', 'Bulk', 'Bulk', 'Bulk 2', 'Bulk 2']);
  });

  it('stops reading when the client goes away, and the server keeps serving', async () => {
    const errors = vi.spyOn(server.services.log, 'error');
    const asRunStatements = () => server.queries.filter((q) => q.includes('FROM as_run WHERE')).length;
    const before = asRunStatements();
    const socketClosed = new Promise<void>((resolve, reject) => {
      const req = request(
        exportUrl(`channelId=${bulk.one}&format=bxf`),
        { headers: bearer(cast.admin.token) },
        (res) => {
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
        },
      );
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
