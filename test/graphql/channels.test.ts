import { beforeAll, describe, expect, it } from 'vitest';
import { ACTORS, createActor, outcome, tokenOf, useTestServer, type Actor } from '../helpers/server.ts';
import { insertChannel, uniq } from '../helpers/fixtures.ts';

const { server, cast } = useTestServer();
let node: { id: string; hostname: string };

const FIELDS = `id name outputType videoFormat status project { id } node { id }
  output { __typename ... on DeckLinkOutput { deviceIndex } ... on NdiOutput { name }
    ... on SrtOutput { url latencyMs passphraseSet } ... on RtmpOutput { url streamKeySet } }`;
const CREATE = `mutation($input: CreateChannelInput!) { createChannel(input: $input) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateChannelInput!) { updateChannel(id: $id, input: $input) { ${FIELDS} } }`;
const DELETE = `mutation($id: ID!) { deleteChannel(id: $id) }`;
const GET = `query($id: ID!) { channel(id: $id) { ${FIELDS} } }`;
const LIST = `{ channels { id } }`;

const ndi = () => ({ ndi: { name: `out-${uniq()}` } });

beforeAll(async () => {
  node = await server.services.db.clusterNode.create({ data: { hostname: `big-${uniq()}`, decklinkDevices: 4 } });
});

const fixture = (projectId: string | null, extra: Parameters<typeof insertChannel>[2] = {}) =>
  insertChannel(server.services, projectId, extra);

async function create(actor: Actor, input: Record<string, unknown>) {
  return server.gql(tokenOf(cast, actor), CREATE, {
    input: { name: `ch-${uniq()}`, projectId: cast.home.id, output: ndi(), ...input },
  });
}

function expectMatrix(results: Record<string, string>, expected: Record<Actor, string>) {
  expect(results).toEqual(expected);
}

describe('queries', () => {
  it("channels lists live channels of the caller's projects; admin-only ones only for admins", async () => {
    const home = await fixture(cast.home.id);
    const other = await fixture(cast.other.id);
    const adminOnly = await fixture(null);
    const ids = async (actor: Actor) => {
      const res = await server.gql(tokenOf(cast, actor), LIST);
      return res.errors ? outcome(res) : (res.data.channels as { id: string }[]).map((c) => c.id);
    };
    const admin = await ids('admin');
    expect(admin).toEqual(expect.arrayContaining([home.id, other.id, adminOnly.id]));
    for (const actor of ['editor', 'operator', 'viewer'] as const) {
      const seen = await ids(actor);
      expect(seen).toContain(home.id);
      expect(seen).not.toContain(other.id);
      expect(seen).not.toContain(adminOnly.id);
    }
    const outsider = await ids('outsider');
    expect(outsider).toContain(other.id);
    expect(outsider).not.toContain(home.id);
    expect(outsider).not.toContain(adminOnly.id);
    expect(await ids('revoked')).toBe('UNAUTHENTICATED');
    expect(await ids('anonymous')).toBe('UNAUTHENTICATED');
  });

  it('lists oldest first', async () => {
    const res = await server.gql(cast.admin.token, '{ channels { createdAt } }');
    const times = (res.data.channels as { createdAt: string }[]).map((c) => c.createdAt);
    expect([...times].sort()).toEqual(times);
  });

  it('channel(id) is null alike for invisible, admin-only and missing channels; a malformed id is BAD_USER_INPUT', async () => {
    const home = await fixture(cast.home.id);
    const adminOnly = await fixture(null);
    const expected: Record<Actor, [string, string]> = {
      admin: ['found', 'found'],
      editor: ['found', 'null'],
      operator: ['found', 'null'],
      viewer: ['found', 'null'],
      outsider: ['null', 'null'],
      revoked: ['UNAUTHENTICATED', 'UNAUTHENTICATED'],
      anonymous: ['UNAUTHENTICATED', 'UNAUTHENTICATED'],
    };
    const look = async (actor: Actor, id: string) => {
      const res = await server.gql(tokenOf(cast, actor), GET, { id });
      return res.errors ? outcome(res) : res.data?.channel ? 'found' : 'null';
    };
    for (const actor of ACTORS) {
      expect([actor, await look(actor, home.id), await look(actor, adminOnly.id)]).toEqual([actor, ...expected[actor]]);
    }
    expect(await look('admin', '00000000-0000-4000-8000-000000000000')).toBe('null');
    const bad = await server.gql(cast.admin.token, GET, { id: 'nope' });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });

  it('reads project, node, output and playlists in a bounded number of statements', async () => {
    for (let i = 0; i < 5; i++) {
      const c = await fixture(cast.home.id, { nodeId: node.id });
      await server.services.db.playlist.create({ data: { channelId: c.id, name: 'p' } });
    }
    const before = server.queries.length;
    const res = await server.gql(cast.viewer.token, `{ channels { ${FIELDS} playlists { id } } }`);
    expect(res.errors).toBeUndefined();
    expect((res.data.channels as unknown[]).length).toBeGreaterThanOrEqual(5);
    const statements = server.queries.slice(before).filter((q) => !/api_tokens|BEGIN|COMMIT/i.test(q));
    expect(statements.length).toBeLessThanOrEqual(6);
  });
});

describe('createChannel', () => {
  it('in a project: EDITOR or admin; lower roles FORBIDDEN; outsiders NOT_FOUND', async () => {
    const results: Record<string, string> = {};
    for (const actor of ACTORS) results[actor] = outcome(await create(actor, {}));
    expectMatrix(results, {
      admin: 'OK',
      editor: 'OK',
      operator: 'FORBIDDEN',
      viewer: 'FORBIDDEN',
      outsider: 'NOT_FOUND',
      revoked: 'UNAUTHENTICATED',
      anonymous: 'UNAUTHENTICATED',
    });
  });

  it('without a project: admin only', async () => {
    const results: Record<string, string> = {};
    for (const actor of ACTORS) results[actor] = outcome(await create(actor, { projectId: null }));
    expectMatrix(results, {
      admin: 'OK',
      editor: 'FORBIDDEN',
      operator: 'FORBIDDEN',
      viewer: 'FORBIDDEN',
      outsider: 'FORBIDDEN',
      revoked: 'UNAUTHENTICATED',
      anonymous: 'UNAUTHENTICATED',
    });
    const res = await create('admin', {});
    expect(res.data?.createChannel.project).toEqual({ id: cast.home.id });
  });

  it('returns the channel as stored, with defaults and a trimmed name', async () => {
    const res = await server.gql(cast.editor.token, CREATE, {
      input: {
        name: '  Studio 1  ',
        projectId: cast.home.id,
        nodeId: node.id,
        output: { decklink: { deviceIndex: 2 } },
      },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data?.createChannel).toMatchObject({
      name: 'Studio 1',
      videoFormat: '1080p5994',
      status: 'STOPPED',
      outputType: 'DECKLINK',
      project: { id: cast.home.id },
      node: { id: node.id },
      output: { __typename: 'DeckLinkOutput', deviceIndex: 2 },
    });
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: res.data?.createChannel.id } });
    expect(row.decklinkDevice).toBe(2);
  });

  it('a missing project or node is NOT_FOUND; nothing is created', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const before = await server.services.db.channel.count();
    expect(outcome(await create('admin', { projectId: missing }))).toBe('NOT_FOUND');
    expect(outcome(await create('editor', { projectId: missing }))).toBe('NOT_FOUND');
    expect(outcome(await create('editor', { nodeId: missing }))).toBe('NOT_FOUND');
    expect(await server.services.db.channel.count()).toBe(before);
  });
});

describe('updateChannel and deleteChannel: roles', () => {
  const expected: Record<Actor, string> = {
    admin: 'OK',
    editor: 'OK',
    operator: 'FORBIDDEN',
    viewer: 'FORBIDDEN',
    outsider: 'NOT_FOUND',
    revoked: 'UNAUTHENTICATED',
    anonymous: 'UNAUTHENTICATED',
  };

  it("updateChannel needs EDITOR on the channel's project", async () => {
    const channel = await fixture(cast.home.id);
    const results: Record<string, string> = {};
    for (const actor of ACTORS) {
      results[actor] = outcome(
        await server.gql(tokenOf(cast, actor), UPDATE, { id: channel.id, input: { name: `by ${actor}` } }),
      );
    }
    expectMatrix(results, expected);
  });

  it("deleteChannel needs EDITOR on the channel's project", async () => {
    const results: Record<string, string> = {};
    for (const actor of ACTORS) {
      const channel = await fixture(cast.home.id);
      results[actor] = outcome(await server.gql(tokenOf(cast, actor), DELETE, { id: channel.id }));
    }
    expectMatrix(results, expected);
  });

  it('an admin-only channel is NOT_FOUND to every member, for update and delete', async () => {
    const channel = await fixture(null);
    for (const actor of ['editor', 'operator', 'viewer', 'outsider'] as const) {
      expect(outcome(await server.gql(tokenOf(cast, actor), UPDATE, { id: channel.id, input: { name: 'x' } }))).toBe(
        'NOT_FOUND',
      );
      expect(outcome(await server.gql(tokenOf(cast, actor), DELETE, { id: channel.id }))).toBe('NOT_FOUND');
    }
    expect(outcome(await server.gql(cast.admin.token, UPDATE, { id: channel.id, input: { name: 'x' } }))).toBe('OK');
  });

  it('moving to another project needs EDITOR there too; to no project needs an admin', async () => {
    const channel = await fixture(cast.home.id);
    const move = (token: string, projectId: string | null) =>
      server.gql(token, UPDATE, { id: channel.id, input: { projectId } });
    expect(outcome(await move(cast.editor.token, cast.other.id))).toBe('NOT_FOUND');
    expect(outcome(await move(cast.editor.token, null))).toBe('FORBIDDEN');
    const viewerThere = await createActor(server.services, {
      roles: { [cast.home.id]: 'EDITOR', [cast.other.id]: 'VIEWER' },
    });
    expect(outcome(await move(viewerThere.token, cast.other.id))).toBe('FORBIDDEN');
    const both = await createActor(server.services, { roles: { [cast.home.id]: 'EDITOR', [cast.other.id]: 'EDITOR' } });
    const moved = await move(both.token, cast.other.id);
    expect(moved.data?.updateChannel.project).toEqual({ id: cast.other.id });
    expect((await server.gql(cast.editor.token, GET, { id: channel.id })).data?.channel).toBeNull();
    const adminOnly = await move(cast.admin.token, null);
    expect(adminOnly.data?.updateChannel.project).toBeNull();
  });
});

describe('updateChannel', () => {
  it('changes only the fields given', async () => {
    const channel = await fixture(cast.home.id, { nodeId: node.id });
    const res = await server.gql(cast.editor.token, UPDATE, { id: channel.id, input: { videoFormat: '720p5000' } });
    expect(res.data?.updateChannel).toMatchObject({
      name: channel.name,
      videoFormat: '720p5000',
      node: { id: node.id },
      output: { __typename: 'NdiOutput', name: 'x' },
    });
    const unplaced = await server.gql(cast.editor.token, UPDATE, { id: channel.id, input: { nodeId: null } });
    expect(unplaced.data?.updateChannel).toMatchObject({ node: null, videoFormat: '720p5000', name: channel.name });
  });

  it('explicit null for a required setting is BAD_USER_INPUT', async () => {
    const channel = await fixture(cast.home.id);
    for (const field of ['name', 'videoFormat', 'output']) {
      const res = await server.gql(cast.editor.token, UPDATE, { id: channel.id, input: { [field]: null } });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: `input.${field}` });
    }
  });

  it.each(['STARTING', 'RUNNING', 'STOPPING'] as const)('is CONFLICT while %s and changes nothing', async (status) => {
    const channel = await fixture(cast.home.id, { status });
    const res = await server.gql(cast.editor.token, UPDATE, {
      id: channel.id,
      input: { name: 'changed', output: { rtmp: { url: 'rtmp://cdn.example.com/live', streamKey: 'abc' } } },
    });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT' });
    const row = await server.services.db.channel.findUniqueOrThrow({
      where: { id: channel.id },
      include: { secret: true },
    });
    expect(row).toMatchObject({ name: channel.name, outputType: 'NDI', status, secret: null });
  });

  it('is allowed in ERROR', async () => {
    const channel = await fixture(cast.home.id, { status: 'ERROR' });
    const res = await server.gql(cast.editor.token, UPDATE, { id: channel.id, input: { name: 'fixed' } });
    expect(res.data?.updateChannel).toMatchObject({ name: 'fixed', status: 'ERROR' });
  });

  it('a status flip racing an update: the update either applies before the flip or is CONFLICT', async () => {
    for (let i = 0; i < 5; i++) {
      const channel = await fixture(cast.home.id);
      const [res] = await Promise.all([
        server.gql(cast.editor.token, UPDATE, { id: channel.id, input: { name: `race-${i}` } }),
        server.services.db.channel.updateMany({
          where: { id: channel.id, status: 'STOPPED' },
          data: { status: 'STARTING' },
        }),
      ]);
      const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channel.id } });
      expect(row.status).toBe('STARTING');
      expect(row.name).toBe(outcome(res) === 'OK' ? `race-${i}` : channel.name);
      expect(['OK', 'CONFLICT']).toContain(outcome(res));
    }
  });
});

describe('deleteChannel', () => {
  it('leaves a tombstone: playlists and secret gone, as-run kept, node freed, invisible everywhere', async () => {
    const freeNode = await server.services.db.clusterNode.create({ data: { hostname: `free-${uniq()}` } });
    const created = await server.gql(cast.editor.token, CREATE, {
      input: {
        name: 'doomed',
        projectId: cast.home.id,
        nodeId: freeNode.id,
        output: { rtmp: { url: 'rtmp://a.example/live', streamKey: 'k-123' } },
      },
    });
    const id = created.data?.createChannel.id as string;
    await server.services.db.playlist.create({ data: { channelId: id, name: 'morning' } });
    const asRun = await server.services.db.asRunEntry.create({
      data: { channelId: id, clipName: 'CLIP', startedAt: new Date(), status: 'PLAYED' },
    });

    const res = await server.gql(cast.editor.token, DELETE, { id });
    expect(res.data?.deleteChannel).toBe(id);

    const db = server.services.db;
    expect(await db.playlist.count({ where: { channelId: id } })).toBe(0);
    expect(await db.channelSecret.count({ where: { channelId: id } })).toBe(0);
    const kept = await db.asRunEntry.findUniqueOrThrow({ where: { id: asRun.id }, include: { channel: true } });
    expect(kept.channel).toMatchObject({ id, name: 'doomed', nodeId: null });
    expect(kept.channel.deletedAt).not.toBeNull();

    expect((await server.gql(cast.admin.token, GET, { id })).data?.channel).toBeNull();
    expect((await server.gql(cast.admin.token, LIST)).data?.channels).not.toContainEqual({ id });
    expect(outcome(await server.gql(cast.admin.token, UPDATE, { id, input: { name: 'x' } }))).toBe('NOT_FOUND');
    expect(outcome(await server.gql(cast.admin.token, DELETE, { id }))).toBe('NOT_FOUND');
    const project = await server.gql(cast.editor.token, `{ projects { channels { id } } }`);
    expect(JSON.stringify(project.data)).not.toContain(id);
    expect(outcome(await server.gql(cast.admin.token, `mutation { removeNode(id: "${freeNode.id}") }`))).toBe('OK');
  });

  it.each(['STARTING', 'RUNNING', 'STOPPING'] as const)('is CONFLICT while %s and deletes nothing', async (status) => {
    const channel = await fixture(cast.home.id, { status });
    await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'p' } });
    const res = await server.gql(cast.editor.token, DELETE, { id: channel.id });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT' });
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channel.id } });
    expect(row.deletedAt).toBeNull();
    expect(await server.services.db.playlist.count({ where: { channelId: channel.id } })).toBe(1);
  });

  it('a malformed id is BAD_USER_INPUT', async () => {
    const res = await server.gql(cast.admin.token, DELETE, { id: '123' });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });
});
