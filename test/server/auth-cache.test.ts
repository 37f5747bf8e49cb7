import { describe, expect, it } from 'vitest';
import { createActor, outcome, useTestServer } from '../helpers/server.ts';

// The principal cache: a token's repeat requests skip the authentication
// statement for AUTH_CACHE_MS; a change made through another replica (here:
// straight in the database) applies once that time is up.
// Long enough for five requests on a loaded machine.
const CACHE_MS = 1500;
const { server } = useTestServer({ AUTH_CACHE_MS: String(CACHE_MS) });

const authStatements = () => server.queries.filter((q) => /FROM api_tokens t/.test(q)).length;

describe('principal cache', () => {
  it('authenticates a repeated token once within the cache time', async () => {
    const { token } = await createActor(server.services, { isAdmin: true });
    const before = authStatements();
    for (let i = 0; i < 5; i++) expect(outcome(await server.gql(token, '{ me { id } }'))).toBe('OK');
    expect(authStatements() - before).toBe(1);
  });

  it('authenticates a token once for requests that arrive together', async () => {
    const { token } = await createActor(server.services, { isAdmin: true });
    const before = authStatements();
    const answers = await Promise.all(Array.from({ length: 10 }, () => server.gql(token, '{ me { id } }')));
    expect(answers.map(outcome)).toEqual(Array(10).fill('OK'));
    expect(authStatements() - before).toBe(1);
  });

  it('a revocation made elsewhere applies once the cache time is up', async () => {
    const actor = await createActor(server.services, {});
    expect(outcome(await server.gql(actor.token, '{ me { id } }'))).toBe('OK');
    await server.services.db.apiToken.update({ where: { id: actor.tokenId }, data: { revokedAt: new Date() } });
    await new Promise((r) => setTimeout(r, CACHE_MS + 50));
    expect(outcome(await server.gql(actor.token, '{ me { id } }'))).toBe('UNAUTHENTICATED');
  });

  it('a revocation made through this server applies at once', async () => {
    const actor = await createActor(server.services, {});
    const me = await server.gql(actor.token, '{ me { apiTokens { id } } }');
    const tokenId = me.data?.me.apiTokens[0].id;
    expect(outcome(await server.gql(actor.token, `mutation { revokeApiToken(id: "${tokenId}") { id } }`))).toBe('OK');
    expect(outcome(await server.gql(actor.token, '{ me { id } }'))).toBe('UNAUTHENTICATED');
  });
});
