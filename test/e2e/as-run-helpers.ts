import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { sidecarSecretOf } from '../../src/domain/channels/channel-lifecycle.ts';
import type { EventsPage, SidecarEvent } from '../../src/protocol/sidecar-api.ts';
import type { Services } from '../../src/services/index.ts';
import { SidecarClient, type SidecarTarget } from '../../src/services/sidecar-client.ts';
import { makeMediaDir } from '../sidecar/helpers.ts';
import type { Cast, GqlResult } from '../helpers/server.ts';
export { until } from '../helpers/until.ts';
import { until } from '../helpers/until.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';

// What the as-run end-to-end tests share: clips in a local store, a volume,
// an SRT receiver for the channel's output, and a channel with a playlist.

export interface Media {
  store: string;
  volume: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Moves a store's clips/ into the project's folder, where its assets' keys are read. */
export async function moveIntoProject(store: string, projectId: string): Promise<void> {
  await mkdir(path.join(store, projectId), { recursive: true });
  await rename(path.join(store, 'clips'), path.join(store, projectId, 'clips'));
}

/**
 * A local media store with the clips (name → seconds; solid `colours` where named), an empty volume,
 * a sidecar port range and an SRT receiver that discards what it gets (none with `receiver: false`:
 * the test brings its own).
 */
export async function setUpMedia(
  clips: Record<string, number>,
  { colours = {}, receiver: withReceiver = true }: { colours?: Record<string, string>; receiver?: boolean } = {},
): Promise<Media & { srtPort: number }> {
  const store = await makeMediaDir(clips, colours);
  const volume = await mkdtemp(path.join(tmpdir(), 'onair-volume-'));
  const srtPort = testPort();
  const receiver = withReceiver ? srtReceiver(srtPort) : null;
  return {
    store,
    volume,
    srtPort,
    env: {
      MEDIA_STORE_DIR: store,
      MEDIA_VOLUME_DIR: volume,
      SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
      SIDECAR_PORT_COUNT: '20',
      EVENTS_WAIT_MS: '3000',
      INGEST_DISCOVERY_MS: '300',
      INGEST_RETRY_MS: '200',
    },
    async close() {
      receiver?.close();
      await rm(volume, { recursive: true, force: true });
      await rm(store, { recursive: true, force: true });
    },
  };
}

type Gql = (token: string, query: string, variables?: Record<string, unknown>) => Promise<GqlResult>;

/** A channel on the SRT output and a playlist of the clips in order; waits until the playlist is staged. */
export async function createChannelWithPlaylist(
  gql: Gql,
  cast: Cast,
  srtPort: number,
  clips: [string, number][],
  videoFormat = '720p5000',
) {
  const ok = async (query: string, variables: Record<string, unknown>) => {
    const res = await gql(cast.editor.token, query, variables);
    expect(res.errors).toBeUndefined();
    return res.data;
  };
  const channelId: string = (
    await ok(`mutation($i: CreateChannelInput!) { createChannel(input: $i) { id } }`, {
      i: {
        name: `as-run-${Math.random().toString(36).slice(2, 6)}`,
        projectId: cast.home.id,
        output: { srt: { url: `srt://127.0.0.1:${srtPort}` } },
        videoFormat,
      },
    })
  ).createChannel.id;
  const playlistId: string = (
    await ok(`mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) { id } }`, {
      i: { channelId, name: 'as-run' },
    })
  ).createPlaylist.id;
  const itemIds: string[] = [];
  for (const [file, ms] of clips) {
    const assetId = (
      await ok(`mutation($i: CreateAssetInput!) { createAsset(input: $i) { id } }`, {
        i: { projectId: cast.home.id, filename: file, storageKey: `clips/${file}`, durationMs: ms },
      })
    ).createAsset.id;
    itemIds.push(
      (await ok(`mutation($i: AddItemInput!) { addItem(input: $i) { id } }`, { i: { playlistId, assetId } })).addItem
        .id,
    );
  }
  await until(
    async () => (await gql(cast.viewer.token, `{ playlist(id: "${playlistId}") { ready } }`)).data?.playlist?.ready,
    'staging',
  );
  return { channelId, playlistId, itemIds };
}

export interface AsRunNode {
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  status: string;
  clipName: string;
  item: { id: string } | null;
}

const AS_RUN = `query($c: ID!) { asRun(channelId: $c, first: 100) { edges { node { startedAt endedAt durationMs status clipName item { id } } } } }`;

/** The channel's as-run log through GraphQL, oldest first. */
export async function asRunOf(gql: Gql, token: string, channelId: string): Promise<AsRunNode[]> {
  const res = await gql(token, AS_RUN, { c: channelId });
  expect(res.errors).toBeUndefined();
  return (res.data.asRun.edges as { node: AsRunNode }[]).map((e) => e.node).reverse();
}

/** The channel's sidecar as the control plane reaches it. */
export async function sidecarOf(services: Services, channelId: string): Promise<SidecarTarget & { ref: string }> {
  const row = await services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
  return {
    url: row.sidecarUrl as string,
    secret: sidecarSecretOf(services.config.secretKey, row) as string,
    ref: row.sidecarRef as string,
  };
}

/** Every event the sidecar's log holds (its own record of what aired). */
export async function sidecarEvents(target: SidecarTarget): Promise<{ epoch: string; events: SidecarEvent[] }> {
  const client = new SidecarClient(2000);
  const events: SidecarEvent[] = [];
  let after = 0;
  let page: EventsPage;
  do {
    page = await client.events(target, after, 0);
    events.push(...page.events);
    after = page.lastSeq;
  } while (page.events.length > 0);
  return { epoch: page.epoch, events };
}

/** Two frames at 50 Hz: how far a recorded start may be from the sidecar's. */
export const TWO_FRAMES_MS = 40;

/** Each ITEM_ON_AIR of the sidecar has one as-run entry, in order, starting within two frames of it. */
export function expectOneEntryPerItemOnAir(entries: AsRunNode[], events: SidecarEvent[]): void {
  const onAir = events.filter((e): e is Extract<SidecarEvent, { kind: 'ITEM_ON_AIR' }> => e.kind === 'ITEM_ON_AIR');
  expect(entries.map((e) => e.clipName)).toEqual(onAir.map((e) => e.clipName));
  entries.forEach((entry, i) => {
    expect(entry.item?.id).toBe(onAir[i].itemId);
    expect(Math.abs(Date.parse(entry.startedAt) - Date.parse(onAir[i].startedAt))).toBeLessThanOrEqual(TWO_FRAMES_MS);
  });
}

/** Collects what a topic of the event bus carries, until stopped. */
export function collect<T>(iterator: AsyncIterableIterator<T> & { return?: () => Promise<unknown> }) {
  const seen: T[] = [];
  void (async () => {
    for await (const value of iterator) seen.push(value);
  })();
  return { seen, stop: () => iterator.return?.() };
}
