import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publishChannelEvent } from '../../src/domain/channels/channel-events.ts';
import { EngineSnapshots, engineState } from '../../src/domain/channels/engine-status.ts';
import { insertChannel, uniq } from '../helpers/fixtures.ts';
import { startReplicas, type Replica, type Replicas } from '../helpers/replicas.ts';
import { createActor, createCast, type Cast } from '../helpers/server.ts';
import { connectWs, type Collected, type WsConnection } from '../helpers/ws.ts';
import { until } from '../helpers/until.ts';
import { setTimeout as sleep } from 'node:timers/promises';

// Two API servers on one database and one Redis: a mutation on A reaches
// WebSocket subscribers on B, filtered by each subscriber's rights as they are
// when the event is delivered.
const AUTH_CACHE_MS = 300;
let set: Replicas;
let a: Replica;
let b: Replica;
let cast: Cast;
const open: WsConnection[] = [];

beforeAll(async () => {
  set = await startReplicas(2, { AUTH_CACHE_MS: String(AUTH_CACHE_MS), SUBSCRIPTION_AUTH_CHECK_MS: '300' });
  [a, b] = set.replicas;
  cast = await createCast(a.services);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.dispose()));
});
afterAll(() => set?.close());

function onB(token: string) {
  const connection = connectWs(b.url, { authorization: `Bearer ${token}` });
  open.push(connection);
  return connection;
}

const EVENTS = `subscription { channelEvents { kind channelId message channel { id name } } }`;
const CREATE = `mutation ($name: String!, $project: ID) { createChannel(input: { name: $name, projectId: $project, output: { ndi: { name: "x" } } }) { id } }`;

/** Probes published through replica A until the subscriber on B shows one: from then on it listens. */
function listening(sub: Collected, projectId: string) {
  return sub.waitFor((r) => r.data?.channelEvents?.message === 'probe', {
    poke: () =>
      publishChannelEvent(a.services, {
        kind: 'HEARTBEAT_LOST',
        channelId: crypto.randomUUID(),
        projectId,
        message: 'probe',
      }),
  });
}
const names = (sub: Collected) =>
  sub.results
    .filter((r) => r.data?.channelEvents?.message !== 'probe')
    .map((r) => r.data?.channelEvents.channel?.name ?? null);

async function createChannel(token: string, projectId: string) {
  const name = `ch-${uniq()}`;
  const result = await a.gql(token, CREATE, { name, project: projectId });
  expect(result.errors).toBeUndefined();
  return name;
}

async function createChannelId(token: string, projectId: string): Promise<string> {
  const result = await a.gql(token, CREATE, { name: `ch-${uniq()}`, project: projectId });
  expect(result.errors).toBeUndefined();
  return result.data?.createChannel.id;
}

describe('fan-out between replicas', () => {
  it('a channel created on A reaches a viewer on B; a member of another project gets nothing of it', async () => {
    const viewer = onB(cast.viewer.token).subscribe(EVENTS);
    const outsider = onB(cast.outsider.token).subscribe(EVENTS);
    await Promise.all([listening(viewer, cast.home.id), listening(outsider, cast.other.id)]);

    const homeName = await createChannel(cast.editor.token, cast.home.id);
    await viewer.waitFor((r) => r.data?.channelEvents.channel?.name === homeName);
    // The positive control: the outsider's own project's event comes after the home one.
    const otherName = await createChannel(cast.outsider.token, cast.other.id);
    await outsider.waitFor((r) => r.data?.channelEvents.channel?.name === otherName);

    expect(names(viewer)).toEqual([homeName]);
    expect(names(outsider)).toEqual([otherName]);
    expect(viewer.results.find((r) => r.data?.channelEvents.channel?.name === homeName)?.data?.channelEvents.kind).toBe(
      'CREATED',
    );
  });

  it('channelEvents without channelId: a viewer of home sees home channels only', async () => {
    const viewer = onB(cast.viewer.token).subscribe(EVENTS);
    await listening(viewer, cast.home.id);
    const otherName = await createChannel(cast.admin.token, cast.other.id);
    const homeName = await createChannel(cast.admin.token, cast.home.id);
    await viewer.waitFor((r) => r.data?.channelEvents.channel?.name === homeName);
    expect(names(viewer)).toEqual([homeName]);
    expect(names(viewer)).not.toContain(otherName);
  });

  it('an update on A of a channel reaches its engineStatus and channelEvents subscribers on B', async () => {
    const channel = await insertChannel(a.services, cast.home.id);
    await new EngineSnapshots(a.services.redis, a.services.config.queuePrefix).save({
      ...engineState(channel.id, null),
      reachable: true,
      state: 'IDLE',
    });
    const connection = onB(cast.operator.token);
    const status = connection.subscribe(
      `subscription ($id: ID!) { engineStatus(channelId: $id) { reachable state } }`,
      { id: channel.id },
    );
    expect((await status.waitFor(() => true)).data?.engineStatus).toEqual({ reachable: true, state: 'IDLE' });
    const events = connection.subscribe(
      `subscription ($id: ID) { channelEvents(channelId: $id) { kind message channel { name } } }`,
      { id: channel.id },
    );
    await events.waitFor((r) => r.data?.channelEvents.message === 'probe', {
      poke: () =>
        publishChannelEvent(a.services, {
          kind: 'HEARTBEAT_LOST',
          channelId: channel.id,
          projectId: cast.home.id,
          message: 'probe',
        }),
    });
    const renamed = await a.gql(
      cast.editor.token,
      `mutation ($id: ID!) { updateChannel(id: $id, input: { name: "renamed on A" }) { id } }`,
      {
        id: channel.id,
      },
    );
    expect(renamed.errors).toBeUndefined();
    const event = await events.waitFor((r) => r.data?.channelEvents.kind === 'UPDATED');
    expect(event.data?.channelEvents.channel).toEqual({ name: 'renamed on A' });
  });
});

describe('rights change while subscribed', () => {
  it('revoking a token on A closes its connection on B within seconds (4403)', async () => {
    const actor = await createActor(a.services, { name: 'leaving', roles: { [cast.home.id]: 'VIEWER' } });
    const connection = onB(actor.token);
    const sub = connection.subscribe(EVENTS);
    await listening(sub, cast.home.id);
    const metric = async (name: string) =>
      (await b.services.metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
    const open = await metric('onair_websocket_connections');
    const revokedBefore = await metric('onair_websocket_revoked_total');
    expect(open).toBeGreaterThanOrEqual(1);

    const revoked = await a.gql(actor.token, `mutation ($id: ID!) { revokeApiToken(id: $id) { revokedAt } }`, {
      id: actor.tokenId,
    });
    expect(revoked.data?.revokeApiToken.revokedAt).toBeTruthy();
    expect(await connection.waitClosed(5000)).toBe(4403);
    expect(sub.ended).not.toBeNull();
    // B's /metrics tells the operators what happened.
    expect(await metric('onair_websocket_revoked_total')).toBe(revokedBefore + 1);
    // The server counts a connection out once the closing handshake ends, a moment later.
    await until(async () => (await metric('onair_websocket_connections')) <= open - 1, 'the connection counted out');
  });

  it('removing a membership on A stops that project’s events on B; the connection and other projects go on', async () => {
    const actor = await createActor(a.services, {
      name: 'two-projects',
      roles: { [cast.home.id]: 'VIEWER', [cast.other.id]: 'VIEWER' },
    });
    const connection = onB(actor.token);
    const sub = connection.subscribe(EVENTS);
    await Promise.all([listening(sub, cast.home.id), listening(sub, cast.other.id)]);

    const removed = await a.gql(
      cast.admin.token,
      `mutation ($p: ID!, $u: ID!) { setProjectRole(projectId: $p, userId: $u, role: null) { role } }`,
      {
        p: cast.home.id,
        u: actor.userId,
      },
    );
    expect(removed.errors).toBeUndefined();
    // B reuses the principal it cached for at most AUTH_CACHE_MS.
    await sleep(AUTH_CACHE_MS + 200);
    const homeId = await createChannelId(cast.editor.token, cast.home.id);
    const otherId = await createChannelId(cast.outsider.token, cast.other.id);
    await sub.waitFor((r) => r.data?.channelEvents.channelId === otherId);
    expect(sub.results.map((r) => r.data?.channelEvents.channelId)).not.toContain(homeId);
    expect(connection.closeCode).toBeNull();
  });
});

describe('shutdown', () => {
  it('closing a replica ends its WebSocket connections (1001, clients reconnect elsewhere) and does not wait for them', async () => {
    const connection = onB(cast.viewer.token);
    const sub = connection.subscribe(EVENTS);
    await listening(sub, cast.home.id);
    await b.app.close();
    expect(await connection.waitClosed()).toBe(1001);
    expect(b.app.websocket.server.clients.size).toBe(0);
  });
});
