import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealSidecarSecret } from '../../src/domain/channels/channel-lifecycle.ts';
import { pushAssetOnAir } from '../../src/domain/channels/on-air-edits.ts';
import { buildSidecarApp, type SidecarApp } from '../../src/sidecar/app.ts';
import { loadSidecarConfig } from '../../src/sidecar/config.ts';
import type { ClipListener, Engine, EngineClip } from '../../src/sidecar/engines/engine.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { outcome, useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';

// Edits of the playlist on air, through GraphQL, to a real sidecar API whose
// engine is a stand-in: its clips go on air at once and end when the test
// says, so what the sidecar airs next is read exactly, with no timing at all.

/** Clips go on air when played and end when `end()` says so. */
class StepEngine implements Engine {
  readonly name = 'step';
  played: { clip: EngineClip; listener: ClipListener; stopped: boolean }[] = [];
  async start() {}
  async close() {}
  play(clip: EngineClip, listener: ClipListener) {
    const p = { clip, listener, stopped: false };
    this.played.push(p);
    queueMicrotask(() => listener.onAir(Date.now()));
    return { pause: () => undefined, resume: () => undefined, stop: async () => void (p.stopped = true) };
  }
  /** Ends the clip on air; returns the item ids it then airs, `count` clips in a row (the first is the one on air). */
  airs(count: number): { itemId: string; durationMs: number }[] {
    const seen: { itemId: string; durationMs: number }[] = [];
    for (let i = 0; i < count; i++) {
      const cur = this.played.filter((p) => !p.stopped).at(-1);
      if (!cur) break;
      seen.push({ itemId: cur.clip.itemId, durationMs: cur.clip.durationMs });
      cur.stopped = true;
      cur.listener.onEnd({ ok: true });
    }
    return seen;
  }
}

const SECRET = 'edit-on-air-secret-0123456789abcdef';
const { server, cast } = useTestServer();
let mediaDir: string;
let engine: StepEngine;
let sidecar: SidecarApp;
let sidecarUrl: string;
let channelId: string;
const assets: string[] = [];

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'onair-edit-'));
  await mkdir(join(mediaDir, 'clips'));
  channelId = randomUUID();
  engine = new StepEngine();
  sidecar = buildSidecarApp(
    loadSidecarConfig({
      CHANNEL_ID: channelId,
      PORT: '0',
      SIDECAR_SECRET: SECRET,
      ENGINE: 'ffmpeg',
      VIDEO_FORMAT: '720p5000',
      MEDIA_DIR: mediaDir,
      OUTPUT_JSON: JSON.stringify({ type: 'UDP', url: 'udp://127.0.0.1:9' }),
    }),
    { engine, eventsFile: false },
  );
  sidecarUrl = `http://127.0.0.1:${await sidecar.start()}`;
  await insertChannel(server.services, cast.home.id, {
    id: channelId,
    status: 'RUNNING',
    sidecarUrl,
    sidecarSecret: sealSidecarSecret(server.services.config.secretKey, channelId, SECRET),
  });
  for (const name of ['a', 'b', 'c', 'd', 'e']) {
    await writeFile(join(mediaDir, 'clips', `${name}.mp4`), '');
    const asset = await server.services.db.asset.create({
      data: {
        projectId: cast.home.id,
        filename: `${name}.mp4`,
        storageKey: `${name}.mp4`,
        durationMs: 10_000,
        mediaStatus: 'READY',
        mediaPath: `clips/${name}.mp4`,
      },
    });
    assets.push(asset.id);
  }
}, 60_000);

afterAll(async () => {
  await sidecar?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

const ok = async (query: string, variables: Record<string, unknown> = {}) => {
  const res = await server.gql(cast.operator.token, query, variables);
  expect(res.errors).toBeUndefined();
  return res.data;
};
const ADD = `mutation($i: AddItemInput!) { addItem(input: $i) { id } }`;
const PLAY = `mutation($c: ID!, $p: ID!) { play(channelId: $c, playlistId: $p) { state current { clipName } } }`;
const REORDER = `mutation($p: ID!, $ids: [ID!]!) { reorderItems(playlistId: $p, itemIds: $ids) { id } }`;
const DELETE = `mutation($id: ID!) { deletePlaylist(id: $id) }`;
const ENGINE = `query($id: ID!) { channel(id: $id) { engine { state current { item { id } } next { id } playlist { id } } } }`;

/** A playlist of the given assets (by index into `assets`), not on air; its item ids in order. */
async function playlistOf(name: string, ...which: number[]): Promise<{ playlistId: string; items: string[] }> {
  const playlistId = (
    await ok(`mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) { id } }`, { i: { channelId, name } })
  ).createPlaylist.id;
  const items: string[] = [];
  for (const n of which) items.push((await ok(ADD, { i: { playlistId, assetId: assets[n] } })).addItem.id);
  return { playlistId, items };
}
const engineOf = async () => (await ok(ENGINE, { id: channelId })).channel.engine;
const ids = (seen: { itemId: string }[]) => seen.map((s) => s.itemId);

describe('editing the playlist on air through GraphQL', () => {
  it('add, remove, reorder and update reach the sidecar, applied from the next item; the item on air finishes', async () => {
    const {
      playlistId,
      items: [a, b, c],
    } = await playlistOf('edits', 0, 1, 2);
    await ok(PLAY, { c: channelId, p: playlistId });
    expect(await engineOf()).toMatchObject({
      state: 'PLAYING',
      current: { item: { id: a } },
      next: { id: b },
      playlist: { id: playlistId },
    });

    const d = (await ok(ADD, { i: { playlistId, assetId: assets[3], position: 1 } })).addItem.id;
    expect((await engineOf()).next).toEqual({ id: d });
    await ok(`mutation($id: ID!) { removeItem(id: $id) }`, { id: b });
    await ok(REORDER, { p: playlistId, ids: [a, c, d] });
    expect((await engineOf()).next).toEqual({ id: c });
    await ok(`mutation($id: ID!, $i: UpdateItemInput!) { updateItem(id: $id, input: $i) { id } }`, {
      id: c,
      i: { outPointMs: 4000 },
    });
    // Editing the item on air changes nothing of its airing.
    await ok(`mutation($id: ID!, $i: UpdateItemInput!) { updateItem(id: $id, input: $i) { id } }`, {
      id: a,
      i: { outPointMs: 2000 },
    });
    expect(engine.played.filter((p) => !p.stopped).map((p) => [p.clip.itemId, p.clip.durationMs])).toEqual([
      [a, 10_000],
    ]);

    expect(engine.airs(3)).toEqual([
      { itemId: a, durationMs: 10_000 },
      { itemId: c, durationMs: 4000 },
      { itemId: d, durationMs: 10_000 },
    ]);
    expect((await engineOf()).state).toBe('STOPPED');
    expect((await server.services.db.playlist.findUniqueOrThrow({ where: { id: playlistId } })).revision).toBe(8);
  });

  it('a new loop setting applies on air; an item whose media is not staged is left out until it is', async () => {
    const {
      playlistId,
      items: [a, b],
    } = await playlistOf('loop', 0, 1);
    await ok(PLAY, { c: channelId, p: playlistId });
    await ok(`mutation($id: ID!, $i: UpdatePlaylistInput!) { updatePlaylist(id: $id, input: $i) { id } }`, {
      id: playlistId,
      i: { loop: true },
    });
    const pending = await server.services.db.asset.create({
      data: { projectId: cast.home.id, filename: 'p.mp4', storageKey: 'nowhere/p.mp4', durationMs: 1000 },
    });
    const p = (await ok(ADD, { i: { playlistId, assetId: pending.id, position: 1 } })).addItem.id;
    expect((await engineOf()).next).toEqual({ id: b });
    // Staging finishes: the item airs from the next item on.
    await writeFile(join(mediaDir, 'clips', 'p.mp4'), '');
    await server.services.db.asset.update({
      where: { id: pending.id },
      data: { mediaStatus: 'READY', mediaPath: 'clips/p.mp4' },
    });
    await pushAssetOnAir(server.services, pending.id);
    expect((await engineOf()).next).toEqual({ id: p });
    expect(ids(engine.airs(4))).toEqual([a, p, b, a]);
  });

  it('deleting the playlist on air is CONFLICT and changes nothing; once the channel stops it is deleted', async () => {
    const { playlistId, items } = await playlistOf('keep', 0, 1);
    await ok(PLAY, { c: channelId, p: playlistId });
    const res = await server.gql(cast.operator.token, DELETE, { id: playlistId });
    expect(outcome(res)).toBe('CONFLICT');
    expect(res.errors?.[0].message).toMatch(
      /^the playlist is on air on channel .+ \(RUNNING\): play another playlist or stop the channel first$/,
    );
    const still = await server.services.db.playlist.findUnique({
      where: { id: playlistId },
      include: { items: { orderBy: { position: 'asc' } } },
    });
    expect(still?.items.map((i) => i.id)).toEqual(items);
    expect(await engineOf()).toMatchObject({ state: 'PLAYING', playlist: { id: playlistId } });

    // Another playlist on air: this one may go.
    const other = await playlistOf('other', 2);
    await ok(PLAY, { c: channelId, p: other.playlistId });
    expect((await ok(DELETE, { id: playlistId })).deletePlaylist).toBe(playlistId);
    // A channel that stops plays nothing: its playlist may go too.
    expect(outcome(await server.gql(cast.operator.token, DELETE, { id: other.playlistId }))).toBe('CONFLICT');
    await server.services.db.channel.update({ where: { id: channelId }, data: { status: 'STOPPED' } });
    expect(
      (await server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } })).onAirPlaylistId,
    ).toBeNull();
    expect((await ok(DELETE, { id: other.playlistId })).deletePlaylist).toBe(other.playlistId);
    await server.services.db.channel.update({ where: { id: channelId }, data: { status: 'RUNNING' } });
  });

  it('play and delete of one playlist at once: exactly one wins, and the channel never plays a deleted playlist', async () => {
    const seen = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const { playlistId } = await playlistOf(`race ${round}`, round % 5);
      const [played, deleted] = await Promise.all([
        server.gql(cast.operator.token, PLAY, { c: channelId, p: playlistId }),
        server.gql(cast.operator.token, DELETE, { id: playlistId }),
      ]);
      const pair = `${outcome(played)}/${outcome(deleted)}`;
      seen.add(pair);
      expect(['OK/CONFLICT', 'NOT_FOUND/OK']).toContain(pair);
      const row = await server.services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
      const exists = await server.services.db.playlist.count({ where: { id: playlistId } });
      if (pair === 'OK/CONFLICT') expect([row.onAirPlaylistId, exists]).toEqual([playlistId, 1]);
      else expect([row.onAirPlaylistId === playlistId, exists]).toEqual([false, 0]);
    }
    expect(seen.size).toBeGreaterThan(0);
  });

  it('concurrent edits leave the sidecar with the last committed list', async () => {
    const { playlistId, items } = await playlistOf('concurrent', 0, 1, 2, 3, 4);
    await ok(PLAY, { c: channelId, p: playlistId });
    await ok(`mutation($id: ID!, $i: UpdatePlaylistInput!) { updatePlaylist(id: $id, input: $i) { id } }`, {
      id: playlistId,
      i: { loop: true },
    });
    const shuffled = () => [...items].sort(() => Math.random() - 0.5);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => server.gql(cast.operator.token, REORDER, { p: playlistId, ids: shuffled() })),
    );
    expect(results.map(outcome)).toEqual(Array(10).fill('OK'));
    const final = (await server.services.db.item.findMany({ where: { playlistId }, orderBy: { position: 'asc' } })).map(
      (i) => i.id,
    );
    // The item on air (items[0]) finishes, then the committed order, round and round.
    const at = final.indexOf(items[0]);
    const expected = [items[0], ...Array.from({ length: 5 }, (_, i) => final[(at + 1 + i) % 5])];
    expect(ids(engine.airs(6))).toEqual(expected);
  });

  it('a sidecar that cannot be reached: the edit still commits, and later edits reach it again', async () => {
    const {
      playlistId,
      items: [a],
    } = await playlistOf('unreachable', 0, 1);
    await ok(PLAY, { c: channelId, p: playlistId });
    await server.services.db.channel.update({ where: { id: channelId }, data: { sidecarUrl: 'http://127.0.0.1:9' } });
    const e = (await ok(ADD, { i: { playlistId, assetId: assets[4], position: 1 } })).addItem.id;
    expect(await server.services.db.item.count({ where: { playlistId } })).toBe(3);
    await server.services.db.channel.update({ where: { id: channelId }, data: { sidecarUrl } });
    // The retry (a second later) finds it back and sends the playlist as it is.
    await until(async () => (await engineOf()).next?.id === e, 'the retried edit', 10_000);
    expect(ids(engine.airs(2))).toEqual([a, e]);
  });
});
