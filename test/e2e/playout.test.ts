import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { makeMediaDir } from '../sidecar/helpers.ts';
import { moveIntoProject } from './as-run-helpers.ts';
import { outcome, useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';

// The whole path on one machine: clips staged from the local store, a channel
// started through the API (the real sidecar, run by the local orchestrator),
// a three-item playlist played to an SRT receiver, and its transport.
let store: string;
let volume: string;
beforeAll(async () => {
  store = await makeMediaDir({ 'one.mp4': 3, 'two.mp4': 3, 'three.mp4': 2 });
  volume = await mkdtemp(path.join(tmpdir(), 'onair-volume-'));
  await mkdir(volume, { recursive: true });
});
afterAll(async () => {
  if (volume) await rm(volume, { recursive: true, force: true });
});
const { server, cast } = useTestServer(() => ({
  MEDIA_STORE_DIR: store,
  MEDIA_VOLUME_DIR: volume,
  SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
  SIDECAR_PORT_COUNT: '20',
  // The last test kills a sidecar to see SIDECAR_UNAVAILABLE: no failover may replace it first.
  HEARTBEAT_TIMEOUT_MS: '600000',
  RECONCILE_INTERVAL_MS: '600000',
}));
let workers: Workers;
let receiver: { close(): void } | undefined;
let channelId: string;
let playlistId: string;
const SRT_PORT = testPort();

const ENGINE = `query($id: ID!) { channel(id: $id) { engine { reachable state loop current { clipName positionMs durationMs startedAt item { id } } next { id } playlist { id } } } }`;
const engine = async () => (await server.gql(cast.viewer.token, ENGINE, { id: channelId })).data?.channel.engine;

beforeAll(async () => {
  await moveIntoProject(store, cast.home.id);
  workers = await startWorkers(server.services);
  receiver = srtReceiver(SRT_PORT);

  const gql = async (query: string, variables: Record<string, unknown>) => {
    const res = await server.gql(cast.editor.token, query, variables);
    expect(res.errors).toBeUndefined();
    return res.data;
  };
  channelId = (
    await gql(`mutation($i: CreateChannelInput!) { createChannel(input: $i) { id } }`, {
      i: {
        name: 'e2e',
        projectId: cast.home.id,
        output: { srt: { url: `srt://127.0.0.1:${SRT_PORT}` } },
        videoFormat: '720p5000',
      },
    })
  ).createChannel.id;
  playlistId = (
    await gql(`mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) { id } }`, {
      i: { channelId, name: 'three' },
    })
  ).createPlaylist.id;
  for (const [file, ms] of [
    ['one.mp4', 3000],
    ['two.mp4', 3000],
    ['three.mp4', 2000],
  ] as const) {
    const assetId = (
      await gql(`mutation($i: CreateAssetInput!) { createAsset(input: $i) { id } }`, {
        i: { projectId: cast.home.id, filename: file, storageKey: `clips/${file}`, durationMs: ms },
      })
    ).createAsset.id;
    await gql(`mutation($i: AddItemInput!) { addItem(input: $i) { id } }`, { i: { playlistId, assetId } });
  }
}, 60_000);

afterAll(async () => {
  receiver?.close();
  await workers?.close();
});

describe('a channel on air', () => {
  it('plays a staged three-item playlist, with transport, and writes the HLS preview', async () => {
    const PLAY = `mutation($c: ID!, $p: ID!) { play(channelId: $c, playlistId: $p) { state current { clipName } } }`;
    // Not on air yet.
    expect(outcome(await server.gql(cast.operator.token, PLAY, { c: channelId, p: playlistId }))).toBe('CONFLICT');
    await until(
      async () =>
        (await server.gql(cast.viewer.token, `{ playlist(id: "${playlistId}") { ready } }`)).data?.playlist.ready,
      'staging',
    );

    const started = await server.gql(cast.operator.token, `mutation { startChannel(id: "${channelId}") { status } }`);
    expect(started.data?.startChannel.status).toBe('RUNNING');
    expect(await engine()).toMatchObject({ reachable: true, state: 'IDLE' });
    expect(outcome(await server.gql(cast.viewer.token, PLAY, { c: channelId, p: playlistId }))).toBe('FORBIDDEN');

    const played = await server.gql(cast.operator.token, PLAY, { c: channelId, p: playlistId });
    expect(played.errors).toBeUndefined();
    const onAir = await until(async () => {
      const e = await engine();
      return e?.state === 'PLAYING' && e.current?.clipName === 'one.mp4' ? e : null;
    }, 'the first item on air');
    expect(onAir).toMatchObject({
      reachable: true,
      loop: false,
      playlist: { id: playlistId },
      current: { durationMs: 3000 },
    });

    const skipped = await server.gql(cast.operator.token, `mutation { skip(channelId: "${channelId}") { state } }`);
    expect(skipped.errors).toBeUndefined();
    await until(async () => (await engine())?.current?.clipName === 'two.mp4', 'the second item after skip');

    const paused = await server.gql(cast.operator.token, `mutation { pause(channelId: "${channelId}") { state } }`);
    expect(paused.data?.pause.state).toBe('PAUSED');
    expect(
      outcome(await server.gql(cast.operator.token, `mutation { pause(channelId: "${channelId}") { state } }`)),
    ).toBe('CONFLICT');
    const resumed = await server.gql(cast.operator.token, `mutation { resume(channelId: "${channelId}") { state } }`);
    expect(resumed.data?.resume.state).toBe('PLAYING');

    const segments = await until(async () => {
      const names = await readdir(path.join(volume, 'live', channelId)).catch(() => [] as string[]);
      return names.includes('index.m3u8') && names.some((n) => /\.(ts|m4s)$/.test(n)) ? names : null;
    }, 'HLS segments');
    expect(segments).toContain('index.m3u8');

    // The preview through the API: a signed URL a player without headers can use.
    const { previewUrl } = (await server.gql(cast.viewer.token, `{ channel(id: "${channelId}") { previewUrl } }`)).data
      .channel;
    const origin = server.url.replace('/graphql', '');
    const playlist = await fetch(`${origin}${previewUrl}`);
    expect(playlist.headers.get('cache-control')).toBe('no-store');
    const segment = (await playlist.text()).split('\n').find((line) => line.includes('/preview/seg-'));
    expect(segment).toMatch(new RegExp(`^/channels/${channelId}/preview/seg-[0-9a-z]+-\\d+\\.ts\\?token=`));
    expect((await fetch(`${origin}${segment}`)).status).toBe(200);

    const stopped = await server.gql(
      cast.operator.token,
      `mutation { stopPlayback(channelId: "${channelId}") { state } }`,
    );
    expect(stopped.data?.stopPlayback.state).toBe('STOPPED');
  }, 60_000);

  it('play refuses a playlist of another channel, and media that is not staged', async () => {
    const other = await server.services.db.channel.create({
      data: {
        name: 'other',
        projectId: cast.home.id,
        outputType: 'NDI',
        output: { name: 'x' },
        videoFormat: '720p5000',
      },
    });
    const foreign = await server.services.db.playlist.create({ data: { channelId: other.id, name: 'foreign' } });
    const res = await server.gql(
      cast.operator.token,
      `mutation { play(channelId: "${channelId}", playlistId: "${foreign.id}") { state } }`,
    );
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'playlistId' });

    const pending = await server.services.db.asset.create({
      data: { projectId: cast.home.id, filename: 'later.mp4', storageKey: 'nowhere.mp4', durationMs: 1000 },
    });
    const notReady = await server.services.db.playlist.create({ data: { channelId, name: 'not ready' } });
    const item = await server.services.db.item.create({
      data: { playlistId: notReady.id, assetId: pending.id, position: 0 },
    });
    const refused = await server.gql(
      cast.operator.token,
      `mutation { play(channelId: "${channelId}", playlistId: "${notReady.id}") { state } }`,
    );
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', items: [item.id] });
  });

  it('a sidecar that stops answering: SIDECAR_UNAVAILABLE, and the engine reads unreachable', async () => {
    const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
    process.kill(Number(row.sidecarRef), 'SIGKILL');
    await until(
      async () =>
        !(await fetch(`${row.sidecarUrl}/healthz`).then(
          () => true,
          () => false,
        )),
      'the sidecar to die',
    );
    const res = await server.gql(cast.operator.token, `mutation { pause(channelId: "${channelId}") { state } }`);
    expect(outcome(res)).toBe('SIDECAR_UNAVAILABLE');
    expect(await engine()).toMatchObject({ reachable: false, state: null });
    // Its stop still cleans up: the process is gone already.
    const stopped = await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channelId}") { status } }`);
    expect(stopped.data?.stopChannel.status).toBe('STOPPED');
  });
});
