import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarSecretOf } from '../../src/domain/channels/channel-lifecycle.ts';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { dockerRelay, onairImage } from '../helpers/docker-image.ts';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';
import { createCast, startTestServer, type Cast, type TestServer } from '../helpers/server.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { until } from '../helpers/until.ts';
import { makeMediaDir } from '../sidecar/helpers.ts';
import { moveIntoProject } from './as-run-helpers.ts';

// The production image, built from the project's Dockerfile (scripts/docker-image.sh),
// playing for real: two nodes on the one local engine under two loopback addresses
// (127.0.0.2 through a TCP relay to the engine, 127.0.0.3 on its socket), so that a
// sidecar listening anywhere but its node's address fails; a channel on node A plays
// to an SRT receiver; node A dies (relay closed, container killed) and the channel
// resumes on node B at the item the clock is in; stopChannel leaves no container.
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const ITEM_MS = 6000;
const CLIPS = ['a.mp4', 'b.mp4', 'c.mp4', 'd.mp4', 'e.mp4'];
const SRT_PORT = testPort();

let image = '';
let server: TestServer;
let cast: Cast;
let workers: Workers;
let volume: string;
let store: string;
let receiver: { close(): void } | undefined;
let relay: Awaited<ReturnType<typeof dockerRelay>> | undefined;
let channelId: string;
let playlistId: string;
const itemIds: string[] = [];
let nodeA: { id: string };
let nodeB: { id: string };
const containers: string[] = [];

const ENGINE = `query($id: ID!) { channel(id: $id) { engine { reachable state current { clipName positionMs startedAt item { id } } } } }`;
const engine = async () => (await server.gql(cast.viewer.token, ENGINE, { id: channelId })).data?.channel?.engine;
const channelRow = () => server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
const onairContainers = async () =>
  docker.listContainers({
    all: true,
    filters: { label: [`onair.installation=${server.services.config.queuePrefix}`] },
  });

beforeAll(async () => {
  const began = Date.now();
  const built = await onairImage();
  image = built.image;
  const size = built.size;
  console.log(
    `onair image ${image}: ${(Number(size) / 1e6).toFixed(0)} MB (ready in ${((Date.now() - began) / 1000).toFixed(0)} s)`,
  );

  store = await makeMediaDir(Object.fromEntries(CLIPS.map((c) => [c, ITEM_MS / 1000])));
  volume = await mkdtemp(path.join(tmpdir(), 'onair-volume-'));
  // The sidecar runs as the image's user `node`: it reads the staged media and writes the preview.
  await chmod(volume, 0o777);

  // Node A's engine: the local one, reached on 127.0.0.2 through a relay the test can cut.
  relay = await dockerRelay('127.0.0.2');

  server = await startTestServer({
    ORCHESTRATOR: 'docker',
    SIDECAR_IMAGE: image,
    MEDIA_STORE_DIR: store,
    MEDIA_VOLUME_DIR: volume,
    SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
    SIDECAR_PORT_COUNT: '20',
    CONTROL_TICK_MS: '1000',
    NODE_OFFLINE_AFTER_MS: '3000',
    HEARTBEAT_TIMEOUT_MS: '6000',
    RECONCILE_INTERVAL_MS: '5000',
  });
  cast = await createCast(server.services);
  // Asset keys are read under their project's folder of the store.
  await moveIntoProject(store, cast.home.id);
  workers = await startWorkers(server.services);
  receiver = srtReceiver(SRT_PORT);
  nodeA = await server.services.db.clusterNode.create({
    data: {
      hostname: '127.0.0.2',
      dockerHost: relay.dockerHost,
      labels: ['srt'],
      online: true,
      lastSeenAt: new Date(),
    },
  });
  nodeB = await server.services.db.clusterNode.create({
    data: {
      hostname: '127.0.0.3',
      dockerHost: 'unix:///var/run/docker.sock',
      labels: ['srt'],
      online: true,
      lastSeenAt: new Date(),
    },
  });

  const gql = async (query: string, variables: Record<string, unknown>) => {
    const res = await server.gql(cast.editor.token, query, variables);
    expect(res.errors).toBeUndefined();
    return res.data;
  };
  channelId = (
    await gql(`mutation($i: CreateChannelInput!) { createChannel(input: $i) { id } }`, {
      i: {
        name: 'image',
        projectId: cast.home.id,
        output: { srt: { url: `srt://127.0.0.1:${SRT_PORT}` } },
        videoFormat: '576p2500',
      },
    })
  ).createChannel.id;
  await server.services.db.channel.update({ where: { id: channelId }, data: { nodeId: nodeA.id } });
  playlistId = (
    await gql(`mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) { id } }`, {
      i: { channelId, name: 'five' },
    })
  ).createPlaylist.id;
  for (const file of CLIPS) {
    const assetId = (
      await gql(`mutation($i: CreateAssetInput!) { createAsset(input: $i) { id } }`, {
        i: { projectId: cast.home.id, filename: file, storageKey: `clips/${file}`, durationMs: ITEM_MS },
      })
    ).createAsset.id;
    itemIds.push(
      (await gql(`mutation($i: AddItemInput!) { addItem(input: $i) { id } }`, { i: { playlistId, assetId } })).addItem
        .id,
    );
  }
}, 20 * 60_000);

afterAll(async () => {
  receiver?.close();
  relay?.cut();
  await workers?.close();
  for (const c of await onairContainers().catch(() => []))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => {});
  for (const name of containers)
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => {});
  await server?.close();
  if (volume) await rm(volume, { recursive: true, force: true });
  if (store) await rm(store, { recursive: true, force: true });
}, 60_000);

describe('the onair image', () => {
  it('plays a channel on its node, fails over to the other node at the item the clock is in, and leaves no container after stopChannel', async () => {
    await until(
      async () =>
        (await server.gql(cast.viewer.token, `{ playlist(id: "${playlistId}") { ready } }`)).data?.playlist.ready,
      'staging',
      60_000,
    );

    const startBegan = Date.now();
    const started = await server.gql(cast.operator.token, `mutation { startChannel(id: "${channelId}") { status } }`);
    const startMs = Date.now() - startBegan;
    expect(started.errors?.map((e) => e.message)).toBeUndefined();
    expect(started.data?.startChannel.status).toBe('RUNNING');
    console.log(`sidecar start in the image (startChannel until the sidecar proved itself): ${startMs} ms`);

    // Called on node A's address, where it listens; as the image's unprivileged user.
    const onA = await channelRow();
    expect(onA.sidecarUrl).toBe(`http://127.0.0.2:${onA.sidecarPort}`);
    const info = await docker.getContainer(onA.sidecarRef!).inspect();
    expect(info.Config.User).toBe('node');
    expect(info.Config.Env).toContain('HOST=127.0.0.2');
    expect(info.Config.Labels).toMatchObject({
      'onair.channel': channelId,
      'onair.installation': server.services.config.queuePrefix,
    });

    const played = await server.gql(
      cast.operator.token,
      `mutation($c: ID!, $p: ID!) { play(channelId: $c, playlistId: $p) { state } }`,
      { c: channelId, p: playlistId },
    );
    expect(played.errors).toBeUndefined();
    const first = await until(async () => {
      const e = await engine();
      return e?.state === 'PLAYING' && e.current?.clipName === 'a.mp4' ? e.current : null;
    }, 'the first item on air');
    const t0 = Date.parse(first.startedAt);
    // On time: the second item follows the first after its duration.
    const second = await until(async () => {
      const e = await engine();
      return e?.current?.clipName === 'b.mp4' ? e.current : null;
    }, 'the second item on air').catch(async (err: Error) => {
      // What the sidecar said, for the failure's reader.
      const secret = sidecarSecretOf(server.services.config.secretKey, await channelRow());
      const events = await (
        await fetch(`${onA.sidecarUrl}/events?after=0&waitMs=0`, { headers: { authorization: `Bearer ${secret}` } })
      ).text();
      throw new Error(
        `${err.message}; engine: ${JSON.stringify(await engine())}; sidecar events: ${events.slice(0, 3000)}`,
      );
    });
    const gap = Date.parse(second.startedAt) - t0;
    console.log(`the second item went on air ${gap} ms after the first (its duration: ${ITEM_MS} ms)`);
    // Within 2.5 s of its time on a 2-core machine that other test runs load to a load average of ~20.
    expect(Math.abs(gap - ITEM_MS)).toBeLessThanOrEqual(2500);

    // The preview, served by the API from what the container writes on the volume.
    const { previewUrl } = (await server.gql(cast.viewer.token, `{ channel(id: "${channelId}") { previewUrl } }`)).data
      .channel;
    const origin = server.url.replace('/graphql', '');
    const segment = await until(async () => {
      const text = await (await fetch(`${origin}${previewUrl}`)).text();
      return text.split('\n').find((line) => line.includes('/preview/seg-'));
    }, 'a preview segment');
    expect((await fetch(`${origin}${segment}`)).status).toBe(200);

    // Node A dies: its engine unreachable, its container gone.
    relay!.cut();
    const killedAt = Date.now();
    await docker
      .getContainer(onA.sidecarRef!)
      .kill()
      .catch(() => {});

    const onB = await until(
      async () => {
        const row = await channelRow();
        return row.status === 'RUNNING' && row.nodeId === nodeB.id && row.restartCount === 1 ? row : null;
      },
      'failover to node B',
      90_000,
      200,
    );
    expect(onB.sidecarUrl).toBe(`http://127.0.0.3:${onB.sidecarPort}`);
    const resumed = await until(async () => {
      const e = await engine();
      return e?.state === 'PLAYING' && e.current ? e.current : null;
    }, 'playout resumed on node B');
    // The item the clock is in (either neighbour within a second of a boundary).
    const elapsed = Date.now() - t0;
    console.log(`failover: back on air on node B ${((Date.now() - killedAt) / 1000).toFixed(1)} s after node A died`);
    const expected = Math.min(Math.floor(elapsed / ITEM_MS), CLIPS.length - 1);
    const near = [expected];
    if (elapsed % ITEM_MS < 1500 && expected > 0) near.push(expected - 1);
    if (ITEM_MS - (elapsed % ITEM_MS) < 1500 && expected + 1 < CLIPS.length) near.push(expected + 1);
    const where =
      `${elapsed} ms after the first item (item ${expected + 1} by the clock); resumed item ` +
      `${itemIds.indexOf(resumed.item.id) + 1} at ${resumed.positionMs} ms, on air since t0+${Date.parse(resumed.startedAt) - t0} ms; ` +
      `node A died at t0+${killedAt - t0} ms`;
    console.log(`failover: ${where}`);
    expect(
      near.map((i) => itemIds[i]),
      where,
    ).toContain(resumed.item.id);
    expect(resumed.item.id).not.toBe(itemIds[0]);
    // And the schedule keeps time on node B: the item after it goes on air when the clock says, as before the failover.
    const resumedIndex = itemIds.indexOf(resumed.item.id);
    if (resumedIndex + 1 < CLIPS.length) {
      const after = await until(async () => {
        const e = await engine();
        return e?.current?.item.id === itemIds[resumedIndex + 1] ? e.current : null;
      }, 'the item after the resumed one on air');
      const late = Date.parse(after.startedAt) - (t0 + (resumedIndex + 1) * ITEM_MS);
      console.log(`failover: item ${resumedIndex + 2} went on air on node B ${late} ms after its time by the clock`);
      expect(Math.abs(late)).toBeLessThanOrEqual(2500);
    }

    const stopped = await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channelId}") { status } }`);
    expect(stopped.data?.stopChannel.status).toBe('STOPPED');
    // Node A's container was killed while its engine was unreachable; no container of this installation is left.
    await until(
      async () => (await onairContainers()).length === 0 || null,
      'no onair container left',
      30_000,
      500,
    ).catch(() => {});
    expect((await onairContainers()).map((c) => `${c.Names[0]} ${c.State}`)).toEqual([]);
  }, 240_000);

  it('runs serve, worker and migrate from the same image; serve answers /readyz and reports healthy', async () => {
    const database = await createTestDatabase();
    const port = testPort();
    const env = [
      `DATABASE_URL=${database.url}`,
      'REDIS_URL=redis://127.0.0.1:6379',
      `ONAIR_SECRET_KEY=${randomBytes(32).toString('hex')}`,
      `QUEUE_PREFIX=onair-image-${randomBytes(4).toString('hex')}`,
      'LOG_LEVEL=info',
      `PORT=${port}`,
      'HOST=127.0.0.1',
    ];
    const runContainer = async (mode: string) => {
      const name = `onair-image-test-${mode}-${randomBytes(4).toString('hex')}`;
      containers.push(name);
      const c = await docker.createContainer({
        name,
        Image: image,
        Cmd: [mode],
        Env: env,
        HostConfig: { NetworkMode: 'host' },
      });
      await c.start();
      return c;
    };
    try {
      const migrate = await runContainer('migrate');
      expect((await migrate.wait()).StatusCode).toBe(0);

      const serve = await runContainer('serve');
      const ready = await until(
        async () =>
          (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => null))
            ?.status === 200 || null,
        'serve to answer /readyz',
        60_000,
        250,
      );
      expect(ready).toBe(true);
      // The operator console ships in the image: its page, and the script it names.
      const consolePage = await fetch(`http://127.0.0.1:${port}/console/`);
      expect(consolePage.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(await consolePage.text())?.[1];
      expect((await fetch(`http://127.0.0.1:${port}${script}`)).status).toBe(200);
      await until(
        async () => (await serve.inspect()).State.Health?.Status === 'healthy' || null,
        'serve healthy by the image HEALTHCHECK',
        60_000,
        500,
      );

      const worker = await runContainer('worker');
      await until(
        async () => {
          const logs = (await worker.logs({ stdout: true, stderr: true })).toString();
          return logs.includes('onair worker started') || null;
        },
        'the worker to start',
        60_000,
        500,
      );
      expect((await worker.inspect()).State.Running).toBe(true);
    } finally {
      for (const name of containers)
        await docker
          .getContainer(name)
          .remove({ force: true })
          .catch(() => {});
      await database.drop();
    }
  }, 180_000);
});
