import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { dockerRelay, localDocker, onairImage } from '../helpers/docker-image.ts';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';
import { createCast, startTestServer, type Cast, type TestServer } from '../helpers/server.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { until } from '../helpers/until.ts';
import { makeMediaDir } from '../sidecar/helpers.ts';
import { moveIntoProject } from '../e2e/as-run-helpers.ts';
import { expectAsRunIntact, FAULT_ENV, report, sidecarStatus, watchChannel } from './helpers.ts';

// A node addressed as 127.0.0.2 on the Docker orchestrator (all of 127/8 is
// loopback on Linux, so a sidecar listening on 127.0.0.1 only cannot be
// called there): its engine is the local one through a TCP relay on
// 127.0.0.2, its sidecars run onair's production image. The channel plays and
// is called at 127.0.0.2; its container killed, the operator is told
// (SIDECAR_UNREACHABLE), the channel is restarted on the node and back on air,
// the alarm clears; stopChannel leaves no onair container.
const docker = localDocker();
const ITEM_MS = 4000;
const CLIPS = ['a.mp4', 'b.mp4'];
const SRT_PORT = testPort();

let server: TestServer;
let cast: Cast;
let workers: Workers;
let volume: string;
let store: string;
let receiver: { close(): void } | undefined;
let relay: Awaited<ReturnType<typeof dockerRelay>> | undefined;

const onairContainers = async () =>
  docker.listContainers({
    all: true,
    filters: { label: [`onair.installation=${server.services.config.queuePrefix}`] },
  });

beforeAll(async () => {
  const { image } = await onairImage();
  store = await makeMediaDir(Object.fromEntries(CLIPS.map((c) => [c, ITEM_MS / 1000])));
  volume = await mkdtemp(path.join(tmpdir(), 'onair-volume-'));
  // The sidecar runs as the image's user `node`: it reads the staged media and writes the preview.
  await chmod(volume, 0o777);
  relay = await dockerRelay('127.0.0.2');
  server = await startTestServer({
    ...FAULT_ENV,
    ORCHESTRATOR: 'docker',
    SIDECAR_IMAGE: image,
    MEDIA_STORE_DIR: store,
    MEDIA_VOLUME_DIR: volume,
    SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
    SIDECAR_PORT_COUNT: '20',
    RECONCILE_INTERVAL_MS: '600000',
  });
  cast = await createCast(server.services);
  await moveIntoProject(store, cast.home.id);
  workers = await startWorkers(server.services);
  receiver = srtReceiver(SRT_PORT);
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
  await server?.close();
  if (volume) await rm(volume, { recursive: true, force: true });
  if (store) await rm(store, { recursive: true, force: true });
}, 60_000);

describe('a node addressed as 127.0.0.2 on the Docker orchestrator', () => {
  it('plays there; its container killed, the operator is told, the channel is back on air on the node and the alarm clears; stopChannel leaves no container', async () => {
    const { db } = server.services;
    const gql = async (token: string, query: string, variables: Record<string, unknown> = {}) => {
      const res = await server.gql(token, query, variables);
      expect(res.errors).toBeUndefined();
      return res.data;
    };
    const node = await db.clusterNode.create({
      data: { hostname: '127.0.0.2', dockerHost: relay!.dockerHost, labels: [], online: true, lastSeenAt: new Date() },
    });
    const channelId = (
      await gql(cast.editor.token, `mutation($i: CreateChannelInput!) { createChannel(input: $i) { id } }`, {
        i: {
          name: 'node-127-0-0-2',
          projectId: cast.home.id,
          output: { srt: { url: `srt://127.0.0.1:${SRT_PORT}` } },
          videoFormat: '576p2500',
        },
      })
    ).createChannel.id;
    await db.channel.update({ where: { id: channelId }, data: { nodeId: node.id } });
    const playlistId = (
      await gql(cast.editor.token, `mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) { id } }`, {
        i: { channelId, name: 'two', loop: true },
      })
    ).createPlaylist.id;
    for (const file of CLIPS) {
      const assetId = (
        await gql(cast.editor.token, `mutation($i: CreateAssetInput!) { createAsset(input: $i) { id } }`, {
          i: { projectId: cast.home.id, filename: file, storageKey: `clips/${file}`, durationMs: ITEM_MS },
        })
      ).createAsset.id;
      await gql(cast.editor.token, `mutation($i: AddItemInput!) { addItem(input: $i) { id } }`, {
        i: { playlistId, assetId },
      });
    }
    await until(
      async () =>
        (await server.gql(cast.viewer.token, `{ playlist(id: "${playlistId}") { ready } }`)).data?.playlist.ready,
      'staging',
      60_000,
    );

    const watch = await watchChannel(server.url, cast.viewer.token, server.services, channelId, cast.home.id);
    try {
      expect(
        (await gql(cast.operator.token, `mutation { startChannel(id: "${channelId}") { status } }`)).startChannel
          .status,
      ).toBe('RUNNING');
      const first = await db.channel.findUniqueOrThrow({ where: { id: channelId } });
      // Called on the node's address, where its container listens.
      expect(first.sidecarUrl).toBe(`http://127.0.0.2:${first.sidecarPort}`);
      expect((await docker.getContainer(first.sidecarRef!).inspect()).Config.Env).toContain('HOST=127.0.0.2');
      await gql(
        cast.operator.token,
        `mutation { play(channelId: "${channelId}", playlistId: "${playlistId}") { state } }`,
      );
      await until(
        async () => (await sidecarStatus(server.services, channelId).catch(() => null))?.current?.startedAt,
        'the first item on air',
        60_000,
      ).catch(async (err: Error) => {
        // What the sidecar said, for the failure's reader.
        const status = await sidecarStatus(server.services, channelId).catch((e: Error) => e.message);
        const logs = (
          await docker
            .getContainer(first.sidecarRef!)
            .logs({ stdout: true, stderr: true, tail: 40 })
            .catch(() => '')
        ).toString();
        throw new Error(
          `${err.message}; status: ${JSON.stringify(status).slice(0, 2000)}; container log: ${logs.slice(-4000)}`,
        );
      });
      await until(
        () => db.asRunEntry.findFirst({ where: { channelId, endedAt: null } }),
        'the first item recorded on air',
        30_000,
      );

      const killedAt = Date.now();
      await docker.getContainer(first.sidecarRef!).kill();
      const raised = await watch.waitFor('ALARM_RAISED', 'SIDECAR_UNREACHABLE', killedAt);
      const toldMs = raised.receivedAt - killedAt;
      expect(toldMs).toBeLessThan(2000);

      const back = await until(
        async () => {
          const row = await db.channel.findUniqueOrThrow({ where: { id: channelId } });
          if (row.status !== 'RUNNING' || row.sidecarRef === first.sidecarRef || !row.sidecarRef) return null;
          const s = await sidecarStatus(server.services, channelId).catch(() => null);
          return s?.state === 'PLAYING' && s.current?.startedAt ? row : null;
        },
        'the channel back on air',
        120_000,
        200,
      );
      const offAirMs = Date.now() - killedAt;
      expect(back).toMatchObject({
        nodeId: node.id,
        restartCount: 1,
        sidecarUrl: `http://127.0.0.2:${back.sidecarPort}`,
      });
      const cleared = await watch.waitFor('ALARM_CLEARED', 'SIDECAR_UNREACHABLE', raised.receivedAt, 30_000);
      await watch.waitFor('FAILOVER', null, killedAt);
      expect(watch.seen.filter((e) => e.kind === 'ALARM_RAISED' && e.alarm === 'SIDECAR_UNREACHABLE')).toHaveLength(1);
      // Every alarm clears. The new sidecar may raise ENGINE_BEHIND while it joins the item where the clock is
      // (frames dropped while its decoder seeks, on a loaded machine); it clears once no frame is dropped for 2 s.
      const now = await until(
        async () => {
          const { channel } = await gql(
            cast.viewer.token,
            `query($id: ID!) { channel(id: $id) { status errorMessage alarms { kind } } }`,
            { id: channelId },
          );
          expect(channel).toMatchObject({ status: 'RUNNING', errorMessage: null });
          expect(channel.alarms.filter((a: { kind: string }) => a.kind !== 'ENGINE_BEHIND')).toEqual([]);
          return channel.alarms.length === 0 && channel;
        },
        'every alarm cleared',
        15_000,
        200,
      );
      expect(now).toEqual({ status: 'RUNNING', errorMessage: null, alarms: [] });
      report(
        'sidecar container killed, node at 127.0.0.2 (Docker)',
        offAirMs,
        toldMs,
        `ALARM_RAISED SIDECAR_UNREACHABLE; HEARTBEAT_LOST; FAILOVER (a new container on the same node, called at 127.0.0.2); ALARM_CLEARED after ${((cleared.receivedAt - killedAt) / 1000).toFixed(2)} s`,
      );

      expect(
        (await gql(cast.operator.token, `mutation { stopChannel(id: "${channelId}") { status } }`)).stopChannel.status,
      ).toBe('STOPPED');
      await expectAsRunIntact(server.services, channelId);
      // The killed container and its successor: none left.
      await until(
        async () => (await onairContainers()).length === 0 || null,
        'no onair container left',
        30_000,
        500,
      ).catch(() => {});
      expect((await onairContainers()).map((c) => `${c.Names[0]} ${c.State}`)).toEqual([]);
    } finally {
      await watch.close();
    }
  }, 300_000);
});
