import { beforeAll, describe, expect, it } from 'vitest';
import { ACTORS, outcome, tokenOf, useTestServer, type Actor } from '../helpers/server.ts';
import { insertChannel } from '../helpers/fixtures.ts';

const { server, cast } = useTestServer();
let channelId: string;
let assetId: string; // home project, 60 s
let unknownAssetId: string; // home project, duration unknown

beforeAll(async () => {
  channelId = (await newChannel(cast.home.id)).id;
  assetId = (await newAsset(60_000)).id;
  unknownAssetId = (await newAsset(null)).id;
});

// Channels are another module's: fixtures go straight to the database.
const newChannel = (projectId: string | null) => insertChannel(server.services, projectId);
function newAsset(durationMs: number | null, projectId: string | null = cast.home.id, filename = 'clip.mxf') {
  return server.services.db.asset.create({ data: { projectId, filename, storageKey: 'k', durationMs } });
}
async function newPlaylist(items = 0, channel = channelId) {
  const db = server.services.db;
  const pl = await db.playlist.create({ data: { channelId: channel, name: 'pl' } });
  await db.item.createMany({
    data: Array.from({ length: items }, (_, position) => ({ playlistId: pl.id, assetId, position })),
  });
  return pl.id;
}
/** The playlist's item ids in position order, checking the positions are 0..n-1. */
async function order(playlistId: string): Promise<string[]> {
  const items = await server.services.db.item.findMany({ where: { playlistId }, orderBy: { position: 'asc' } });
  expect(items.map((i) => i.position)).toEqual(items.map((_, i) => i));
  return items.map((i) => i.id);
}

const ITEM =
  'id position inPointMs outPointMs durationMs transition transitionMs mediaStatus mediaError clipName playlist { id } asset { id }';
const ADD = `mutation($input: AddItemInput!) { addItem(input: $input) { ${ITEM} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateItemInput!) { updateItem(id: $id, input: $input) { ${ITEM} } }`;
const REMOVE = `mutation($id: ID!) { removeItem(id: $id) }`;
const REORDER = `mutation($playlistId: ID!, $itemIds: [ID!]!) { reorderItems(playlistId: $playlistId, itemIds: $itemIds) { id items { id position } } }`;
const GET = `query($id: ID!) { item(id: $id) { ${ITEM} } }`;

const WRITE: Record<Actor, string> = {
  admin: 'OK',
  editor: 'OK',
  operator: 'OK',
  viewer: 'FORBIDDEN',
  outsider: 'NOT_FOUND',
  revoked: 'UNAUTHENTICATED',
  anonymous: 'UNAUTHENTICATED',
};

function expectBadInput(
  res: { errors?: { message: string; extensions?: { code?: string; field?: string } }[] },
  field: string,
) {
  expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
  expect(res.errors?.[0]?.message.startsWith(`${field}: `)).toBe(true);
}

describe('addItem', () => {
  it('role matrix: operators and up add; viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
    const playlistId = await newPlaylist();
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), ADD, { input: { playlistId, assetId } });
      expect([actor, outcome(res)]).toEqual([actor, WRITE[actor]]);
    }
    expect(await order(playlistId)).toHaveLength(3);
  });

  it('appends a PENDING item named after its asset, with CUT and 0 ms by default', async () => {
    const playlistId = await newPlaylist(2);
    const res = await server.gql(cast.operator.token, ADD, { input: { playlistId, assetId, inPointMs: 1_000 } });
    expect(res.data.addItem).toMatchObject({
      position: 2,
      inPointMs: 1_000,
      outPointMs: null,
      durationMs: 59_000,
      transition: 'CUT',
      transitionMs: 0,
      mediaStatus: 'PENDING',
      mediaError: null,
      clipName: 'clip.mxf',
      playlist: { id: playlistId },
      asset: { id: assetId },
    });
  });

  it('inserts at 0, in the middle and at count; count+1 and negative are BAD_USER_INPUT', async () => {
    const playlistId = await newPlaylist(2);
    const [a, b] = await order(playlistId);
    const at = async (position: number) =>
      (await server.gql(cast.operator.token, ADD, { input: { playlistId, assetId, position } })).data?.addItem?.id;
    const first = await at(0);
    expect(await order(playlistId)).toEqual([first, a, b]);
    const middle = await at(2);
    expect(await order(playlistId)).toEqual([first, a, middle, b]);
    const last = await at(4);
    expect(await order(playlistId)).toEqual([first, a, middle, b, last]);
    for (const position of [6, -1]) {
      expectBadInput(
        await server.gql(cast.operator.token, ADD, { input: { playlistId, assetId, position } }),
        'input.position',
      );
    }
    expect(await order(playlistId)).toEqual([first, a, middle, b, last]);
  });

  it("the asset must be visible, and of the channel's project unless the channel is admin-only", async () => {
    const playlistId = await newPlaylist();
    const foreign = await newAsset(1_000, cast.other.id);
    const orphan = await newAsset(1_000, null);
    // The operator cannot see the other project's asset: NOT_FOUND, as if it did not exist.
    expect(outcome(await server.gql(cast.operator.token, ADD, { input: { playlistId, assetId: foreign.id } }))).toBe(
      'NOT_FOUND',
    );
    expect(outcome(await server.gql(cast.operator.token, ADD, { input: { playlistId, assetId: orphan.id } }))).toBe(
      'NOT_FOUND',
    );
    expect(
      outcome(
        await server.gql(cast.operator.token, ADD, {
          input: { playlistId, assetId: '00000000-0000-4000-8000-000000000000' },
        }),
      ),
    ).toBe('NOT_FOUND');
    // The admin sees it, but it belongs elsewhere.
    const res = await server.gql(cast.admin.token, ADD, { input: { playlistId, assetId: foreign.id } });
    expectBadInput(res, 'input.assetId');
    expect(res.errors?.[0]?.message).toMatch(/belongs to another project/);
    expect(await order(playlistId)).toEqual([]);
    // An admin-only channel may air any asset.
    const adminPlaylist = await newPlaylist(0, (await newChannel(null)).id);
    for (const id of [foreign.id, orphan.id, assetId]) {
      expect(
        outcome(await server.gql(cast.admin.token, ADD, { input: { playlistId: adminPlaylist, assetId: id } })),
      ).toBe('OK');
    }
    expect(outcome(await server.gql(cast.editor.token, ADD, { input: { playlistId: adminPlaylist, assetId } }))).toBe(
      'NOT_FOUND',
    );
  });

  it('validates points and transition against the asset, naming the field', async () => {
    const playlistId = await newPlaylist();
    const cases: [Record<string, unknown>, string][] = [
      [{ playlistId: 'x' }, 'input.playlistId'],
      [{ assetId: 'x' }, 'input.assetId'],
      [{ inPointMs: -1 }, 'input.inPointMs'],
      [{ inPointMs: 60_000 }, 'input.inPointMs'],
      [{ outPointMs: 0 }, 'input.outPointMs'],
      [{ inPointMs: 5_000, outPointMs: 5_000 }, 'input.outPointMs'],
      [{ inPointMs: 5_000, outPointMs: 4_000 }, 'input.outPointMs'],
      [{ outPointMs: 60_001 }, 'input.outPointMs'],
      [{ transitionMs: -1 }, 'input.transitionMs'],
      [{ inPointMs: 1_000, outPointMs: 3_000, transitionMs: 2_001 }, 'input.transitionMs'],
      [{ inPointMs: 59_000, transitionMs: 1_001 }, 'input.transitionMs'],
      [{ assetId: unknownAssetId, transitionMs: 60_001 }, 'input.transitionMs'],
      [{ assetId: unknownAssetId, inPointMs: 2_000, outPointMs: 1_000 }, 'input.outPointMs'],
    ];
    for (const [over, field] of cases) {
      const res = await server.gql(cast.operator.token, ADD, { input: { playlistId, assetId, ...over } });
      expect([over, res.errors?.[0]?.extensions]).toEqual([
        over,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field }),
      ]);
    }
    const enumRes = await server.gql(cast.operator.token, ADD, { input: { playlistId, assetId, transition: 'FADE' } });
    expect(outcome(enumRes)).toBe('BAD_USER_INPUT');
    expect(await order(playlistId)).toEqual([]);

    const ok: [Record<string, unknown>, number | null][] = [
      [{ inPointMs: 1_000, outPointMs: 3_000, transitionMs: 2_000, transition: 'MIX' }, 2_000],
      [{ outPointMs: 60_000 }, 60_000],
      [{ inPointMs: 59_999 }, 1],
      [{ assetId: unknownAssetId, transitionMs: 60_000 }, null],
      [{ assetId: unknownAssetId, inPointMs: 10_000_000, outPointMs: 10_000_500 }, 500],
    ];
    for (const [over, durationMs] of ok) {
      const res = await server.gql(cast.operator.token, ADD, { input: { playlistId, assetId, ...over } });
      expect([over, res.errors, res.data?.addItem?.durationMs]).toEqual([over, undefined, durationMs]);
    }
  });

  it('20 concurrent adds on one playlist serialize: positions 0..19, no error', async () => {
    const playlistId = await newPlaylist();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        server.gql(cast.operator.token, ADD, { input: { playlistId, assetId, position: 0 } }),
      ),
    );
    expect(results.map(outcome)).toEqual(Array(20).fill('OK'));
    expect(await order(playlistId)).toHaveLength(20);
  });

  it('concurrent adds and removes keep positions dense', async () => {
    const playlistId = await newPlaylist(10);
    const ids = await order(playlistId);
    const results = await Promise.all([
      ...ids.slice(0, 6).map((id) => server.gql(cast.operator.token, REMOVE, { id })),
      ...Array.from({ length: 6 }, (_, i) =>
        server.gql(cast.operator.token, ADD, { input: { playlistId, assetId, position: i % 3 } }),
      ),
      server.gql(cast.operator.token, ADD, { input: { playlistId, assetId } }),
    ]);
    expect(results.map(outcome)).toEqual(Array(13).fill('OK'));
    expect(await order(playlistId)).toHaveLength(11);
  });
});

describe('item query', () => {
  it('role matrix: members read it; outsiders get null like a missing item; a bad ID is BAD_USER_INPUT', async () => {
    const playlistId = await newPlaylist(1);
    const [id] = await order(playlistId);
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), GET, { id });
      if (actor === 'revoked' || actor === 'anonymous')
        expect([actor, outcome(res)]).toEqual([actor, 'UNAUTHENTICATED']);
      else expect([actor, res.data?.item?.id ?? null]).toEqual([actor, actor === 'outsider' ? null : id]);
    }
    expect(await server.gql(cast.outsider.token, GET, { id: '00000000-0000-4000-8000-000000000000' })).toEqual(
      await server.gql(cast.outsider.token, GET, { id }),
    );
    expectBadInput(await server.gql(cast.viewer.token, GET, { id: 'nope' }), 'id');
  });
});

describe('updateItem', () => {
  it('role matrix: operators and up update; viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
    const [id] = await order(await newPlaylist(1));
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), UPDATE, { id, input: { transition: 'WIPE' } });
      expect([actor, outcome(res)]).toEqual([actor, WRITE[actor]]);
    }
  });

  it('changes only the fields given; null clears a point', async () => {
    const [id] = await order(await newPlaylist(1));
    let res = await server.gql(cast.operator.token, UPDATE, { id, input: { inPointMs: 1_000, outPointMs: 9_000 } });
    expect(res.data.updateItem).toMatchObject({
      inPointMs: 1_000,
      outPointMs: 9_000,
      durationMs: 8_000,
      transition: 'CUT',
    });
    res = await server.gql(cast.operator.token, UPDATE, { id, input: { transition: 'SLIDE', transitionMs: 500 } });
    expect(res.data.updateItem).toMatchObject({
      inPointMs: 1_000,
      outPointMs: 9_000,
      transition: 'SLIDE',
      transitionMs: 500,
    });
    res = await server.gql(cast.operator.token, UPDATE, { id, input: { outPointMs: null } });
    expect(res.data.updateItem).toMatchObject({
      inPointMs: 1_000,
      outPointMs: null,
      durationMs: 59_000,
      transition: 'SLIDE',
    });
    res = await server.gql(cast.operator.token, UPDATE, { id, input: {} });
    expect(res.data.updateItem).toMatchObject({ inPointMs: 1_000, transitionMs: 500 });
  });

  it('re-validates the merged values, naming the field the caller gave', async () => {
    const [id] = await order(await newPlaylist(1));
    await server.gql(cast.operator.token, UPDATE, {
      id,
      input: { inPointMs: 10_000, outPointMs: 20_000, transitionMs: 5_000 },
    });
    const cases: [Record<string, unknown>, string][] = [
      [{ outPointMs: 10_000 }, 'input.outPointMs'], // not after the stored in point
      [{ inPointMs: 20_000 }, 'input.inPointMs'], // not before the stored out point
      [{ outPointMs: 14_999 }, 'input.outPointMs'], // shorter than the stored transition
      [{ inPointMs: 15_001 }, 'input.inPointMs'],
      [{ transitionMs: 10_001 }, 'input.transitionMs'],
      [{ outPointMs: 60_001 }, 'input.outPointMs'],
      [{ inPointMs: -1 }, 'input.inPointMs'],
      [{ transition: null }, 'input.transition'],
      [{ transitionMs: null }, 'input.transitionMs'],
    ];
    for (const [input, field] of cases) {
      const res = await server.gql(cast.operator.token, UPDATE, { id, input });
      expect([input, res.errors?.[0]?.extensions]).toEqual([
        input,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field }),
      ]);
    }
    expect(await server.services.db.item.findUniqueOrThrow({ where: { id } })).toMatchObject({
      inPointMs: 10_000,
      outPointMs: 20_000,
      transitionMs: 5_000,
    });
    expectBadInput(await server.gql(cast.operator.token, UPDATE, { id: 'x', input: {} }), 'id');
    expect(
      outcome(await server.gql(cast.operator.token, UPDATE, { id: '00000000-0000-4000-8000-000000000000', input: {} })),
    ).toBe('NOT_FOUND');
  });
});

describe('removeItem', () => {
  it('role matrix: operators and up remove; viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
    const playlistId = await newPlaylist(ACTORS.length);
    const ids = await order(playlistId);
    for (const [i, actor] of ACTORS.entries()) {
      const res = await server.gql(tokenOf(cast, actor), REMOVE, { id: ids[i] });
      expect([actor, outcome(res)]).toEqual([actor, WRITE[actor]]);
      if (WRITE[actor] === 'OK') expect(res.data.removeItem).toBe(ids[i]);
    }
    expect(await order(playlistId)).toHaveLength(ACTORS.length - 3);
  });

  it('removes the first, a middle and the last item, closing the gap each time', async () => {
    const playlistId = await newPlaylist(5);
    const [a, b, c, d, e] = await order(playlistId);
    for (const [id, left] of [
      [a, [b, c, d, e]],
      [d, [b, c, e]],
      [e, [b, c]],
    ] as const) {
      expect(outcome(await server.gql(cast.operator.token, REMOVE, { id }))).toBe('OK');
      expect(await order(playlistId)).toEqual(left);
    }
    expect(outcome(await server.gql(cast.operator.token, REMOVE, { id: a }))).toBe('NOT_FOUND');
    expectBadInput(await server.gql(cast.operator.token, REMOVE, { id: '1' }), 'id');
  });
});

describe('reorderItems', () => {
  it('role matrix: operators and up reorder; viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
    const playlistId = await newPlaylist(3);
    const ids = await order(playlistId);
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), REORDER, { playlistId, itemIds: [...ids].reverse() });
      expect([actor, outcome(res)]).toEqual([actor, WRITE[actor]]);
    }
  });

  it('puts the items in the order given', async () => {
    const playlistId = await newPlaylist(4);
    const [a, b, c, d] = await order(playlistId);
    const res = await server.gql(cast.operator.token, REORDER, { playlistId, itemIds: [c, a, d, b] });
    expect(res.data.reorderItems.items).toEqual([c, a, d, b].map((id, position) => ({ id, position })));
    expect(await order(playlistId)).toEqual([c, a, d, b]);
    const empty = await newPlaylist(0);
    expect(
      (await server.gql(cast.operator.token, REORDER, { playlistId: empty, itemIds: [] })).data.reorderItems.items,
    ).toEqual([]);
  });

  it('rejects duplicates, missing, foreign and malformed ids naming itemIds; a wrong playlist is NOT_FOUND', async () => {
    const playlistId = await newPlaylist(3);
    const [a, b, c] = await order(playlistId);
    const [foreign] = await order(await newPlaylist(1));
    for (const itemIds of [[a, b, c, a], [a, b, b], [a, b], [a, b, c, foreign], [a, b, foreign], [a, b, 'zzz'], []]) {
      expectBadInput(await server.gql(cast.operator.token, REORDER, { playlistId, itemIds }), 'itemIds');
    }
    expect(await order(playlistId)).toEqual([a, b, c]);
    const missing = await server.gql(cast.operator.token, REORDER, {
      playlistId: '00000000-0000-4000-8000-000000000000',
      itemIds: [a, b, c],
    });
    expect(outcome(missing)).toBe('NOT_FOUND');
    // The items of one playlist given for another are foreign to it.
    const otherPlaylist = await newPlaylist(3);
    expectBadInput(
      await server.gql(cast.operator.token, REORDER, { playlistId: otherPlaylist, itemIds: [a, b, c] }),
      'itemIds',
    );
    expectBadInput(
      await server.gql(cast.operator.token, REORDER, { playlistId: 'x', itemIds: [a, b, c] }),
      'playlistId',
    );
  });

  it('concurrent reorders and adds leave a dense, complete playlist', async () => {
    const playlistId = await newPlaylist(5);
    const ids = await order(playlistId);
    const results = await Promise.all([
      server.gql(cast.operator.token, REORDER, { playlistId, itemIds: [...ids].reverse() }),
      server.gql(cast.operator.token, ADD, { input: { playlistId, assetId, position: 0 } }),
      server.gql(cast.operator.token, ADD, { input: { playlistId, assetId } }),
    ]);
    // The reorder may run after an add and then miss the new item: that is its error, not a corruption.
    expect(outcome(results[1])).toBe('OK');
    expect(outcome(results[2])).toBe('OK');
    expect(['OK', 'BAD_USER_INPUT']).toContain(outcome(results[0]));
    expect(await order(playlistId)).toHaveLength(7);
  });
});
