import { beforeAll, describe, expect, it } from 'vitest';
import { ACTORS, outcome, tokenOf, useTestServer, type Actor } from '../helpers/server.ts';
import { insertChannel } from '../helpers/fixtures.ts';

const { server, cast } = useTestServer();
let channelId: string;

beforeAll(async () => {
  channelId = (await newChannel(cast.home.id)).id;
});

// Channels are another module's: fixtures go straight to the database.
const newChannel = (projectId: string | null, name = 'ch') => insertChannel(server.services, projectId, { name });
function newPlaylist(name = 'pl', channel = channelId) {
  return server.services.db.playlist.create({ data: { channelId: channel, name } });
}
function newAsset(durationMs: number | null, projectId: string | null = cast.home.id) {
  return server.services.db.asset.create({ data: { projectId, filename: 'a.mxf', storageKey: 'k', durationMs } });
}

const FIELDS = 'id name loop channel { id } items { id position } durationMs ready createdAt updatedAt';
const CREATE = `mutation($input: CreatePlaylistInput!) { createPlaylist(input: $input) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdatePlaylistInput!) { updatePlaylist(id: $id, input: $input) { ${FIELDS} } }`;
const DELETE = `mutation($id: ID!) { deletePlaylist(id: $id) }`;
const GET = `query($id: ID!) { playlist(id: $id) { ${FIELDS} } }`;

const WRITE: Record<Actor, string> = {
  admin: 'OK',
  editor: 'OK',
  operator: 'OK',
  viewer: 'FORBIDDEN',
  outsider: 'NOT_FOUND',
  revoked: 'UNAUTHENTICATED',
  anonymous: 'UNAUTHENTICATED',
};

describe('createPlaylist', () => {
  it('role matrix: operators and up create; viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), CREATE, { input: { channelId, name: `by ${actor}` } });
      expect([actor, outcome(res)]).toEqual([actor, WRITE[actor]]);
      if (outcome(res) === 'OK') {
        expect(res.data.createPlaylist).toMatchObject({
          name: `by ${actor}`,
          loop: false,
          channel: { id: channelId },
          items: [],
          durationMs: 0,
          ready: false,
        });
      }
    }
  });

  it('an admin-only channel takes playlists from admins only; a deleted channel from nobody', async () => {
    const adminOnly = await newChannel(null);
    for (const actor of ['admin', 'editor', 'outsider'] as const) {
      const res = await server.gql(cast[actor].token, CREATE, { input: { channelId: adminOnly.id, name: 'x' } });
      expect([actor, outcome(res)]).toEqual([actor, actor === 'admin' ? 'OK' : 'NOT_FOUND']);
    }
    const gone = await newChannel(cast.home.id);
    await server.services.db.channel.update({ where: { id: gone.id }, data: { deletedAt: new Date() } });
    expect(outcome(await server.gql(cast.admin.token, CREATE, { input: { channelId: gone.id, name: 'x' } }))).toBe(
      'NOT_FOUND',
    );
    const missing = await server.gql(cast.admin.token, CREATE, {
      input: { channelId: '00000000-0000-4000-8000-000000000000', name: 'x' },
    });
    expect(outcome(missing)).toBe('NOT_FOUND');
  });

  it('takes loop, trims the name, and rejects bad input naming the field', async () => {
    const ok = await server.gql(cast.operator.token, CREATE, { input: { channelId, name: '  Morning  ', loop: true } });
    expect(ok.data.createPlaylist).toMatchObject({ name: 'Morning', loop: true });
    const before = await server.services.db.playlist.count();
    const cases: [Record<string, unknown>, string][] = [
      [{ channelId, name: '' }, 'input.name'],
      [{ channelId, name: '   ' }, 'input.name'],
      [{ channelId, name: 'n'.repeat(121) }, 'input.name'],
      [{ channelId, name: 'a\tb' }, 'input.name'],
      [{ channelId: 'nope', name: 'x' }, 'input.channelId'],
    ];
    for (const [input, field] of cases) {
      const res = await server.gql(cast.operator.token, CREATE, { input });
      expect([input, res.errors?.[0]?.extensions]).toEqual([
        input,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field }),
      ]);
    }
    expect(await server.services.db.playlist.count()).toBe(before);
  });
});

describe('playlist query', () => {
  it('role matrix: members read it; an outsider gets null, the same as for a missing one', async () => {
    const pl = await newPlaylist('visible');
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), GET, { id: pl.id });
      if (actor === 'revoked' || actor === 'anonymous')
        expect([actor, outcome(res)]).toEqual([actor, 'UNAUTHENTICATED']);
      else expect([actor, res.data?.playlist?.id ?? null]).toEqual([actor, actor === 'outsider' ? null : pl.id]);
    }
    const missing = await server.gql(cast.outsider.token, GET, { id: '00000000-0000-4000-8000-000000000000' });
    const hidden = await server.gql(cast.outsider.token, GET, { id: pl.id });
    expect(missing).toEqual(hidden);
    const bad = await server.gql(cast.viewer.token, GET, { id: 'x' });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });

  it('a playlist of a deleted channel is invisible, even to an admin', async () => {
    const ch = await newChannel(cast.home.id);
    const pl = await newPlaylist('orphaned', ch.id);
    await server.services.db.channel.update({ where: { id: ch.id }, data: { deletedAt: new Date() } });
    expect((await server.gql(cast.admin.token, GET, { id: pl.id })).data.playlist).toBeNull();
    expect(outcome(await server.gql(cast.admin.token, UPDATE, { id: pl.id, input: { loop: true } }))).toBe('NOT_FOUND');
  });

  it('durationMs sums effective durations (unknown counts 0); ready needs every item READY', async () => {
    const db = server.services.db;
    const pl = await newPlaylist('timed');
    const long = await newAsset(60_000);
    const unknown = await newAsset(null);
    const items = [
      { assetId: long.id }, // 60000
      { assetId: long.id, inPointMs: 10_000 }, // 50000
      { assetId: long.id, inPointMs: 1_000, outPointMs: 4_000 }, // 3000
      { assetId: unknown.id }, // unknown: 0
      { assetId: unknown.id, outPointMs: 7_000 }, // 7000
    ];
    await db.asset.updateMany({
      where: { id: { in: [long.id, unknown.id] } },
      data: { mediaStatus: 'READY', mediaPath: 'staged.mxf' },
    });
    for (const [position, item] of items.entries()) {
      await db.item.create({ data: { playlistId: pl.id, position, ...item } });
    }
    let res = await server.gql(cast.viewer.token, GET, { id: pl.id });
    expect(res.data.playlist).toMatchObject({ durationMs: 120_000, ready: true });
    expect(res.data.playlist.items.map((i: { position: number }) => i.position)).toEqual([0, 1, 2, 3, 4]);
    await db.asset.update({ where: { id: unknown.id }, data: { mediaStatus: 'STAGING', mediaPath: null } });
    res = await server.gql(cast.viewer.token, GET, { id: pl.id });
    expect(res.data.playlist.ready).toBe(false);
  });

  it('a playlist longer than GraphQL Int reports the Int ceiling', async () => {
    const pl = await newPlaylist('marathon');
    const week = await newAsset(7 * 24 * 3600 * 1000);
    await server.services.db.item.createMany({
      data: [0, 1, 2, 3].map((position) => ({ playlistId: pl.id, assetId: week.id, position })),
    });
    const res = await server.gql(cast.viewer.token, GET, { id: pl.id });
    expect(res.data.playlist.durationMs).toBe(2_147_483_647);
  });
});

describe('updatePlaylist', () => {
  it('role matrix: operators and up update; viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
    const pl = await newPlaylist('to update');
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), UPDATE, { id: pl.id, input: { name: `renamed by ${actor}` } });
      expect([actor, outcome(res)]).toEqual([actor, WRITE[actor]]);
    }
  });

  it('changes only the fields given and moves updatedAt', async () => {
    const pl = await newPlaylist('keep me');
    const loop = await server.gql(cast.operator.token, UPDATE, { id: pl.id, input: { loop: true } });
    expect(loop.data.updatePlaylist).toMatchObject({ name: 'keep me', loop: true });
    expect(new Date(loop.data.updatePlaylist.updatedAt).getTime()).toBeGreaterThan(pl.updatedAt.getTime());
    const name = await server.gql(cast.operator.token, UPDATE, { id: pl.id, input: { name: 'new name' } });
    expect(name.data.updatePlaylist).toMatchObject({ name: 'new name', loop: true });
    const none = await server.gql(cast.operator.token, UPDATE, { id: pl.id, input: {} });
    expect(none.data.updatePlaylist).toMatchObject({ name: 'new name', loop: true });
  });

  it('rejects bad input naming the field; a missing playlist is NOT_FOUND', async () => {
    const pl = await newPlaylist('strict');
    const cases: [Record<string, unknown>, string][] = [
      [{ name: '' }, 'input.name'],
      [{ name: null }, 'input.name'],
      [{ loop: null }, 'input.loop'],
      [{ name: 'x'.repeat(121) }, 'input.name'],
    ];
    for (const [input, field] of cases) {
      const res = await server.gql(cast.operator.token, UPDATE, { id: pl.id, input });
      expect([input, res.errors?.[0]?.extensions]).toEqual([
        input,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field }),
      ]);
    }
    expect((await server.services.db.playlist.findUniqueOrThrow({ where: { id: pl.id } })).name).toBe('strict');
    const bad = await server.gql(cast.operator.token, UPDATE, { id: 'bad', input: { loop: true } });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    const missing = await server.gql(cast.operator.token, UPDATE, {
      id: '00000000-0000-4000-8000-000000000000',
      input: { loop: true },
    });
    expect(outcome(missing)).toBe('NOT_FOUND');
  });
});

describe('deletePlaylist', () => {
  it('role matrix: operators and up delete; viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
    for (const actor of ACTORS) {
      const pl = await newPlaylist(`doomed ${actor}`);
      const res = await server.gql(tokenOf(cast, actor), DELETE, { id: pl.id });
      expect([actor, outcome(res)]).toEqual([actor, WRITE[actor]]);
      const exists = (await server.services.db.playlist.count({ where: { id: pl.id } })) === 1;
      expect([actor, exists]).toEqual([actor, WRITE[actor] !== 'OK']);
      if (WRITE[actor] === 'OK') expect(res.data.deletePlaylist).toBe(pl.id);
    }
  });

  it('deletes its items and keeps the as-run history of what aired', async () => {
    const db = server.services.db;
    const pl = await newPlaylist('aired');
    const asset = await newAsset(5_000);
    const item = await db.item.create({ data: { playlistId: pl.id, assetId: asset.id, position: 0 } });
    const entry = await db.asRunEntry.create({
      data: {
        channelId,
        playlistId: pl.id,
        itemId: item.id,
        assetId: asset.id,
        clipName: 'a.mxf',
        startedAt: new Date(),
        durationMs: 5_000,
        status: 'PLAYED',
      },
    });
    expect(outcome(await server.gql(cast.operator.token, DELETE, { id: pl.id }))).toBe('OK');
    expect(await db.item.count({ where: { playlistId: pl.id } })).toBe(0);
    expect(await db.asRunEntry.findUniqueOrThrow({ where: { id: entry.id } })).toMatchObject({
      itemId: null,
      playlistId: pl.id,
      assetId: asset.id,
      clipName: 'a.mxf',
      durationMs: 5_000,
      status: 'PLAYED',
    });
    expect(outcome(await server.gql(cast.operator.token, DELETE, { id: pl.id }))).toBe('NOT_FOUND');
  });
});
