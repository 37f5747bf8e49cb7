import { beforeAll, describe, expect, it } from 'vitest';
import { insertChannel } from '../helpers/fixtures.ts';
import { connectWs } from '../helpers/ws.ts';
import { createCast, startTestServer, useTestServer } from '../helpers/server.ts';

// A viewer could make the server do exponential work with relation cycles
// (playlist { items { playlist { items … } } }): such documents are refused
// before they run, and what real clients read is still answered.

const { server, cast } = useTestServer();
let channelId: string;
let playlistId: string;

beforeAll(async () => {
  const db = server.services.db;
  const channel = await insertChannel(server.services, cast.home.id, { name: 'cost' });
  channelId = channel.id;
  const playlist = await db.playlist.create({ data: { channelId, name: 'ten items' } });
  playlistId = playlist.id;
  const assets = await db.asset.createManyAndReturn({
    data: Array.from({ length: 10 }, (_, i) => ({
      projectId: cast.home.id,
      filename: `clip-${i}.mxf`,
      storageKey: `k/${i}`,
      durationMs: 10_000,
    })),
  });
  await db.item.createMany({ data: assets.map((asset, position) => ({ playlistId, assetId: asset.id, position })) });
});

/** `playlist { items { playlist { items { … id } } } }`, `levels` times `items`. */
function cycle(levels: number): string {
  let inner = 'items { id clipName }';
  for (let i = 1; i < levels; i++) inner = `items { playlist { ${inner} } }`;
  return `playlist(id: $id) { ${inner} }`;
}

/** SQL statements a request sent, leaving out authentication. */
function dataStatements(): string[] {
  return server.queries.filter((q) => !/api_tokens/i.test(q));
}

describe('query cost', () => {
  it('refuses the five-level cycle over a 10-item playlist before it runs', async () => {
    server.queries.length = 0;
    const res = await server.gql(cast.viewer.token, `query($id: ID!) { ${cycle(5)} }`, { id: playlistId });
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.errors?.[0].message).toMatch(/Playlist\.items is nested inside itself 3 times/);
    // Nothing was read: the document never ran.
    expect(dataStatements()).toEqual([]);
  });

  it('refuses by cost a cycle that stays within the nesting bound, and 20 aliases of a small one', async () => {
    // Two levels of items under channels → playlists: within MAX_LIST_REPEAT, but 20 × 10 × 50 × 50 objects.
    const wide = `{ channels { playlists { items { playlist { items { id } } } } } }`;
    const res = await server.gql(cast.viewer.token, wide);
    expect(res.errors?.[0]).toMatchObject({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED', maxCost: 50_000 } });
    expect(res.errors?.[0].message).toMatch(/costs \d+, above the limit of 50000/);
    const aliased = Array.from({ length: 20 }, (_, i) => `a${i}: ${cycle(2)}`).join(' ');
    const many = await server.gql(cast.viewer.token, `query($id: ID!) { ${aliased} }`, { id: playlistId });
    expect(many.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(many.errors?.[0].message).toMatch(/above the limit/);
  });

  it('answers the reads operators and integrations make', async () => {
    const operatorUi = `query($id: ID!) { channel(id: $id) { id name status project { id name }
      playlists { id name durationMs ready items { id position clipName durationMs mediaStatus asset { id filename durationMs } } } } }`;
    const ui = await server.gql(cast.viewer.token, operatorUi, { id: channelId });
    expect(ui.errors).toBeUndefined();
    expect(ui.data.channel.playlists[0].items).toHaveLength(10);

    const everything = `{ channels { id project { id name } playlists { id durationMs ready items { id durationMs clipName asset { id filename } } } } }`;
    expect((await server.gql(cast.viewer.token, everything)).errors).toBeUndefined();

    // One level of the cycle is what a client does to name an item's playlist.
    expect(
      (await server.gql(cast.viewer.token, `query($id: ID!) { ${cycle(2)} }`, { id: playlistId })).errors,
    ).toBeUndefined();

    const asRunPage = `query($first: Int) { asRun(first: $first) { edges { cursor node { id clipName startedAt endedAt status
      channel { id name } item { id } } } pageInfo { hasNextPage endCursor } } }`;
    expect((await server.gql(cast.viewer.token, asRunPage, { first: 500 })).errors).toBeUndefined();
    const literal = asRunPage.replace('query($first: Int)', '').replace('$first', '500');
    expect((await server.gql(cast.viewer.token, literal)).errors).toBeUndefined();

    const assets = `{ assets(first: 500) { edges { node { id filename project { id name } } } } }`;
    expect((await server.gql(cast.editor.token, assets)).errors).toBeUndefined();
  });

  it('counts introspection as the schema bounds it: GraphiQL loads its schema', async () => {
    const res = await server.gql(
      cast.viewer.token,
      `{ __schema { types { name fields { name args { name type { name ofType { name } } } } } } }`,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data.__schema.types.length).toBeGreaterThan(20);
  });
});

describe('response size', () => {
  it('replaces a response above MAX_RESPONSE_BYTES by an error naming the limit', async () => {
    const small = await startTestServer({ MAX_RESPONSE_BYTES: '2048' });
    try {
      const admin = await createCast(small.services);
      const channel = await insertChannel(small.services, admin.home.id, { name: 'size' });
      const playlist = await small.services.db.playlist.create({ data: { channelId: channel.id, name: 'p' } });
      const assets = await small.services.db.asset.createManyAndReturn({
        data: Array.from({ length: 40 }, (_, i) => ({
          projectId: admin.home.id,
          filename: `a-long-clip-name-${i}.mxf`,
          storageKey: `k/${i}`,
        })),
      });
      await small.services.db.item.createMany({
        data: assets.map((asset, position) => ({ playlistId: playlist.id, assetId: asset.id, position })),
      });
      const query = `query($id: ID!) { playlist(id: $id) { items { id clipName } } }`;
      const res = await small.gql(admin.viewer.token, query, { id: playlist.id });
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', maxBytes: 2048 } });
      expect(res.errors?.[0].message).toMatch(/above the limit of 2048/);
      // A small answer from the same server passes.
      expect((await small.gql(admin.viewer.token, `{ me { id } }`)).errors).toBeUndefined();
      // Over WebSocket too: the operation's answer is the error, the connection stays.
      const ws = connectWs(small.url, { authorization: `Bearer ${admin.viewer.token}` });
      try {
        const big = ws.subscribe(query, { id: playlist.id });
        const answer = await big.waitFor((r) => !!r.errors || !!r.data);
        expect(answer.data ?? null).toBeNull();
        expect(answer.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', maxBytes: 2048 } });
        const me = await ws.subscribe(`{ me { id } }`).waitFor((r) => !!r.data);
        expect(me.data.me.id).toBe(admin.viewer.userId);
      } finally {
        await ws.dispose();
      }
    } finally {
      await small.close();
    }
  });
});
