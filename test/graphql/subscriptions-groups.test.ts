import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { publishChannelEvent } from '../../src/domain/channels/channel-events.ts';
import { insertChannel, uniq } from '../helpers/fixtures.ts';
import { createActor, useTestServer } from '../helpers/server.ts';
import { connectWs, type Collected, type WsConnection } from '../helpers/ws.ts';

// Subscribers of one stream with the same rights are served as a group: an
// event is checked once for all of them (graphql/subscription-delivery.ts),
// their principals re-read together ahead of expiry
// (graphql/subscription-principals.ts). What each subscriber gets must still be
// what its own rights allow at delivery. The connections' own re-check
// (SUBSCRIPTION_AUTH_CHECK_MS) is set far off, so that what is seen here is
// the delivery's doing.
const AUTH_CACHE_MS = 300;
const { server, cast } = useTestServer({
  AUTH_CACHE_MS: String(AUTH_CACHE_MS),
  SUBSCRIPTION_AUTH_CHECK_MS: '60000',
});
const open: WsConnection[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.dispose()));
});

function as(token: string) {
  const connection = connectWs(server.url, { authorization: `Bearer ${token}` });
  open.push(connection);
  return connection;
}

const EVENTS = `subscription { channelEvents { kind channelId message channel { id name node { hostname } } } }`;

function event(projectId: string | null, message: string, channelId: string = crypto.randomUUID()) {
  publishChannelEvent(server.services, { kind: 'STATUS_CHANGED', channelId, projectId, message });
}

/** Probes of the project published until the subscriber shows one: from then on it listens. */
function listening(sub: Collected, projectId: string | null) {
  const probe = `probe-${uniq()}`;
  return sub.waitFor((r) => r.data?.channelEvents?.message === probe, { poke: () => event(projectId, probe) });
}
const messages = (sub: Collected): string[] =>
  sub.results.map((r) => r.data?.channelEvents?.message).filter((m) => m && !m.startsWith('probe'));

/** Revoked or removed as another replica would do it: in the database only, this server is not told. */
const revokeElsewhere = (tokenId: string) =>
  server.services.sql.query('UPDATE api_tokens SET revoked_at = now() WHERE id = $1::uuid', [tokenId]);
const leaveElsewhere = (userId: string, projectId: string) =>
  server.services.sql.query('DELETE FROM memberships WHERE user_id = $1::uuid AND project_id = $2::uuid', [
    userId,
    projectId,
  ]);

/**
 * Events of the project, one every 20 ms for `ms`, each named with the time it
 * was published; then a last one that the control subscriber waits for.
 */
async function stream(projectId: string, ms: number, control: Collected) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    event(projectId, `at-${Date.now()}`);
    await sleep(20);
  }
  const last = `last-${uniq()}`;
  event(projectId, last);
  await control.waitFor((r) => r.data?.channelEvents?.message === last);
}
const publishedAt = (message: string) => Number(message.slice(3));

describe('rights per group', () => {
  it('subscribers of different rights on the same stream each get what their own rights allow', async () => {
    const node = await server.services.db.clusterNode.create({ data: { hostname: `groups-${uniq()}` } });
    const homeChannel = await insertChannel(server.services, cast.home.id, { nodeId: node.id });
    const otherChannel = await insertChannel(server.services, cast.other.id, { nodeId: node.id });
    const adminChannel = await insertChannel(server.services, null, { nodeId: node.id });
    const secondViewer = await createActor(server.services, { roles: { [cast.home.id]: 'VIEWER' } });
    const both = await createActor(server.services, { roles: { [cast.home.id]: 'VIEWER', [cast.other.id]: 'EDITOR' } });
    const subscribers = {
      viewer: as(cast.viewer.token).subscribe(EVENTS),
      secondViewer: as(secondViewer.token).subscribe(EVENTS),
      editor: as(cast.editor.token).subscribe(EVENTS),
      outsider: as(cast.outsider.token).subscribe(EVENTS),
      both: as(both.token).subscribe(EVENTS),
      admin: as(cast.admin.token).subscribe(EVENTS),
    };
    await Promise.all([
      ...[subscribers.viewer, subscribers.secondViewer, subscribers.editor, subscribers.both].map((s) =>
        listening(s, cast.home.id),
      ),
      listening(subscribers.outsider, cast.other.id),
      listening(subscribers.admin, null),
    ]);

    event(cast.home.id, 'home', homeChannel.id);
    event(cast.other.id, 'other', otherChannel.id);
    event(null, 'admin-only', adminChannel.id);
    event(cast.home.id, 'end-home');
    event(cast.other.id, 'end-other');
    const last = { viewer: 'end-home', secondViewer: 'end-home', editor: 'end-home' } as Record<string, string>;
    for (const [name, sub] of Object.entries(subscribers))
      await sub.waitFor((r) => r.data?.channelEvents?.message === (last[name] ?? 'end-other'));

    expect(Object.fromEntries(Object.entries(subscribers).map(([name, sub]) => [name, messages(sub)]))).toEqual({
      viewer: ['home', 'end-home'],
      secondViewer: ['home', 'end-home'],
      editor: ['home', 'end-home'],
      outsider: ['other', 'end-other'],
      both: ['home', 'other', 'end-home', 'end-other'],
      admin: ['home', 'other', 'admin-only', 'end-home', 'end-other'],
    });
    // The channel's node is for those who may place channels (editors, admins): each sees it as its rights say.
    const nodeOf = (sub: Collected, message: string) =>
      sub.results.find((r) => r.data?.channelEvents?.message === message)?.data?.channelEvents.channel;
    expect(nodeOf(subscribers.viewer, 'home')).toEqual({ id: homeChannel.id, name: homeChannel.name, node: null });
    expect(nodeOf(subscribers.secondViewer, 'home')?.node).toBeNull();
    expect(nodeOf(subscribers.editor, 'home')?.node).toEqual({ hostname: node.hostname });
    expect(nodeOf(subscribers.both, 'home')?.node).toEqual({ hostname: node.hostname });
    expect(nodeOf(subscribers.outsider, 'other')?.node).toEqual({ hostname: node.hostname });
    expect(nodeOf(subscribers.admin, 'admin-only')).toEqual({
      id: adminChannel.id,
      name: adminChannel.name,
      node: { hostname: node.hostname },
    });
  });

  it("many subscribers of two projects: none gets the other project's events", async () => {
    const viewers = await Promise.all(
      [cast.home.id, cast.home.id, cast.home.id, cast.other.id, cast.other.id, cast.other.id].map((projectId) =>
        createActor(server.services, { roles: { [projectId]: 'VIEWER' } }).then((actor) => ({ projectId, actor })),
      ),
    );
    const subs = viewers.map(({ projectId, actor }) => ({ projectId, sub: as(actor.token).subscribe(EVENTS) }));
    await Promise.all(subs.map(({ projectId, sub }) => listening(sub, projectId)));
    for (let i = 0; i < 20; i++) event(i % 2 ? cast.other.id : cast.home.id, `${i % 2 ? 'other' : 'home'}-${i}`);
    event(cast.home.id, 'end');
    event(cast.other.id, 'end');
    for (const { projectId, sub } of subs) {
      await sub.waitFor((r) => r.data?.channelEvents?.message === 'end');
      const mine = projectId === cast.home.id ? 'home' : 'other';
      const expected = [...Array(20).keys()]
        .filter((i) => (i % 2 ? 'other' : 'home') === mine)
        .map((i) => `${mine}-${i}`);
      expect(messages(sub)).toEqual([...expected, 'end']);
    }
  });
});

describe('principals', () => {
  it('are re-read together while events flow: one statement per re-read, none per event or subscriber', async () => {
    const viewers = await Promise.all(
      Array.from({ length: 10 }, () => createActor(server.services, { roles: { [cast.home.id]: 'VIEWER' } })),
    );
    const subs = viewers.map((actor) => as(actor.token).subscribe(EVENTS));
    await Promise.all(subs.map((sub) => listening(sub, cast.home.id)));
    const authStatements = () => server.queries.filter((q) => /FROM api_tokens t/.test(q)).length;
    const before = authStatements();
    const started = Date.now();
    for (let i = 0; i < 40; i++) {
      event(cast.home.id, `n-${i}`);
      await sleep(30);
    }
    event(cast.home.id, 'end');
    for (const sub of subs) await sub.waitFor((r) => r.data?.channelEvents?.message === 'end');
    const elapsed = Date.now() - started;
    for (const sub of subs) expect(messages(sub).filter((m) => m.startsWith('n-'))).toHaveLength(40);
    // Re-read while events flow (the revocation tests below hold the bound), all ten together each
    // time: a read at most every half of AUTH_CACHE_MS, whatever the number of events and subscribers.
    const statements = authStatements() - before;
    expect(statements).toBeGreaterThanOrEqual(1);
    expect(statements).toBeLessThanOrEqual(Math.ceil(elapsed / (AUTH_CACHE_MS / 2)) + 1);
  });
});

describe('rights that change while subscribed', () => {
  it('a token revoked elsewhere gets nothing published once the cache time is up; its group goes on', async () => {
    const leaving = await createActor(server.services, { roles: { [cast.home.id]: 'VIEWER' } });
    const staying = await createActor(server.services, { roles: { [cast.home.id]: 'VIEWER' } });
    const gone = as(leaving.token).subscribe(EVENTS);
    const control = as(staying.token).subscribe(EVENTS);
    await Promise.all([listening(gone, cast.home.id), listening(control, cast.home.id)]);

    const revokedAt = Date.now();
    await revokeElsewhere(leaving.tokenId);
    await stream(cast.home.id, AUTH_CACHE_MS * 3, control);

    const late = messages(gone).filter((m) => m.startsWith('at-') && publishedAt(m) >= revokedAt + AUTH_CACHE_MS);
    expect(late).toEqual([]);
    expect(gone.ended).not.toBeNull();
    // The others of its group got every event.
    expect(messages(control).filter((m) => m.startsWith('at-')).length).toBeGreaterThan(
      messages(gone).filter((m) => m.startsWith('at-')).length,
    );
  });

  it('a token revoked through this server gets nothing published after the revocation', async () => {
    const leaving = await createActor(server.services, { roles: { [cast.home.id]: 'VIEWER' } });
    const gone = as(leaving.token).subscribe(EVENTS);
    const control = as(cast.viewer.token).subscribe(EVENTS);
    await Promise.all([listening(gone, cast.home.id), listening(control, cast.home.id)]);

    const revoked = await server.gql(leaving.token, `mutation ($id: ID!) { revokeApiToken(id: $id) { revokedAt } }`, {
      id: leaving.tokenId,
    });
    expect(revoked.errors).toBeUndefined();
    event(cast.home.id, 'after');
    await control.waitFor((r) => r.data?.channelEvents?.message === 'after');
    await gone.waitEnded();
    expect(messages(gone)).not.toContain('after');
  });

  it("a member removed from a project elsewhere stops getting that project's events, and keeps the others'", async () => {
    const member = await createActor(server.services, {
      roles: { [cast.home.id]: 'VIEWER', [cast.other.id]: 'VIEWER' },
    });
    const connection = as(member.token);
    const sub = connection.subscribe(EVENTS);
    const control = as(cast.viewer.token).subscribe(EVENTS);
    await Promise.all([listening(sub, cast.home.id), listening(sub, cast.other.id), listening(control, cast.home.id)]);

    const removedAt = Date.now();
    await leaveElsewhere(member.userId, cast.home.id);
    await stream(cast.home.id, AUTH_CACHE_MS * 3, control);
    event(cast.other.id, 'still other');
    await sub.waitFor((r) => r.data?.channelEvents?.message === 'still other');

    const late = messages(sub).filter((m) => m.startsWith('at-') && publishedAt(m) >= removedAt + AUTH_CACHE_MS);
    expect(late).toEqual([]);
    expect(sub.ended).toBeNull();
    expect(connection.closeCode).toBeNull();
  });

  it('a member given a role here changes groups at once, without losing or repeating an event', async () => {
    const member = await createActor(server.services, { roles: { [cast.other.id]: 'VIEWER' } });
    const sub = as(member.token).subscribe(EVENTS);
    const control = as(cast.outsider.token).subscribe(EVENTS);
    await Promise.all([listening(sub, cast.other.id), listening(control, cast.other.id)]);

    // Events of the other project all along; the role is given (and this server's principals forgotten) midway.
    let i = 0;
    const publishing = (async () => {
      for (; i < 60; i++) {
        event(cast.other.id, `o-${i}`);
        await sleep(5);
      }
    })();
    while (i < 20) await sleep(5);
    const given = await server.gql(
      cast.admin.token,
      `mutation ($p: ID!, $u: ID!) { setProjectRole(projectId: $p, userId: $u, role: VIEWER) { role } }`,
      { p: cast.home.id, u: member.userId },
    );
    expect(given.errors).toBeUndefined();
    event(cast.home.id, 'home now');
    await publishing;
    event(cast.other.id, 'end');
    await Promise.all([sub, control].map((s) => s.waitFor((r) => r.data?.channelEvents?.message === 'end')));

    const others = (s: Collected) => messages(s).filter((m) => m.startsWith('o-'));
    expect(others(sub)).toEqual(others(control));
    expect(others(sub)).toHaveLength(60);
    expect(messages(sub)).toContain('home now');
  });

  it("a member added to a project elsewhere gets that project's events within the cache time", async () => {
    const member = await createActor(server.services, { roles: { [cast.other.id]: 'VIEWER' } });
    const sub = as(member.token).subscribe(EVENTS);
    await listening(sub, cast.other.id);
    event(cast.home.id, 'before');
    await server.services.db.membership.create({
      data: { userId: member.userId, projectId: cast.home.id, role: 'VIEWER' },
    });
    // Its principal is re-read within the cache time: it moves to the group of its new rights.
    await listening(sub, cast.home.id);
    expect(messages(sub)).not.toContain('before');
  });
});
