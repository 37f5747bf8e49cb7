import { describe, expect, it } from 'vitest';
import { ACTORS, outcome, tokenOf, useTestServer } from '../helpers/server.ts';

// An asset's house ID: the traffic system's identifier, by which a BXF schedule names its clips.
const { server, cast } = useTestServer();

const CREATE = `mutation($input: CreateAssetInput!) { createAsset(input: $input) { id houseId } }`;
const SET = `mutation($assetId: ID!, $houseId: String) { setAssetHouseId(assetId: $assetId, houseId: $houseId) { id houseId } }`;

const input = (over: Record<string, unknown> = {}) => ({
  projectId: cast.home.id,
  filename: 'spot.mxf',
  storageKey: 'spots/spot.mxf',
  durationMs: 30_000,
  ...over,
});

const newAsset = (projectId: string | null, houseId: string | null = null) =>
  server.services.db.asset.create({ data: { projectId, filename: 'a.mxf', storageKey: 'a.mxf', houseId } });

describe('createAsset with a house ID', () => {
  it('stores it and reads it back; without one it is null', async () => {
    const res = await server.gql(cast.editor.token, CREATE, { input: input({ houseId: 'JFMC1201' }) });
    expect(res.data?.createAsset.houseId).toBe('JFMC1201');
    const none = await server.gql(cast.editor.token, CREATE, { input: input() });
    expect(none.data?.createAsset.houseId).toBeNull();
  });

  it('is unique per project: a second one is BAD_USER_INPUT naming input.houseId; another project may use it', async () => {
    await newAsset(cast.home.id, 'NEWS-0600');
    const before = await server.services.db.asset.count();
    const res = await server.gql(cast.editor.token, CREATE, { input: input({ houseId: 'NEWS-0600' }) });
    expect(res.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.houseId' });
    expect(res.errors?.[0]?.message).toBe('input.houseId: another asset of this project has this house ID');
    expect(await server.services.db.asset.count()).toBe(before);
    const other = await server.gql(cast.admin.token, CREATE, {
      input: input({ projectId: cast.other.id, houseId: 'NEWS-0600' }),
    });
    expect(outcome(other)).toBe('OK');
  });

  it('refuses an empty, long or oddly written house ID, naming input.houseId', async () => {
    for (const houseId of ['', ' A1', 'A 1', 'a'.repeat(65), '-A1', 'A1\n', 'Ü1', 'A1;DROP']) {
      const res = await server.gql(cast.editor.token, CREATE, { input: input({ houseId }) });
      expect([houseId, res.errors?.[0]?.extensions]).toEqual([
        houseId,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'input.houseId' }),
      ]);
    }
    const longest = await server.gql(cast.editor.token, CREATE, {
      input: input({ houseId: `A${'9'.repeat(63)}` }),
    });
    expect(outcome(longest)).toBe('OK');
    const punctuated = await server.gql(cast.editor.token, CREATE, {
      input: input({ houseId: 'PRG/2026:10#1_a.b-c' }),
    });
    expect(outcome(punctuated)).toBe('OK');
  });
});

describe('setAssetHouseId', () => {
  it('role matrix: editors and admins set it; operators and viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
    const asset = await newAsset(cast.home.id);
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
      const res = await server.gql(tokenOf(cast, actor), SET, { assetId: asset.id, houseId: `BY-${actor}` });
      expect([actor, outcome(res)]).toEqual([actor, expected[actor]]);
    }
    const stored = await server.services.db.asset.findUniqueOrThrow({ where: { id: asset.id } });
    expect(stored.houseId).toBe('BY-editor');
  });

  it('sets, changes and clears; a taken one is BAD_USER_INPUT naming houseId and changes nothing', async () => {
    const asset = await newAsset(cast.home.id);
    await newAsset(cast.home.id, 'TAKEN-1');
    expect((await server.gql(cast.editor.token, SET, { assetId: asset.id, houseId: 'H-1' })).data).toEqual({
      setAssetHouseId: { id: asset.id, houseId: 'H-1' },
    });
    const taken = await server.gql(cast.editor.token, SET, { assetId: asset.id, houseId: 'TAKEN-1' });
    expect(taken.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'houseId' });
    expect((await server.services.db.asset.findUniqueOrThrow({ where: { id: asset.id } })).houseId).toBe('H-1');
    const cleared = await server.gql(cast.editor.token, SET, { assetId: asset.id, houseId: null });
    expect(cleared.data?.setAssetHouseId.houseId).toBeNull();
    const bad = await server.gql(cast.editor.token, SET, { assetId: asset.id, houseId: 'has space' });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'houseId' });
    const badId = await server.gql(cast.editor.token, SET, { assetId: 'nope', houseId: 'X' });
    expect(badId.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'assetId' });
  });

  it('two editors giving two assets the same house ID at once: exactly one gets it', async () => {
    const [a, b] = [await newAsset(cast.home.id), await newAsset(cast.home.id)];
    const results = await Promise.all(
      [a, b].map((asset) => server.gql(cast.editor.token, SET, { assetId: asset.id, houseId: 'RACE-1' })),
    );
    expect(results.map(outcome).sort()).toEqual(['BAD_USER_INPUT', 'OK']);
    expect(await server.services.db.asset.count({ where: { houseId: 'RACE-1' } })).toBe(1);
  });
});
