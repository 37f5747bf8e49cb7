import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PrincipalCache } from '../../src/auth/principal-cache.ts';
import { publishChannelEvent } from '../../src/domain/channels/channel-events.ts';
import { currentPrincipal } from '../../src/graphql/subscription-principals.ts';
import { EngineSnapshots, engineState, toWire, type EngineState } from '../../src/domain/channels/engine-status.ts';
import { setAssetMedia } from '../../src/domain/media/staging/media.ts';
import type { AsRunMessage } from '../../src/services/pubsub.ts';
import { insertChannel, uniq } from '../helpers/fixtures.ts';
import { createActor, useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { connectWs, type Collected, type WsConnection } from '../helpers/ws.ts';

// Subscriptions over WebSocket on one server; test/graphql/subscriptions-replicas.test.ts
// covers fan-out between replicas and revocation. Events the worker publishes
// (engine status, as-run) are published here straight on the event bus.
const { server, cast } = useTestServer({ AUTH_CACHE_MS: '200', SUBSCRIPTION_AUTH_CHECK_MS: '200' });
const open: WsConnection[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.dispose()));
});

function connect(params: Record<string, unknown> | undefined) {
  const connection = connectWs(server.url, params);
  open.push(connection);
  return connection;
}
const as = (token: string) => connect({ authorization: `Bearer ${token}` });

const ENGINE = `subscription ($id: ID!) { engineStatus(channelId: $id) { channelId reachable state loop current { clipName positionMs } updatedAt } }`;
const EVENTS = `subscription ($id: ID) { channelEvents(channelId: $id) { kind channelId message at channel { id name } } }`;

function publishState(state: EngineState, projectId: string | null) {
  server.services.pubsub.publish('engineStatus', state.channelId, { projectId, status: toWire(state) });
}

function playing(channelId: string, clipName: string, at = new Date()): EngineState {
  return {
    ...engineState(channelId, null, at),
    reachable: true,
    state: 'PLAYING',
    loop: false,
    current: { itemId: crypto.randomUUID(), clipName, startedAt: at, positionMs: 0, durationMs: 10_000 },
  };
}

/** Publishes a probe event the subscriber may see until it shows one: from then on it listens. */
function listening(sub: Collected, projectId: string | null) {
  return sub.waitFor((r) => r.data?.channelEvents?.message === 'probe', {
    poke: () =>
      publishChannelEvent(server.services, {
        kind: 'HEARTBEAT_LOST',
        channelId: crypto.randomUUID(),
        projectId,
        message: 'probe',
      }),
  });
}
const real = (sub: Collected) => sub.results.filter((r) => r.data?.channelEvents?.message !== 'probe');

describe('connection', () => {
  it.each([
    ['no connectionParams', undefined],
    ['no token', {}],
    ['an unknown token', { authorization: 'Bearer not-a-token' }],
    ['a malformed header', { authorization: 'Token abc' }],
  ])('is refused with 4401 for %s', async (_what, params) => {
    const connection = connect(params);
    connection.subscribe(ENGINE, { id: crypto.randomUUID() });
    expect(await connection.waitClosed()).toBe(4401);
  });

  it('is refused with 4401 for a revoked token', async () => {
    const connection = as(cast.revoked.token);
    expect(await connection.waitClosed()).toBe(4401);
  });

  it('upgrades /graphql only', async () => {
    const socket = new WebSocket(
      server.url.replace(/^http/, 'ws').replace('/graphql', '/healthz'),
      'graphql-transport-ws',
    );
    const refused = await new Promise<string>((resolve) => socket.on('error', (err) => resolve(err.message)));
    expect(refused).toMatch(/404/);
  });

  it('accepts { token } as well as { authorization }', async () => {
    const channel = await insertChannel(server.services, cast.home.id);
    const sub = connect({ token: cast.viewer.token }).subscribe(ENGINE, { id: channel.id });
    const first = await sub.waitFor(() => true);
    expect(first.data?.engineStatus).toMatchObject({ channelId: channel.id, reachable: false });
  });

  it('counts its open operations on /metrics, and counts out one completed or of a closed connection', async () => {
    const openOperations = async () =>
      Number(
        /^onair_websocket_operations (\d+)$/m.exec(await (await fetch(new URL('/metrics', server.url))).text())?.[1],
      );
    // The earlier tests' connections were disposed (afterEach): the server counts them out as it sees them close.
    await until(async () => (await openOperations()) === 0, "the earlier tests' operations counted out");
    const [one, two] = await Promise.all([
      insertChannel(server.services, cast.home.id),
      insertChannel(server.services, cast.home.id),
    ]);
    const connection = as(cast.viewer.token);
    const first = connection.subscribe(ENGINE, { id: one.id });
    const second = connection.subscribe(ENGINE, { id: two.id });
    await Promise.all([first.waitFor(() => true), second.waitFor(() => true)]);
    expect(await openOperations()).toBe(2);
    first.stop();
    await until(async () => (await openOperations()) === 1, 'the completed subscription counted out');
    await connection.dispose();
    await until(async () => (await openOperations()) === 0, "the closed connection's subscription counted out");
  });

  it('also serves subscriptions over server-sent events on POST /graphql (GraphiQL), with the Authorization header', async () => {
    const channel = await insertChannel(server.services, cast.home.id);
    const abort = new AbortController();
    const response = await fetch(server.url, {
      method: 'POST',
      signal: abort.signal,
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${cast.viewer.token}`,
      },
      body: JSON.stringify({ query: ENGINE, variables: { id: channel.id } }),
    });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('"reachable"')) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    expect(text).toContain(`"channelId":"${channel.id}","reachable":false`);
  });

  it('answers queries too, and gives parse and validation errors their codes', async () => {
    const connection = as(cast.viewer.token);
    const me = connection.subscribe('{ me { id } }');
    expect((await me.waitFor(() => true)).data?.me.id).toBe(cast.viewer.userId);
    const broken = connection.subscribe('subscription { engineStatus(');
    const bad = connection.subscribe('subscription { engineStatus(channelId: "x") { nope } }');
    for (const sub of [broken, bad]) await sub.waitEnded();
    expect((broken.ended!.error as { extensions?: { code?: string } }[])[0].extensions?.code).toBe(
      'GRAPHQL_PARSE_FAILED',
    );
    expect((bad.ended!.error as { extensions?: { code?: string } }[])[0].extensions?.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
    // The connection survives both.
    expect(connection.closeCode).toBeNull();
  });
});

describe('rights at delivery', () => {
  it('resolves the subscribers that miss the principal cache together, in one statement', async () => {
    const principals = new PrincipalCache(60_000);
    const services = { sql: server.services.sql, principals };
    const authStatements = () => server.queries.filter((q) => /FROM api_tokens t/.test(q)).length;
    const before = authStatements();
    const bearer = (token: string) => `Bearer ${token}`;
    const asked = [cast.viewer.token, cast.editor.token, cast.outsider.token, cast.revoked.token, 'unknown'].map((t) =>
      currentPrincipal(services, bearer(t)),
    );
    const [viewer, editor, outsider, revoked, unknown, malformed] = await Promise.all([
      ...asked,
      currentPrincipal(services, 'Token malformed'),
    ]);
    expect(authStatements() - before).toBe(1);
    expect([viewer?.userId, editor?.userId, outsider?.userId]).toEqual([
      cast.viewer.userId,
      cast.editor.userId,
      cast.outsider.userId,
    ]);
    expect(viewer?.roles.get(cast.home.id)).toBe('VIEWER');
    expect([revoked, unknown, malformed]).toEqual([null, null, null]);
    // Cached now: no statement at all.
    await currentPrincipal(services, bearer(cast.viewer.token));
    expect(authStatements() - before).toBe(1);
  });
});

describe('engineStatus', () => {
  it('sends the snapshot first, then every change of that channel only', async () => {
    const channel = await insertChannel(server.services, cast.home.id);
    const other = await insertChannel(server.services, cast.home.id);
    const snapshots = new EngineSnapshots(server.services.redis, server.services.config.queuePrefix);
    await snapshots.save(playing(channel.id, 'opener', new Date(Date.now() - 1000)));

    const sub = as(cast.viewer.token).subscribe(ENGINE, { id: channel.id });
    const first = await sub.waitFor(() => true);
    expect(first.data?.engineStatus).toMatchObject({
      reachable: true,
      state: 'PLAYING',
      current: { clipName: 'opener' },
    });

    // Published until seen: the subscriber listens from then on.
    await sub.waitFor((r) => r.data?.engineStatus.current?.clipName === 'second', {
      poke: () => publishState(playing(channel.id, 'second'), cast.home.id),
    });
    publishState(playing(other.id, 'elsewhere'), cast.home.id);
    publishState({ ...playing(channel.id, 'third'), state: 'PAUSED' }, cast.home.id);
    await sub.waitFor((r) => r.data?.engineStatus.current?.clipName === 'third');
    const clips = sub.results.map((r) => r.data?.engineStatus.current?.clipName);
    expect(clips[0]).toBe('opener');
    expect(clips).not.toContain('elsewhere');
    expect(clips.at(-1)).toBe('third');
    expect(sub.results.at(-1)?.data?.engineStatus.state).toBe('PAUSED');
  });

  it('without a snapshot, first sends an unreachable state and never asks the sidecar', async () => {
    const channel = await insertChannel(server.services, cast.home.id, {
      status: 'RUNNING',
      sidecarUrl: 'http://127.0.0.1:9/',
      sidecarSecret: 'x',
    });
    const sub = as(cast.viewer.token).subscribe(ENGINE, { id: channel.id });
    const first = await sub.waitFor(() => true);
    expect(first.data?.engineStatus).toMatchObject({
      channelId: channel.id,
      reachable: false,
      state: null,
      current: null,
    });
  });

  it('drops an event of another project published under the channel (rights are checked per event)', async () => {
    const channel = await insertChannel(server.services, cast.home.id);
    const sub = as(cast.viewer.token).subscribe(ENGINE, { id: channel.id });
    await sub.waitFor((r) => r.data?.engineStatus.current?.clipName === 'seen', {
      poke: () => publishState(playing(channel.id, 'seen'), cast.home.id),
    });
    publishState(playing(channel.id, 'moved away'), cast.other.id);
    publishState(playing(channel.id, 'control'), cast.home.id);
    await sub.waitFor((r) => r.data?.engineStatus.current?.clipName === 'control');
    expect(sub.results.map((r) => r.data?.engineStatus.current?.clipName)).not.toContain('moved away');
  });

  it.each([
    ['a channel of another project', 'outsider', 'NOT_FOUND'],
    ['a malformed id', 'viewer', 'BAD_USER_INPUT'],
    ['a deleted channel', 'admin', 'NOT_FOUND'],
  ] as const)('refuses %s', async (what, actor, code) => {
    const channel = await insertChannel(
      server.services,
      cast.home.id,
      what === 'a deleted channel' ? { deletedAt: new Date() } : {},
    );
    const sub = as(cast[actor].token).subscribe(ENGINE, { id: what === 'a malformed id' ? 'nope' : channel.id });
    await sub.waitEnded();
    expect(sub.results[0]?.errors?.[0]?.extensions?.code).toBe(code);
  });
});

describe('Channel.engine within a subscription', () => {
  it('answers from the snapshot, as of now, and never asks the sidecar', async () => {
    const asked: string[] = [];
    const sidecar = (await import('node:http')).createServer((req, res) => {
      asked.push(req.url ?? '');
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => sidecar.listen(0, '127.0.0.1', resolve));
    try {
      const port = (sidecar.address() as import('node:net').AddressInfo).port;
      const channel = await insertChannel(server.services, cast.home.id, {
        status: 'RUNNING',
        sidecarUrl: `http://127.0.0.1:${port}`,
        sidecarSecret: 'x',
      });
      const snapshots = new EngineSnapshots(server.services.redis, server.services.config.queuePrefix);
      await snapshots.save(playing(channel.id, 'live', new Date(Date.now() - 2000)));
      const sub = as(cast.viewer.token).subscribe(
        `subscription ($id: ID) { channelEvents(channelId: $id) { kind message channel { engine { reachable state current { clipName positionMs } } } } }`,
        { id: channel.id },
      );
      const event = await sub.waitFor((r) => r.data?.channelEvents?.message === 'engine?', {
        poke: () =>
          publishChannelEvent(server.services, {
            kind: 'UPDATED',
            channelId: channel.id,
            projectId: cast.home.id,
            message: 'engine?',
          }),
      });
      const engine = event.data?.channelEvents.channel.engine;
      expect(engine).toMatchObject({ reachable: true, state: 'PLAYING', current: { clipName: 'live' } });
      // Taken 2 s before: the position has moved on with the clock since.
      expect(engine.current.positionMs).toBeGreaterThanOrEqual(2000);
      expect(engine.current.positionMs).toBeLessThanOrEqual(10_000);
      expect(asked).toEqual([]);
    } finally {
      await new Promise((resolve) => sidecar.close(resolve));
    }
  });
});

describe('channelEvents', () => {
  const CREATE = `mutation ($name: String!, $project: ID) { createChannel(input: { name: $name, projectId: $project, output: { ndi: { name: "x" } } }) { id } }`;

  it('tells CREATED, UPDATED and DELETED from the mutations, after they committed', async () => {
    const sub = as(cast.viewer.token).subscribe(EVENTS, {});
    await listening(sub, cast.home.id);
    const name = `news-${uniq()}`;
    const created = await server.gql(cast.editor.token, CREATE, { name, project: cast.home.id });
    const id = created.data?.createChannel.id as string;
    // An event's channel is read when it is delivered: each is awaited before the next change,
    // or a busy machine could deliver CREATED after the delete (null then, as documented).
    await sub.waitFor((r) => r.data?.channelEvents.kind === 'CREATED');
    await server.gql(
      cast.editor.token,
      `mutation ($id: ID!) { updateChannel(id: $id, input: { name: "renamed" }) { id } }`,
      { id },
    );
    await sub.waitFor((r) => r.data?.channelEvents.kind === 'UPDATED');
    await server.gql(cast.editor.token, `mutation ($id: ID!) { deleteChannel(id: $id) }`, { id });
    await sub.waitFor((r) => r.data?.channelEvents.kind === 'DELETED');
    const events = real(sub).map((r) => r.data?.channelEvents);
    expect(events.map((e) => [e.kind, e.channelId, e.channel?.name ?? null])).toEqual([
      ['CREATED', id, expect.any(String)],
      ['UPDATED', id, expect.any(String)],
      ['DELETED', id, null],
    ]);
    expect(Number.isNaN(Date.parse(events[0].at))).toBe(false);
  });

  it("executes an event once per group of subscribers with the same document and rights, each group's own way", async () => {
    const channel = await insertChannel(server.services, cast.home.id);
    const viewers = [
      cast.viewer,
      ...(await Promise.all([1, 2].map(() => createActor(server.services, { roles: { [cast.home.id]: 'VIEWER' } })))),
    ];
    const subs = [...viewers, cast.admin].map((actor) => as(actor.token).subscribe(EVENTS, { id: channel.id }));
    const event = (message: string) =>
      publishChannelEvent(server.services, {
        kind: 'STATUS_CHANGED',
        channelId: channel.id,
        projectId: cast.home.id,
        message,
      });
    for (const sub of subs)
      await sub.waitFor((r) => r.data?.channelEvents.message === 'probe', { poke: () => event('probe') });
    await new Promise((r) => setTimeout(r, 300));
    const channelReads = () => server.queries.filter((q) => /FROM "public"\."channels"/.test(q)).length;
    const before = channelReads();
    event('counted');
    for (const sub of subs) {
      const got = await sub.waitFor((r) => r.data?.channelEvents.message === 'counted');
      expect(got.data?.channelEvents.channel).toEqual({ id: channel.id, name: channel.name });
    }
    // The three viewers of home share one execution (one read of the channel); the admin has its own.
    expect(channelReads() - before).toBe(2);
  });

  it('with channelId, only that channel; NOT_FOUND for a channel the caller cannot see', async () => {
    const mine = await insertChannel(server.services, cast.home.id);
    const sibling = await insertChannel(server.services, cast.home.id);
    const sub = as(cast.viewer.token).subscribe(EVENTS, { id: mine.id });
    await sub.waitFor((r) => r.data?.channelEvents.message === 'probe', {
      poke: () =>
        publishChannelEvent(server.services, {
          kind: 'HEARTBEAT_LOST',
          channelId: mine.id,
          projectId: cast.home.id,
          message: 'probe',
        }),
    });
    publishChannelEvent(server.services, { kind: 'FAILOVER', channelId: sibling.id, projectId: cast.home.id });
    publishChannelEvent(server.services, {
      kind: 'STATUS_CHANGED',
      channelId: mine.id,
      projectId: cast.home.id,
      message: 'RUNNING',
    });
    await sub.waitFor((r) => r.data?.channelEvents.kind === 'STATUS_CHANGED');
    expect(real(sub).map((r) => r.data?.channelEvents.channelId)).toEqual([mine.id]);

    const refused = as(cast.outsider.token).subscribe(EVENTS, { id: mine.id });
    await refused.waitEnded();
    expect(refused.results[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it("a channel moved to another project: its former project's members hear it left, without the channel", async () => {
    const channel = await insertChannel(server.services, cast.home.id);
    const viewer = as(cast.viewer.token).subscribe(EVENTS, { id: channel.id });
    await viewer.waitFor((r) => r.data?.channelEvents.message === 'probe', {
      poke: () =>
        publishChannelEvent(server.services, {
          kind: 'HEARTBEAT_LOST',
          channelId: channel.id,
          projectId: cast.home.id,
          message: 'probe',
        }),
    });
    // A member of the project it moves to, listening to every channel it may see.
    const newcomer = as(cast.outsider.token).subscribe(EVENTS, {});
    await listening(newcomer, cast.other.id);
    const moved = await server.gql(
      cast.admin.token,
      `mutation ($id: ID!, $p: ID) { updateChannel(id: $id, input: { projectId: $p }) { id } }`,
      {
        id: channel.id,
        p: cast.other.id,
      },
    );
    expect(moved.errors).toBeUndefined();
    const event = await viewer.waitFor((r) => r.data?.channelEvents.kind === 'UPDATED');
    expect(event.data?.channelEvents).toMatchObject({
      channelId: channel.id,
      channel: null,
      message: 'moved to another project',
    });
    const arrived = await newcomer.waitFor(
      (r) => r.data?.channelEvents.kind === 'UPDATED' && r.data.channelEvents.channelId === channel.id,
    );
    expect(arrived.data?.channelEvents.channel).toEqual({ id: channel.id, name: channel.name });
  });
});

describe('asRun', () => {
  const AS_RUN = `subscription ($id: ID) { asRun(channelId: $id) { id clipName status startedAt endedAt durationMs channel { id name } } }`;

  async function recordEntry(channelId: string, projectId: string | null, clipName: string, ended: boolean) {
    const startedAt = new Date();
    const endedAt = ended ? new Date(startedAt.getTime() + 5000) : null;
    const row = await server.services.db.asRunEntry.create({
      data: {
        channelId,
        clipName,
        startedAt,
        endedAt,
        durationMs: ended ? 5000 : null,
        status: ended ? 'PLAYED' : 'TRUNCATED',
      },
    });
    const message: AsRunMessage = {
      projectId,
      entry: {
        id: row.id,
        channelId,
        playlistId: null,
        itemId: null,
        assetId: null,
        clipName,
        startedAt: startedAt.toISOString(),
        endedAt: endedAt?.toISOString() ?? null,
        durationMs: row.durationMs,
        status: row.status,
      },
    };
    server.services.pubsub.publish('asRun', message);
    return row;
  }

  it("delivers the caller's channels' entries with their channel, and nothing of another project", async () => {
    const home = await insertChannel(server.services, cast.home.id);
    const other = await insertChannel(server.services, cast.other.id);
    const sub = as(cast.viewer.token).subscribe(AS_RUN, {});
    await sub.waitFor((r) => r.data?.asRun.clipName === 'probe', {
      poke: () => recordEntry(home.id, cast.home.id, 'probe', false),
      pokeEveryMs: 200,
    });
    await recordEntry(other.id, cast.other.id, 'secret', true);
    const entry = await recordEntry(home.id, cast.home.id, 'news', true);
    const got = await sub.waitFor((r) => r.data?.asRun.clipName === 'news');
    expect(got.data?.asRun).toMatchObject({
      id: entry.id,
      status: 'PLAYED',
      durationMs: 5000,
      channel: { id: home.id, name: home.name },
    });
    expect(sub.results.map((r) => r.data?.asRun.clipName)).not.toContain('secret');
  });

  it('with channelId: only that channel; NOT_FOUND for a channel the caller cannot see', async () => {
    const a = await insertChannel(server.services, cast.home.id);
    const b = await insertChannel(server.services, cast.home.id);
    const sub = as(cast.viewer.token).subscribe(AS_RUN, { id: a.id });
    await sub.waitFor((r) => r.data?.asRun.clipName === 'probe', {
      poke: () => recordEntry(a.id, cast.home.id, 'probe', false),
      pokeEveryMs: 200,
    });
    await recordEntry(b.id, cast.home.id, 'b-clip', true);
    await recordEntry(a.id, cast.home.id, 'a-clip', true);
    await sub.waitFor((r) => r.data?.asRun.clipName === 'a-clip');
    expect(sub.results.map((r) => r.data?.asRun.clipName)).not.toContain('b-clip');

    const refused = as(cast.outsider.token).subscribe(AS_RUN, { id: a.id });
    await refused.waitEnded();
    expect(refused.results[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('itemMedia', () => {
  const ITEM_MEDIA = `subscription ($id: ID!) { itemMedia(playlistId: $id) { id position mediaStatus mediaError asset { id } } }`;

  it("delivers the playlist's items whose asset's media changed", async () => {
    const { db } = server.services;
    const channel = await insertChannel(server.services, cast.home.id);
    const playlist = await db.playlist.create({ data: { channelId: channel.id, name: 'morning' } });
    const used = await db.asset.create({
      data: { projectId: cast.home.id, filename: 'a.mxf', storageKey: `a-${uniq()}` },
    });
    const unused = await db.asset.create({
      data: { projectId: cast.home.id, filename: 'b.mxf', storageKey: `b-${uniq()}` },
    });
    const first = await db.item.create({ data: { playlistId: playlist.id, assetId: used.id, position: 0 } });
    const second = await db.item.create({ data: { playlistId: playlist.id, assetId: used.id, position: 1 } });

    const sub = as(cast.viewer.token).subscribe(ITEM_MEDIA, { id: playlist.id });
    // Both items of one event: once the second is in, that event is through.
    await sub.waitFor((r) => r.data?.itemMedia.mediaStatus === 'STAGING' && r.data.itemMedia.id === second.id, {
      poke: () => setAssetMedia(server.services, used.id, { mediaStatus: 'STAGING' }),
      pokeEveryMs: 500,
    });
    const seen = sub.results.length;
    await setAssetMedia(server.services, unused.id, {
      mediaStatus: 'ERROR',
      mediaError: 'not found in the media store',
    });
    await setAssetMedia(server.services, used.id, { mediaStatus: 'ERROR', mediaError: 'checksum mismatch' });
    // An item shows its media as it is when delivered: the ERROR event's two come last.
    await sub.waitFor(
      (r) =>
        r.data?.itemMedia.mediaStatus === 'ERROR' &&
        r.data.itemMedia.id === second.id &&
        sub.results.indexOf(r) >= seen + 1,
    );
    expect(sub.results.slice(-2).map((r) => r.data?.itemMedia)).toEqual([
      { id: first.id, position: 0, mediaStatus: 'ERROR', mediaError: 'checksum mismatch', asset: { id: used.id } },
      { id: second.id, position: 1, mediaStatus: 'ERROR', mediaError: 'checksum mismatch', asset: { id: used.id } },
    ]);
    expect(sub.results.every((r) => r.data?.itemMedia.asset.id === used.id)).toBe(true);
  });

  it('NOT_FOUND for a playlist the caller cannot see', async () => {
    const channel = await insertChannel(server.services, cast.home.id);
    const playlist = await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'p' } });
    const sub = as(cast.outsider.token).subscribe(ITEM_MEDIA, { id: playlist.id });
    await sub.waitEnded();
    expect(sub.results[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
