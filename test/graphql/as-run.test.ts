import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTORS, outcome, tokenOf, useTestServer, type GqlResult } from '../helpers/server.ts';
import { insertChannel } from '../helpers/fixtures.ts';

const { server, cast } = useTestServer();
// Channels: of the home project, of the other project, admin-only, and a deleted one of home.
let home: string;
let other: string;
let adminOnly: string;
let deleted: string;

const PAGE = `query($channelId: ID, $first: Int, $after: String, $from: DateTime, $to: DateTime) {
  asRun(channelId: $channelId, first: $first, after: $after, from: $from, to: $to) {
    edges { cursor node { id channel { id } playlistId assetId clipName startedAt endedAt durationMs status item { id } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

type Edge = {
  cursor: string;
  node: { id: string; channel: { id: string }; startedAt: string; item: { id: string } | null };
};

async function createChannel(name: string, projectId: string | null, deletedAt: Date | null = null): Promise<string> {
  const channel = await insertChannel(server.services, projectId, { name, deletedAt });
  return channel.id;
}

/** `count` entries of a channel, one a minute from `start` (ascending). */
async function insertEntries(channelId: string, start: string, count: number, extra: { itemId?: string } = {}) {
  const t0 = new Date(start).getTime();
  const rows = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    channelId,
    clipName: `clip-${i}.mxf`,
    startedAt: new Date(t0 + i * 60_000),
    endedAt: new Date(t0 + i * 60_000 + 59_000),
    durationMs: 59_000,
    status: 'PLAYED' as const,
    ...extra,
  }));
  await server.services.db.asRunEntry.createMany({ data: rows });
  return rows;
}

/** Newest first, ties broken by id (PostgreSQL orders uuids as their lowercase hex text). */
const newestFirst = (rows: { id: string; startedAt: Date }[]) =>
  [...rows]
    .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map((r) => r.id);

const ids = (res: { data?: any }) => (res.data.asRun.edges as Edge[]).map((e) => e.node.id);
const channelsOf = (res: { data?: any }) => new Set((res.data.asRun.edges as Edge[]).map((e) => e.node.channel.id));

/** Each test works in its own year so that the rows of the others stay out of its window. */
const year = (y: number) => ({ from: `${y}-01-01T00:00:00Z`, to: `${y + 1}-01-01T00:00:00Z` });

beforeAll(async () => {
  home = await createChannel('home', cast.home.id);
  other = await createChannel('other', cast.other.id);
  adminOnly = await createChannel('admin-only', null);
  deleted = await createChannel('gone', cast.home.id, new Date());
});

describe('who reads the log', () => {
  beforeAll(async () => {
    for (const channelId of [home, other, adminOnly, deleted])
      await insertEntries(channelId, '2001-03-01T00:00:00Z', 3);
  });

  it('of one channel: every member of its project, admins; NOT_FOUND for others; UNAUTHENTICATED without a valid token', async () => {
    const expected: Record<string, string> = {
      admin: 'OK',
      editor: 'OK',
      operator: 'OK',
      viewer: 'OK',
      outsider: 'NOT_FOUND',
      revoked: 'UNAUTHENTICATED',
      anonymous: 'UNAUTHENTICATED',
    };
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), PAGE, { channelId: home, ...year(2001) });
      expect([actor, outcome(res)]).toEqual([actor, expected[actor]]);
      if (expected[actor] === 'OK') expect([actor, res.data.asRun.edges.length]).toEqual([actor, 3]);
      else expect(res.data?.asRun ?? null).toBeNull();
    }
  });

  it('of an admin-only channel: admins only', async () => {
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), PAGE, { channelId: adminOnly, ...year(2001) });
      const want =
        actor === 'admin' ? 'OK' : actor === 'revoked' || actor === 'anonymous' ? 'UNAUTHENTICATED' : 'NOT_FOUND';
      expect([actor, outcome(res)]).toEqual([actor, want]);
    }
  });

  it('of a deleted channel: still the legal record for its project, which resolves the channel as a tombstone', async () => {
    const res = await server.gql(cast.viewer.token, PAGE, { channelId: deleted, ...year(2001) });
    expect(outcome(res)).toBe('OK');
    expect(channelsOf(res)).toEqual(new Set([deleted]));
    expect(outcome(await server.gql(cast.outsider.token, PAGE, { channelId: deleted, ...year(2001) }))).toBe(
      'NOT_FOUND',
    );
  });

  it('of an unknown channel: NOT_FOUND, as for a channel the caller may not see', async () => {
    const res = await server.gql(cast.admin.token, PAGE, { channelId: randomUUID() });
    expect(res.errors?.[0]).toMatchObject({ message: 'channel not found', extensions: { code: 'NOT_FOUND' } });
  });

  it('without a channel: every channel the caller may see, deleted ones included', async () => {
    const seen = async (actor: 'admin' | 'viewer' | 'outsider') =>
      channelsOf(await server.gql(cast[actor].token, PAGE, { first: 500, ...year(2001) }));
    server.queries.length = 0;
    expect(await seen('admin')).toEqual(new Set([home, other, adminOnly, deleted]));
    // auth, page, channels, items: one statement per relation for the page, whatever its channels.
    expect(server.queries.filter((q) => !/^(BEGIN|COMMIT)/i.test(q.trim())).length).toBeLessThanOrEqual(4);
    expect(await seen('viewer')).toEqual(new Set([home, deleted]));
    expect(await seen('outsider')).toEqual(new Set([other]));
    for (const actor of ['revoked', 'anonymous'] as const) {
      expect(outcome(await server.gql(tokenOf(cast, actor), PAGE, year(2001)))).toBe('UNAUTHENTICATED');
    }
  });

  it('Channel.asRun pages each channel like Query.asRun, in one statement for all the channels of a list', async () => {
    const more = [await createChannel('home-2', cast.home.id), await createChannel('home-3', cast.home.id)];
    for (const channelId of [home, ...more]) await insertEntries(channelId, '2008-03-01T00:00:30Z', 3);
    server.queries.length = 0;
    const res = await server.gql(
      cast.viewer.token,
      `{ projects { channels { id asRun(first: 2, from: "2008-01-01T00:00:00Z", to: "2009-01-01T00:00:00Z") {
          edges { node { id channel { id } item { id } } } pageInfo { hasNextPage endCursor } } } } }`,
    );
    expect(outcome(res)).toBe('OK');
    const pages = server.queries.filter((q) => /FROM\s+("public"\.)?"?as_run"?\b/i.test(q));
    expect(pages).toHaveLength(1);
    const channels = res.data.projects[0].channels as {
      id: string;
      asRun: { edges: Edge[]; pageInfo: { hasNextPage: boolean } };
    }[];
    expect(channels.map((c) => c.id)).toEqual(expect.arrayContaining([home, ...more]));
    for (const channel of channels.filter((c) => [home, ...more].includes(c.id))) {
      expect(channel.asRun.edges).toHaveLength(2);
      expect(channel.asRun.edges.every((e) => e.node.channel.id === channel.id)).toBe(true);
      expect(channel.asRun.pageInfo.hasNextPage).toBe(true);
      const viaQuery = await server.gql(cast.viewer.token, PAGE, { channelId: channel.id, first: 2, ...year(2008) });
      expect(channel.asRun.edges.map((e) => e.node.id)).toEqual(ids(viaQuery));
    }
  });
});

describe('order and window', () => {
  it('is newest first, equal startedAt broken by id, descending', async () => {
    const spread = await insertEntries(home, '2002-05-01T10:00:00Z', 6);
    // Five entries at the same millisecond (a run of failures, say).
    const tied = await insertEntries(home, '2002-05-01T10:02:00.123Z', 1);
    for (let i = 0; i < 4; i++) tied.push(...(await insertEntries(home, '2002-05-01T10:02:00.123Z', 1)));
    const res = await server.gql(cast.viewer.token, PAGE, { channelId: home, ...year(2002) });
    expect(ids(res)).toEqual(newestFirst([...spread, ...tied]));
    expect(res.data.asRun.edges[0].node).toMatchObject({
      startedAt: '2002-05-01T10:05:00.000Z',
      status: 'PLAYED',
      clipName: 'clip-5.mxf',
    });
  });

  it('includes from and excludes to, on startedAt', async () => {
    const rows = await insertEntries(home, '2003-01-01T00:00:00Z', 5); // 00:00 .. 00:04
    const res = await server.gql(cast.viewer.token, PAGE, {
      channelId: home,
      from: '2003-01-01T00:01:00Z',
      to: '2003-01-01T00:03:00Z',
    });
    expect(ids(res)).toEqual(newestFirst(rows.slice(1, 3)));
    const open = await server.gql(cast.viewer.token, PAGE, {
      channelId: home,
      from: '2003-01-01T00:03:00Z',
      to: '2004-01-01T00:00:00Z',
    });
    expect(ids(open)).toEqual(newestFirst(rows.slice(3)));
  });

  it('an empty page has no next page and no end cursor', async () => {
    const res = await server.gql(cast.viewer.token, PAGE, { channelId: home, ...year(1990) });
    expect(res.data.asRun).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });
});

describe('pagination', () => {
  it('returns every row that existed before the first page exactly once while rows are inserted between pages', async () => {
    const before = await insertEntries(home, '2004-06-01T00:00:00Z', 20);
    // Five ties at one instant, so that a page boundary falls among them.
    for (let i = 0; i < 5; i++) before.push(...(await insertEntries(home, '2004-06-01T00:09:30Z', 1)));
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const res: GqlResult = await server.gql(cast.viewer.token, PAGE, {
        channelId: home,
        first: 4,
        after,
        ...year(2004),
      });
      expect(outcome(res)).toBe('OK');
      seen.push(...ids(res));
      after = res.data.asRun.pageInfo.hasNextPage ? res.data.asRun.pageInfo.endCursor : null;
      expect(res.data.asRun.pageInfo.endCursor).toBe(res.data.asRun.edges.at(-1)?.cursor ?? after);
      // Newer rows (above the pages read) and older ones (below the rest), and a tie with the cursor row.
      await insertEntries(home, `2004-07-0${1 + (pages % 9)}T00:00:00Z`, 2);
      await insertEntries(home, `2004-05-0${1 + (pages % 9)}T00:00:00Z`, 1);
      pages++;
    } while (after && pages < 50);
    expect(new Set(seen).size).toBe(seen.length); // nothing repeated
    expect(seen.filter((id) => before.some((r) => r.id === id))).toEqual(newestFirst(before)); // nothing skipped, in order
  });

  it('a page deep in the log is a single as_run statement with a LIMIT, never an OFFSET; nested fields add none per row', async () => {
    await insertEntries(home, '2005-01-01T00:00:00Z', 60);
    const first = await server.gql(cast.viewer.token, PAGE, { channelId: home, first: 25, ...year(2005) });
    server.queries.length = 0;
    const res = await server.gql(cast.viewer.token, PAGE, {
      channelId: home,
      first: 25,
      after: first.data.asRun.pageInfo.endCursor,
      ...year(2005),
    });
    expect(res.data.asRun.edges).toHaveLength(25);
    const asRun = server.queries.filter((q) => /FROM\s+("public"\.)?"?as_run"?\b/i.test(q));
    expect(asRun).toHaveLength(1);
    // The keyset (started_at, id) < cursor, ordered like the index, with a LIMIT and no OFFSET.
    expect(asRun[0]).toMatch(/\(started_at, id\) < \(\$\d+::timestamptz, \$\d+::uuid\)/);
    expect(asRun[0]).toMatch(/ORDER BY started_at DESC, id DESC\s+LIMIT \$\d+\)/);
    expect(asRun[0]).not.toMatch(/OFFSET/i);
    // auth and the page with its channel check; channel { id } and item { id } are the row's keys: the same for 25 rows as for 1.
    expect(server.queries.filter((q) => !/^(BEGIN|COMMIT)/i.test(q.trim())).length).toBeLessThanOrEqual(2);
  });
});

describe('history outlives playlists and items', () => {
  it("keeps the entry with item null after its item, or the item's playlist, is deleted", async () => {
    const db = server.services.db;
    const asset = await db.asset.create({
      data: { projectId: cast.home.id, filename: 'a.mxf', storageKey: 'k/a.mxf' },
    });
    const playlist = await db.playlist.create({ data: { channelId: home, name: 'day' } });
    const [a, b] = await Promise.all(
      [0, 1].map((position) => db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position } })),
    );
    const [ea] = await insertEntries(home, '2006-01-01T00:00:00Z', 1, { itemId: a.id });
    const [eb] = await insertEntries(home, '2006-01-01T00:01:00Z', 1, { itemId: b.id });
    await db.asRunEntry.updateMany({
      where: { id: { in: [ea.id, eb.id] } },
      data: { playlistId: playlist.id, assetId: asset.id },
    });
    const read = async () =>
      (await server.gql(cast.viewer.token, PAGE, { channelId: home, ...year(2006) })).data.asRun.edges as Edge[];
    expect((await read()).map((e) => e.node.item?.id)).toEqual([b.id, a.id]);

    await db.item.delete({ where: { id: a.id } });
    expect((await read()).map((e) => e.node.item?.id ?? null)).toEqual([b.id, null]);
    await db.playlist.delete({ where: { id: playlist.id } });
    const after = await read();
    expect(after.map((e) => e.node.id)).toEqual([eb.id, ea.id]);
    expect(after.map((e) => e.node.item)).toEqual([null, null]);
    expect(after[0].node).toMatchObject({ playlistId: playlist.id, assetId: asset.id, clipName: 'clip-0.mxf' });
  });
});

describe('relations of an entry', () => {
  it('channel and item fields beyond their ids are read for the whole page, one statement per relation and level', async () => {
    const db = server.services.db;
    const asset = await db.asset.create({
      data: { projectId: cast.home.id, filename: 'r.mxf', storageKey: 'k/r.mxf' },
    });
    const playlist = await db.playlist.create({ data: { channelId: home, name: 'relations' } });
    const item = await db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: 0 } });
    await insertEntries(home, '2010-01-01T00:00:00Z', 3, { itemId: item.id });
    const query = `query($channelId: ID, $from: DateTime, $to: DateTime) {
      asRun(channelId: $channelId, from: $from, to: $to) { edges { node { id channel { id name project { id } } ...onItem } } }
    }
    fragment onItem on AsRunEntry { item { id position } }`;
    server.queries.length = 0;
    const res = await server.gql(cast.viewer.token, query, { channelId: home, ...year(2010) });
    expect(outcome(res)).toBe('OK');
    const nodes = res.data.asRun.edges.map((e: { node: unknown }) => e.node);
    expect(nodes).toHaveLength(3);
    for (const node of nodes) {
      expect(node).toMatchObject({
        channel: { id: home, name: 'home', project: { id: cast.home.id } },
        item: { id: item.id, position: 0 },
      });
    }
    // Whatever the principal cache holds (authentication is not what is counted here): the page with its
    // channel check, channels, items, then the channels' projects (Prisma reads the channels again on the way).
    const statements = server.queries.filter((q) => !/^(BEGIN|COMMIT)/i.test(q.trim()) && !/\bapi_tokens\b/.test(q));
    expect(statements.length).toBeLessThanOrEqual(5);
    await db.playlist.delete({ where: { id: playlist.id } });
    const after = await server.gql(cast.viewer.token, query, { channelId: home, ...year(2010) });
    expect(after.data.asRun.edges.map((e: { node: { item: unknown } }) => e.node.item)).toEqual([null, null, null]);
  });
});

describe('validation', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['first 0', { first: 0 }, 'first'],
    ['first 501', { first: 501 }, 'first'],
    ['first negative', { first: -1 }, 'first'],
    ['after not base64url', { after: 'not a cursor!' }, 'after'],
    ['after of another format', { after: Buffer.from('OffsetConnection:3').toString('base64url') }, 'after'],
    ['after with a bad id', { after: Buffer.from('ar1:1700000000000:xyz').toString('base64url') }, 'after'],
    ['from equal to to', { from: '2007-01-01T00:00:00Z', to: '2007-01-01T00:00:00Z' }, 'to'],
    ['from after to', { from: '2007-01-02T00:00:00Z', to: '2007-01-01T00:00:00Z' }, 'to'],
    ['malformed channelId', { channelId: 'channel-1' }, 'channelId'],
  ];
  for (const [name, vars, field] of cases) {
    it(`${name}: BAD_USER_INPUT naming ${field}`, async () => {
      const res = await server.gql(cast.viewer.token, PAGE, { channelId: home, ...vars });
      expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(res.errors?.[0].message).toMatch(new RegExp(`^${field}: `));
    });
  }

  it('a DateTime without time zone, on a day its month lacks or not a date at all: BAD_USER_INPUT', async () => {
    for (const from of [
      '2007-01-01T00:00:00',
      'yesterday',
      '2007-13-01T00:00:00Z',
      '2007-02-30T00:00:00Z',
      '2007-01-01T24:00:00Z',
    ]) {
      const res = await server.gql(cast.viewer.token, PAGE, { channelId: home, from });
      expect([from, outcome(res)]).toEqual([from, 'BAD_USER_INPUT']);
    }
    const literal = await server.gql(cast.viewer.token, `{ asRun(from: "soon") { pageInfo { hasNextPage } } }`);
    expect(outcome(literal)).toBe('BAD_USER_INPUT');
  });

  it('first 1 and 500 are accepted; a cursor from the response is accepted', async () => {
    const one = await server.gql(cast.viewer.token, PAGE, { channelId: home, first: 1 });
    expect(one.data.asRun.edges).toHaveLength(1);
    const next = await server.gql(cast.viewer.token, PAGE, {
      channelId: home,
      first: 500,
      after: one.data.asRun.pageInfo.endCursor,
    });
    expect(outcome(next)).toBe('OK');
    expect(ids(next)).not.toContain(ids(one)[0]);
  });
});
