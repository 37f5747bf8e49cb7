import { beforeAll, describe, expect, it } from 'vitest';
import { ACTORS, outcome, tokenOf, useTestServer } from '../helpers/server.ts';

const { server, cast } = useTestServer();

const CREATE = `mutation($input: CreateAssetInput!) { createAsset(input: $input) { id filename storageKey durationMs project { id } } }`;
const LIST = `query($projectId: ID, $search: String, $first: Int, $after: String) {
  assets(projectId: $projectId, search: $search, first: $first, after: $after) {
    edges { cursor node { id filename project { id } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const input = (over: Record<string, unknown> = {}) => ({
  projectId: cast.home.id,
  filename: 'clip.mxf',
  storageKey: 'media/clip.mxf',
  durationMs: 10_000,
  ...over,
});

async function ids(token: string | null, vars: Record<string, unknown> = {}): Promise<string[]> {
  const res = await server.gql(token, LIST, { first: 500, ...vars });
  expect(res.errors).toBeUndefined();
  return res.data.assets.edges.map((e: { node: { id: string } }) => e.node.id);
}

describe('createAsset', () => {
  it('role matrix: editors and admins create; operators and viewers FORBIDDEN; outsiders NOT_FOUND', async () => {
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
      const res = await server.gql(tokenOf(cast, actor), CREATE, { input: input({ filename: `by-${actor}.mxf` }) });
      expect([actor, outcome(res)]).toEqual([actor, expected[actor]]);
    }
  });

  it('returns the asset with its project; a duration may be unknown', async () => {
    const res = await server.gql(cast.editor.token, CREATE, {
      input: input({ filename: 'Ident Ünïcode.mov', durationMs: null }),
    });
    expect(res.data?.createAsset).toMatchObject({
      filename: 'Ident Ünïcode.mov',
      storageKey: 'media/clip.mxf',
      durationMs: null,
      project: { id: cast.home.id },
    });
  });

  it('rejects invalid input with BAD_USER_INPUT naming the field, and creates nothing', async () => {
    const before = await server.services.db.asset.count();
    const cases: [Record<string, unknown>, string][] = [
      [{ filename: '' }, 'input.filename'],
      [{ filename: '   ' }, 'input.filename'],
      [{ filename: 'x'.repeat(256) }, 'input.filename'],
      [{ filename: 'dir/clip.mxf' }, 'input.filename'],
      [{ filename: 'dir\\clip.mxf' }, 'input.filename'],
      [{ filename: 'clip\n.mxf' }, 'input.filename'],
      [{ filename: '..' }, 'input.filename'],
      [{ storageKey: '' }, 'input.storageKey'],
      [{ storageKey: '/etc/passwd' }, 'input.storageKey'],
      [{ storageKey: '../secret' }, 'input.storageKey'],
      [{ storageKey: 'media/../../secret' }, 'input.storageKey'],
      [{ storageKey: 'media/\u0000x' }, 'input.storageKey'],
      [{ storageKey: 'k'.repeat(1025) }, 'input.storageKey'],
      [{ durationMs: 0 }, 'input.durationMs'],
      [{ durationMs: -5 }, 'input.durationMs'],
      [{ durationMs: 7 * 24 * 3600 * 1000 + 1 }, 'input.durationMs'],
      [{ projectId: 'not-a-uuid' }, 'input.projectId'],
    ];
    for (const [over, field] of cases) {
      const res = await server.gql(cast.admin.token, CREATE, { input: input(over) });
      expect([over, res.errors?.[0]?.extensions]).toEqual([
        over,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field }),
      ]);
      expect(res.errors?.[0]?.message.startsWith(`${field}: `)).toBe(true);
    }
    expect(await server.services.db.asset.count()).toBe(before);
  });

  it('accepts the limits themselves: 255-character name, dots inside a key, a week', async () => {
    const res = await server.gql(cast.editor.token, CREATE, {
      input: input({ filename: 'f'.repeat(255), storageKey: 'a/..b/c..d/e.mxf', durationMs: 7 * 24 * 3600 * 1000 }),
    });
    expect(outcome(res)).toBe('OK');
  });

  it('an unknown project is NOT_FOUND, even for an admin', async () => {
    const res = await server.gql(cast.admin.token, CREATE, {
      input: input({ projectId: '00000000-0000-4000-8000-000000000000' }),
    });
    expect(outcome(res)).toBe('NOT_FOUND');
  });
});

describe('assets query', () => {
  let home: string;
  let other: string;
  let orphan: string;
  beforeAll(async () => {
    const db = server.services.db;
    home = (await db.asset.create({ data: { projectId: cast.home.id, filename: 'home.mxf', storageKey: 'h' } })).id;
    other = (await db.asset.create({ data: { projectId: cast.other.id, filename: 'other.mxf', storageKey: 'o' } })).id;
    orphan = (await db.asset.create({ data: { projectId: null, filename: 'orphan.mxf', storageKey: 'x' } })).id;
  });

  it("role matrix: members see their projects' assets, admins all, no token UNAUTHENTICATED", async () => {
    for (const actor of ACTORS) {
      const res = await server.gql(tokenOf(cast, actor), LIST, { first: 500 });
      if (actor === 'revoked' || actor === 'anonymous') {
        expect([actor, outcome(res)]).toEqual([actor, 'UNAUTHENTICATED']);
        continue;
      }
      const seen = new Set(res.data.assets.edges.map((e: { node: { id: string } }) => e.node.id));
      const expected = {
        home: actor !== 'outsider',
        other: actor === 'admin' || actor === 'outsider',
        orphan: actor === 'admin',
      };
      expect([actor, seen.has(home), seen.has(other), seen.has(orphan)]).toEqual([
        actor,
        expected.home,
        expected.other,
        expected.orphan,
      ]);
    }
  });

  it('projectId narrows to one visible project; another project is NOT_FOUND, a bad ID BAD_USER_INPUT', async () => {
    const list = await ids(cast.viewer.token, { projectId: cast.home.id });
    expect(list).toContain(home);
    expect(list).not.toContain(other);
    expect(outcome(await server.gql(cast.viewer.token, LIST, { projectId: cast.other.id }))).toBe('NOT_FOUND');
    expect(
      outcome(await server.gql(cast.admin.token, LIST, { projectId: '00000000-0000-4000-8000-000000000000' })),
    ).toBe('NOT_FOUND');
    const bad = await server.gql(cast.viewer.token, LIST, { projectId: 'nope' });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'projectId' });
  });

  it('an admin-only asset shows project null', async () => {
    const res = await server.gql(cast.admin.token, LIST, { search: 'orphan.mxf' });
    expect(res.data.assets.edges.map((e: { node: unknown }) => e.node)).toEqual([
      { id: orphan, filename: 'orphan.mxf', project: null },
    ]);
  });

  it('search is a case-insensitive substring; % and _ are plain characters', async () => {
    const db = server.services.db;
    const mk = (filename: string) => db.asset.create({ data: { projectId: cast.home.id, filename, storageKey: 'k' } });
    const promo = await mk('Summer_PROMO 100%.mov');
    const decoy = await mk('summerXpromo 1000.mov');
    expect(await ids(cast.viewer.token, { search: 'er_pro' })).toEqual([promo.id]);
    expect(await ids(cast.viewer.token, { search: '100%' })).toEqual([promo.id]);
    expect(await ids(cast.viewer.token, { search: 'SUMMER' })).toEqual([decoy.id, promo.id]);
    expect(await ids(cast.viewer.token, { search: '%' })).toEqual([promo.id]);
    expect(await ids(cast.outsider.token, { search: 'summer' })).toEqual([]);
    const none = await server.gql(cast.viewer.token, LIST, { search: 'no such clip' });
    expect(none.data.assets).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it('first must be 1..500 (default 50); a malformed after is BAD_USER_INPUT naming after', async () => {
    for (const first of [0, -1, 501]) {
      const res = await server.gql(cast.viewer.token, LIST, { first });
      expect([first, res.errors?.[0]?.extensions]).toEqual([
        first,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'first' }),
      ]);
    }
    for (const after of ['', 'garbage', 'a2:1:2', Buffer.from('k1:abc:not-a-uuid').toString('base64url'), '!!!']) {
      const res = await server.gql(cast.viewer.token, LIST, { after });
      expect([after, res.errors?.[0]?.extensions]).toEqual([
        after,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'after' }),
      ]);
    }
    const db = server.services.db;
    await db.asset.createMany({
      data: Array.from({ length: 60 }, (_, i) => ({ projectId: cast.home.id, filename: `bulk-${i}`, storageKey: 'k' })),
    });
    const res = await server.gql(cast.viewer.token, `{ assets { edges { node { id } } pageInfo { hasNextPage } } }`);
    expect(res.data.assets.edges).toHaveLength(50);
    expect(res.data.assets.pageInfo.hasNextPage).toBe(true);
  });
});

describe('pagination', () => {
  it('pages newest first; rows inserted meanwhile neither skip nor repeat the rows that existed', async () => {
    const db = server.services.db;
    const project = await db.project.create({ data: { name: 'paging' } });
    // Groups of rows sharing a timestamp exercise the id tiebreak.
    const base = Date.UTC(2026, 0, 1);
    await db.asset.createMany({
      data: Array.from({ length: 23 }, (_, i) => ({
        projectId: project.id,
        filename: `p-${i}`,
        storageKey: 'k',
        createdAt: new Date(base + Math.floor(i / 4) * 1000),
      })),
    });
    const all = await db.asset.findMany({
      where: { projectId: project.id },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    });
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const res: any = await server.gql(cast.admin.token, LIST, { projectId: project.id, first: 4, after });
      expect(res.errors).toBeUndefined();
      seen.push(...res.data.assets.edges.map((e: { node: { id: string } }) => e.node.id));
      // Someone adds assets while we read.
      await server.gql(cast.admin.token, CREATE, { input: input({ projectId: project.id, filename: `new-${page}` }) });
      await db.asset.create({ data: { projectId: project.id, filename: `also-new-${page}`, storageKey: 'k' } });
      if (!res.data.assets.pageInfo.hasNextPage) break;
      after = res.data.assets.pageInfo.endCursor;
      expect(res.data.assets.edges.at(-1).cursor).toBe(after);
    }
    expect(seen).toEqual(all.map((a) => a.id));
  });

  it('a cursor from another query shape continues from the same place', async () => {
    const db = server.services.db;
    const project = await db.project.create({ data: { name: 'shapes' } });
    const base = Date.UTC(2025, 5, 1);
    await db.asset.createMany({
      data: Array.from({ length: 8 }, (_, i) => ({
        projectId: project.id,
        filename: i % 2 ? `odd-${i}` : `even-${i}`,
        storageKey: 'k',
        createdAt: new Date(base + i * 1000),
      })),
    });
    const all = await db.asset.findMany({
      where: { projectId: project.id },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    });
    const first = await server.gql(cast.admin.token, LIST, { projectId: project.id, search: 'odd', first: 1 });
    const cursor = first.data.assets.pageInfo.endCursor;
    const pivot = all.findIndex((a) => a.id === first.data.assets.edges[0].node.id);
    const rest = await ids(cast.admin.token, { projectId: project.id, after: cursor });
    expect(rest).toEqual(all.slice(pivot + 1).map((a) => a.id));
  });
});
