import { describe, expect, it } from 'vitest';
import { ACTORS, outcome, tokenOf, useTestServer } from '../helpers/server.ts';

const { server, cast } = useTestServer();

describe('authentication', () => {
  it('answers me for a valid token and UNAUTHENTICATED for none, a bad or a revoked one', async () => {
    const me = await server.gql(cast.viewer.token, '{ me { id name isAdmin memberships { role project { id } } } }');
    expect(me.data?.me).toEqual({
      id: cast.viewer.userId,
      name: 'viewer',
      isAdmin: false,
      memberships: [{ role: 'VIEWER', project: { id: cast.home.id } }],
    });
    for (const token of [null, 'not-a-token', cast.revoked.token]) {
      expect(outcome(await server.gql(token, '{ me { id } }'))).toBe('UNAUTHENTICATED');
    }
  });

  it('records token use in lastUsedAt, batched rather than per request', async () => {
    const before = server.queries.length;
    for (let i = 0; i < 5; i++) await server.gql(cast.editor.token, '{ me { id } }');
    const writes = server.queries.slice(before).filter((q) => /UPDATE\s+api_tokens/i.test(q));
    expect(writes.length).toBeLessThanOrEqual(1);
    await server.app.tokenUsage.flush();
    const res = await server.gql(cast.editor.token, '{ me { apiTokens { lastUsedAt } } }');
    expect(res.data?.me.apiTokens[0].lastUsedAt).not.toBeNull();
  });

  it('a flush that finds nothing pending still waits for the write under way', async () => {
    const { tokenId } = cast.operator; // not used before in this file, so not written within the interval
    await server.services.db.$executeRaw`UPDATE api_tokens SET last_used_at = NULL WHERE id = ${tokenId}::uuid`;
    server.app.tokenUsage.touch(tokenId);
    const first = server.app.tokenUsage.flush(); // the interval's flush, as it were: its UPDATE is under way
    await server.app.tokenUsage.flush();
    const [row] = await server.services.db.$queryRaw<{ last_used_at: Date | null }[]>`
      SELECT last_used_at FROM api_tokens WHERE id = ${tokenId}::uuid`;
    expect(row.last_used_at).not.toBeNull();
    await first;
  });
});

describe('admin-only mutations', () => {
  const mutations = {
    createProject: `mutation { createProject(name: "p-NAME") { id } }`,
    createUser: `mutation { createUser(name: "someone") { id } }`,
    registerNode: `mutation { registerNode(input: { hostname: "node-NAME" }) { id } }`,
  };
  for (const [name, doc] of Object.entries(mutations)) {
    it(`${name}: admin OK, members FORBIDDEN, no or revoked token UNAUTHENTICATED`, async () => {
      const expected: Record<string, string> = {
        admin: 'OK',
        editor: 'FORBIDDEN',
        operator: 'FORBIDDEN',
        viewer: 'FORBIDDEN',
        outsider: 'FORBIDDEN',
        revoked: 'UNAUTHENTICATED',
        anonymous: 'UNAUTHENTICATED',
      };
      for (const actor of ACTORS) {
        const res = await server.gql(
          tokenOf(cast, actor),
          doc.replace('NAME', `${actor}-${Math.random().toString(36).slice(2, 8)}`),
        );
        expect([actor, outcome(res)]).toEqual([actor, expected[actor]]);
      }
    });
  }
});

describe('projects and roles', () => {
  it('lists only the projects a member belongs to; all for an admin', async () => {
    const viewer = await server.gql(cast.viewer.token, '{ projects { id } }');
    expect(viewer.data?.projects).toEqual([{ id: cast.home.id }]);
    const admin = await server.gql(cast.admin.token, '{ projects { id } }');
    expect(admin.data?.projects.map((p: { id: string }) => p.id)).toEqual(
      expect.arrayContaining([cast.home.id, cast.other.id]),
    );
  });

  it('sets, changes and removes a role; the new role applies to the next request', async () => {
    const user = await server.gql(
      cast.admin.token,
      'mutation { createUser(name: "newcomer", email: "n@example.com") { id } }',
    );
    const userId = user.data?.createUser.id;
    const token = await server.gql(
      cast.admin.token,
      `mutation { createApiToken(userId: "${userId}", name: "t") { token apiToken { id name revokedAt } } }`,
    );
    const secret = token.data?.createApiToken.token;
    expect(secret).toMatch(/^onair_/);
    expect((await server.gql(secret, '{ projects { id } }')).data?.projects).toEqual([]);

    const set = `mutation($role: Role) { setProjectRole(projectId: "${cast.home.id}", userId: "${userId}", role: $role) { role project { id } } }`;
    expect((await server.gql(cast.admin.token, set, { role: 'OPERATOR' })).data?.setProjectRole).toEqual({
      role: 'OPERATOR',
      project: { id: cast.home.id },
    });
    expect((await server.gql(secret, '{ projects { id } }')).data?.projects).toEqual([{ id: cast.home.id }]);
    expect((await server.gql(cast.admin.token, set, { role: null })).data?.setProjectRole).toBeNull();
    expect((await server.gql(secret, '{ projects { id } }')).data?.projects).toEqual([]);
  });

  it('rejects duplicate names and emails, bad IDs and unknown enum values as BAD_USER_INPUT', async () => {
    const dup = await server.gql(cast.admin.token, `mutation { createProject(name: "${cast.home.name}") { id } }`);
    expect(dup.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'name' } });
    await server.gql(cast.admin.token, 'mutation { createUser(name: "a", email: "same@example.com") { id } }');
    const dupEmail = await server.gql(
      cast.admin.token,
      'mutation { createUser(name: "b", email: "same@example.com") { id } }',
    );
    expect(dupEmail.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'email' });
    const badId = await server.gql(
      cast.admin.token,
      `mutation { setProjectRole(projectId: "nope", userId: "${cast.viewer.userId}", role: VIEWER) { role } }`,
    );
    expect(badId.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'projectId' });
    const badEnum = await server.gql(
      cast.admin.token,
      `mutation($r: Role) { setProjectRole(projectId: "${cast.home.id}", userId: "${cast.viewer.userId}", role: $r) { role } }`,
      { r: 'BOSS' },
    );
    expect(outcome(badEnum)).toBe('BAD_USER_INPUT');
    const empty = await server.gql(cast.admin.token, 'mutation { createUser(name: "   ") { id } }');
    expect(empty.errors?.[0]).toMatchObject({
      message: 'name: must not be empty',
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });
});

describe('API tokens', () => {
  it("a user creates and revokes its own tokens; another user's are NOT_FOUND", async () => {
    const created = await server.gql(
      cast.operator.token,
      `mutation { createApiToken(userId: "${cast.operator.userId}", name: "ci") { token apiToken { id } } }`,
    );
    const { token, apiToken } = created.data.createApiToken;
    expect((await server.gql(token, '{ me { id } }')).data?.me.id).toBe(cast.operator.userId);

    const foreign = await server.gql(
      cast.operator.token,
      `mutation { createApiToken(userId: "${cast.viewer.userId}", name: "x") { token } }`,
    );
    expect(outcome(foreign)).toBe('NOT_FOUND');
    const foreignRevoke = await server.gql(
      cast.viewer.token,
      `mutation { revokeApiToken(id: "${apiToken.id}") { id } }`,
    );
    expect(outcome(foreignRevoke)).toBe('NOT_FOUND');

    const revoked = await server.gql(
      cast.operator.token,
      `mutation { revokeApiToken(id: "${apiToken.id}") { id revokedAt } }`,
    );
    expect(revoked.data?.revokeApiToken.revokedAt).not.toBeNull();
    expect(outcome(await server.gql(token, '{ me { id } }'))).toBe('UNAUTHENTICATED');
  });
});
