import { GraphQLClient } from 'graphql-request';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventsPage } from '../../src/protocol/sidecar-api.ts';
import { buildApp, type App } from '../../src/server/app.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import { SidecarClient, type SidecarTarget } from '../../src/services/sidecar-client.ts';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { type GqlResult, useTestServer } from '../helpers/server.ts';
import {
  asRunOf,
  createChannelWithPlaylist,
  expectOneEntryPerItemOnAir,
  moveIntoProject,
  setUpMedia,
  sidecarEvents,
  sidecarOf,
  until,
  type Media,
} from './as-run-helpers.ts';

// Workers and API replicas restarted during playout lose and duplicate no
// as-run entry. The channel's sidecar is a child of this test's own process
// (the local orchestrator), which stays up; the workers and a second API
// replica are separate sets of services over the same database, Redis and
// prefix, closed and started again mid-playlist.
let media: Media & { srtPort: number };
beforeAll(async () => {
  media = await setUpMedia({ 'one.mp4': 3, 'two.mp4': 3, 'three.mp4': 3 });
});
afterAll(() => media?.close());
const { server, cast } = useTestServer(() => media.env);
let channelId: string;
let playlistId: string;
const running: { close(): Promise<void> }[] = [];

/** Who asked the sidecars for events, and how many such requests were in flight at once. */
class EventsTally {
  readonly byWorker = new Map<string, number>();
  inFlight = 0;
  maxInFlight = 0;
  url = '';

  client(worker: string, timeoutMs: number): SidecarClient {
    const tally = this;
    return new (class extends SidecarClient {
      override async events(
        target: SidecarTarget,
        after: number,
        waitMs: number,
        signal?: AbortSignal,
      ): Promise<EventsPage> {
        if (target.url !== tally.url) return super.events(target, after, waitMs, signal);
        tally.byWorker.set(worker, (tally.byWorker.get(worker) ?? 0) + 1);
        tally.maxInFlight = Math.max(tally.maxInFlight, ++tally.inFlight);
        try {
          return await super.events(target, after, waitMs, signal);
        } finally {
          tally.inFlight--;
        }
      }
    })(timeoutMs);
  }
}
const tally = new EventsTally();

/** A worker process of its own: its own services (clients, connections), the same database, Redis and prefix. */
async function startWorker(name: string): Promise<{ services: Services; close(): Promise<void> }> {
  const services = createServices(server.services.config);
  services.sidecars = tally.client(name, server.services.config.sidecar.timeoutMs);
  const workers: Workers = await startWorkers(services);
  const handle = {
    services,
    async close() {
      running.splice(running.indexOf(handle), 1);
      await workers.close();
      await services.close();
    },
  };
  running.push(handle);
  return handle;
}

/** A second API replica over the same database and Redis. */
async function startReplica() {
  const services = createServices(server.services.config);
  const app: App = buildApp(services);
  await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql`;
  const handle = {
    async gql(token: string, query: string, variables?: Record<string, unknown>): Promise<GqlResult> {
      const res = await new GraphQLClient(url, {
        errorPolicy: 'all',
        headers: { authorization: `Bearer ${token}` },
      }).rawRequest(query, variables);
      return { data: res.data as any, errors: res.errors as GqlResult['errors'] };
    },
    async close() {
      running.splice(running.indexOf(handle), 1);
      await app.close();
      await services.close();
    },
  };
  running.push(handle);
  return handle;
}

beforeAll(async () => {
  await moveIntoProject(media.store, cast.home.id);
});

afterAll(async () => {
  if (channelId)
    await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channelId}") { status } }`).catch(() => {});
  for (const r of [...running]) await r.close().catch(() => {});
});

describe('restarting workers and API replicas during playout', () => {
  it('two workers read the channel once; after both and an API replica restart, the log has each item that aired once', async () => {
    const workerA = await startWorker('a');
    const workerB = await startWorker('b');
    const replica = await startReplica();
    ({ channelId, playlistId } = await createChannelWithPlaylist(replica.gql, cast, media.srtPort, [
      ['one.mp4', 3000],
      ['two.mp4', 3000],
      ['three.mp4', 3000],
    ]));

    // Started through this test's own services: the sidecar is a child of this process and outlives the restarts.
    expect(
      (await server.gql(cast.operator.token, `mutation { startChannel(id: "${channelId}") { status } }`)).data
        ?.startChannel.status,
    ).toBe('RUNNING');
    const sidecar = await sidecarOf(server.services, channelId);
    tally.url = sidecar.url;
    const played = await replica.gql(
      cast.operator.token,
      `mutation { play(channelId: "${channelId}", playlistId: "${playlistId}") { state } }`,
    );
    expect(played.errors).toBeUndefined();
    await until(async () => (await asRunOf(replica.gql, cast.viewer.token, channelId))[1], 'the second item on air');

    // One reader for the channel across both workers: one worker asked, one request at a time.
    const askedBy = [...tally.byWorker.keys()];
    expect(askedBy).toHaveLength(1);
    expect(tally.byWorker.get(askedBy[0])).toBeGreaterThanOrEqual(2);
    expect(tally.maxInFlight).toBe(1);
    const rowsSoFar = await server.services.db.asRunEntry.count({ where: { channelId } });
    expect(rowsSoFar).toBe(2);

    // Mid-item: every worker and the replica go; new ones come.
    await Promise.all([workerA.close(), workerB.close(), replica.close()]);
    const workerC = await startWorker('c');
    const replica2 = await startReplica();

    const entries = await until(
      async () => {
        const rows = await asRunOf(replica2.gql, cast.viewer.token, channelId);
        return rows.length === 3 && rows.every((r) => r.endedAt !== null) ? rows : null;
      },
      'the playlist to end in the as-run log',
      30_000,
    );
    const { events } = await sidecarEvents(sidecar);
    expect(events.some((e) => e.kind === 'STATE_CHANGED' && e.state === 'STOPPED')).toBe(true);
    expectOneEntryPerItemOnAir(entries, events);
    expect(entries.map((e) => e.status)).toEqual(['PLAYED', 'PLAYED', 'PLAYED']);

    // Nothing written twice, and the channel never lost its sidecar (no failover for a missed heartbeat).
    const [counts] = await server.services.sql.query<{ rows: number; keys: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT (sidecar_epoch, sidecar_seq))::int AS keys FROM as_run WHERE channel_id = $1`,
      [channelId],
    );
    expect(counts).toEqual({ rows: 3, keys: 3 });
    const channel = await server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
    expect(channel).toMatchObject({ status: 'RUNNING', sidecarRef: sidecar.ref, sidecarSeq: events.at(-1)?.seq });
    expect(tally.byWorker.get('c')).toBeGreaterThanOrEqual(1);
    expect(tally.maxInFlight).toBe(1);
    await workerC.close();
    await replica2.close();
  }, 90_000);
});
