import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import { createLocalStore } from '../../src/services/storage/local-store.ts';
import { projectStore, type MediaStore } from '../../src/services/storage/store.ts';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';

// What an editor could do to other projects' media, to the playout volume and to
// the decoder through staging, and that it no longer can.

let tmp: string;
let storeDir: string;
let volumeDir: string;
const playlists = new Map<string, string>();
const workers: Workers[] = [];
const extraServices: Services[] = [];
let opens: string[] = [];

const MXF = Buffer.from('060e2b34020501010d01020101020400', 'hex');
const media = (size: number, fill = 1) => Buffer.concat([MXF, Buffer.alloc(size - MXF.length, fill)]);
const MAX_OBJECT = 50_000;
const QUOTA_BYTES = 120_000;

async function put(projectId: string, key: string, content: Buffer | string) {
  const file = path.join(storeDir, projectId, key);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

async function playlistOf(projectId: string) {
  if (!playlists.has(projectId)) {
    const channel = await insertChannel(server.services, projectId);
    playlists.set(
      projectId,
      (await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'p' } })).id,
    );
  }
  return playlists.get(projectId)!;
}

/** An asset as an editor creates it, and an item that queues its staging; returns the asset once staging ended. */
async function stage(projectId: string, storageKey: string, token = cast.admin.token) {
  const created = await server.gql(token, `mutation($input: CreateAssetInput!) { createAsset(input: $input) { id } }`, {
    input: { projectId, filename: path.basename(storageKey), storageKey },
  });
  expect(created.errors).toBeUndefined();
  const assetId = created.data.createAsset.id as string;
  const added = await server.gql(token, `mutation($input: AddItemInput!) { addItem(input: $input) { id } }`, {
    input: { playlistId: await playlistOf(projectId), assetId },
  });
  expect(added.errors).toBeUndefined();
  return waitStaged(assetId);
}

async function waitStaged(assetId: string) {
  let row = await server.services.db.asset.findUniqueOrThrow({ where: { id: assetId } });
  await until(
    async () => {
      row = await server.services.db.asset.findUniqueOrThrow({ where: { id: assetId } });
      return row.mediaStatus === 'READY' || row.mediaStatus === 'ERROR';
    },
    `asset ${assetId} staged or failed`,
    20_000,
  );
  return row;
}

async function volumeFiles(): Promise<string[]> {
  const all = await readdir(volumeDir, { recursive: true }).catch(() => [] as string[]);
  return all
    .map(String)
    .filter((f) => /\.[a-z0-9]+$/i.test(f))
    .sort();
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'onair-staging-security-'));
  storeDir = path.join(tmp, 'store');
  volumeDir = path.join(tmp, 'volume');
  await mkdir(storeDir, { recursive: true });
});
afterAll(() => rm(tmp, { recursive: true, force: true }));
const env = () => ({
  MEDIA_STORE_DIR: storeDir,
  MEDIA_VOLUME_DIR: volumeDir,
  MEDIA_MAX_OBJECT_BYTES: String(MAX_OBJECT),
  QUOTA_PROJECT_BYTES: String(QUOTA_BYTES),
});
const { server, cast } = useTestServer(env);

beforeAll(async () => {
  // Two workers, as two processes would be, counting what they read from the store.
  const local = createLocalStore({ root: storeDir });
  const counting: MediaStore = {
    stat: (k) => local.stat(k),
    open: (k, o) => (opens.push(k), local.open(k, o)),
    close: async () => {},
  };
  for (let i = 0; i < 2; i++) {
    const services = createServices(
      loadConfig({
        ...process.env,
        LOG_LEVEL: 'silent',
        DATABASE_URL: server.services.config.databaseUrl,
        QUEUE_PREFIX: server.services.config.queuePrefix,
        ...env(),
      }),
    );
    extraServices.push(services);
    workers.push(await startWorkers(services, { store: counting }));
  }
});

afterAll(async () => {
  for (const w of workers) await w.close();
  for (const s of extraServices) await s.close();
});

describe("another project's media", () => {
  it("a key naming another project's file fails as a missing key does, and reads nothing of it", async () => {
    await put(cast.other.id, 'secret/plan.mxf', media(1000));
    const stolen = await stage(cast.home.id, `${cast.other.id}/secret/plan.mxf`, cast.editor.token);
    const missing = await stage(cast.home.id, `${cast.other.id}/secret/none.mxf`, cast.editor.token);
    expect(stolen).toMatchObject({ mediaStatus: 'ERROR', mediaPath: null });
    // The same words for a file that exists elsewhere and one that exists nowhere: no existence oracle.
    expect(stolen.mediaError).toBe(`not found in the media store: ${cast.other.id}/secret/plan.mxf`);
    expect(missing.mediaError).toBe(`not found in the media store: ${cast.other.id}/secret/none.mxf`);
    expect(opens.some((k) => k.includes('plan.mxf'))).toBe(false);
    expect(await volumeFiles()).toEqual([]);
  });

  it('a key that climbs out of the project folder is refused when written, and by the store itself', async () => {
    for (const storageKey of [
      `../${cast.other.id}/secret/plan.mxf`,
      `a/../../${cast.other.id}/secret/plan.mxf`,
      `./x.mxf`,
      'a//b.mxf',
      'a\\..\\b.mxf',
    ]) {
      const res = await server.gql(
        cast.editor.token,
        `mutation($input: CreateAssetInput!) { createAsset(input: $input) { id } }`,
        {
          input: { projectId: cast.home.id, filename: 'x.mxf', storageKey },
        },
      );
      expect([storageKey, res.errors?.[0].extensions]).toEqual([
        storageKey,
        expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'input.storageKey' }),
      ]);
    }
    const scoped = projectStore(createLocalStore({ root: storeDir }), cast.home.id);
    await expect(scoped.stat(`../${cast.other.id}/secret/plan.mxf`)).rejects.toThrow(/invalid media key/);
    await expect(scoped.open(`../${cast.other.id}/secret/plan.mxf`)).rejects.toThrow(/invalid media key/);
    expect(() => projectStore(createLocalStore({ root: storeDir }), '../x')).toThrow(/invalid project/);
  });

  it("the owner's own key stages from its folder", async () => {
    await put(cast.other.id, 'own/ok.mxf', media(1000));
    const asset = await stage(cast.other.id, 'own/ok.mxf', cast.outsider.token);
    expect(asset).toMatchObject({ mediaStatus: 'READY', mediaBytes: 1000n });
    await rm(path.join(volumeDir, asset.mediaPath as string));
    await server.services.db.asset.update({ where: { id: asset.id }, data: { mediaStatus: 'ERROR', mediaPath: null } });
  });
});

describe('one staged copy per stored object', () => {
  it('five assets on one key, staged at once by two workers: one file on the volume, and no read once it is there', async () => {
    await put(cast.home.id, 'shared/ident.mxf', media(20_000, 3));
    opens = [];
    const assets = await Promise.all(Array.from({ length: 5 }, () => stage(cast.home.id, 'shared/ident.mxf')));
    expect(assets.map((a) => a.mediaStatus)).toEqual(Array(5).fill('READY'));
    const paths = new Set(assets.map((a) => a.mediaPath));
    expect(paths.size).toBe(1);
    // Copies that run at the same moment (two workers, STAGING_CONCURRENCY 2 each) may each read it
    // before either sees the other's file; they rename the same bytes into the one place.
    expect(opens.length).toBeGreaterThanOrEqual(1);
    expect(opens.length).toBeLessThanOrEqual(4);
    expect((await volumeFiles()).filter((f) => f.endsWith('ident.mxf'))).toHaveLength(1);
    // Once it is there, another asset of the key reads nothing from the store.
    opens = [];
    expect(await stage(cast.home.id, 'shared/ident.mxf')).toMatchObject({
      mediaStatus: 'READY',
      mediaPath: [...paths][0],
    });
    expect(opens).toEqual([]);
  });
});

describe('a changed object', () => {
  it('is staged anew beside the old file, which goes once no asset names it', async () => {
    await put(cast.home.id, 'changing/promo.mxf', media(5_000, 1));
    const first = await stage(cast.home.id, 'changing/promo.mxf');
    const other = await stage(cast.home.id, 'changing/promo.mxf');
    expect(other.mediaPath).toBe(first.mediaPath);
    await put(cast.home.id, 'changing/promo.mxf', media(6_000, 2));
    // The first asset again: the second still names the old file, which stays.
    await server.services.queues.stageAsset(first.id);
    await until(
      async () =>
        (await server.services.db.asset.findUniqueOrThrow({ where: { id: first.id } })).mediaPath !== first.mediaPath,
      'the new copy',
    );
    const moved = await server.services.db.asset.findUniqueOrThrow({ where: { id: first.id } });
    expect(moved).toMatchObject({ mediaStatus: 'READY', mediaBytes: 6_000n });
    expect(await volumeFiles()).toEqual(expect.arrayContaining([first.mediaPath, moved.mediaPath]));
    // Then the second: nothing names the old file any more.
    await server.services.queues.stageAsset(other.id);
    await until(
      async () =>
        (await server.services.db.asset.findUniqueOrThrow({ where: { id: other.id } })).mediaPath === moved.mediaPath,
      'the second asset moved',
    );
    await until(async () => !(await volumeFiles()).includes(first.mediaPath as string), 'the old file removed');
    expect((await volumeFiles()).filter((f) => f.endsWith('promo.mxf'))).toEqual([moved.mediaPath]);
  });
});

describe('media checked at staging', () => {
  it.each([
    [
      'an HLS playlist',
      'evil.mxf',
      '#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n',
    ],
    ['a concat list', 'list.mp4', "ffconcat version 1.0\nfile '/etc/passwd'\n"],
    ['a text file', 'notes.mov', 'just some words\n'],
    ['no known media container', 'noise.ts', Buffer.from([0, 1, 2, 3, 0, 255, 254, 0])],
  ])('%s is refused with a clear staging error and nothing lands on the volume', async (what, key, content) => {
    await put(cast.home.id, `bad/${key}`, content);
    const asset = await stage(cast.home.id, `bad/${key}`);
    expect(asset).toMatchObject({ mediaStatus: 'ERROR', mediaPath: null });
    expect(asset.mediaError).toMatch(new RegExp(`^not a media file: it is ${what} \\(staged are MXF, QuickTime/MP4`));
    const left = await readdir(volumeDir, { recursive: true }).catch(() => [] as string[]);
    expect(left.map(String).filter((f) => f.includes(key) || f.endsWith('.partial'))).toEqual([]);
  });
});

describe('size and quota', () => {
  it('an object over MEDIA_MAX_OBJECT_BYTES is refused before anything is read', async () => {
    await put(cast.home.id, 'big/feature.mxf', media(MAX_OBJECT + 1));
    opens = [];
    const asset = await stage(cast.home.id, 'big/feature.mxf');
    expect(asset).toMatchObject({ mediaStatus: 'ERROR', mediaPath: null });
    expect(asset.mediaError).toBe(
      `too large: big/feature.mxf is ${MAX_OBJECT + 1} bytes, at most ${MAX_OBJECT} are staged (MEDIA_MAX_OBJECT_BYTES)`,
    );
    expect(opens).toEqual([]);
  });

  it('QUOTA_PROJECT_BYTES: a shared file counts once; the file that would pass it is refused and nothing is written', async () => {
    const project = await server.services.db.project.create({ data: { name: `quota-${Date.now()}` } });
    await put(project.id, 'a.mxf', media(50_000, 1));
    await put(project.id, 'b.mxf', media(50_000, 2));
    await put(project.id, 'c.mxf', media(30_000, 3));
    expect((await stage(project.id, 'a.mxf')).mediaStatus).toBe('READY');
    expect((await stage(project.id, 'b.mxf')).mediaStatus).toBe('READY');
    // 100,000 of 120,000 bytes: another asset of a.mxf needs no more.
    expect((await stage(project.id, 'a.mxf')).mediaStatus).toBe('READY');
    const before = await volumeFiles();
    const refused = await stage(project.id, 'c.mxf');
    expect(refused).toMatchObject({ mediaStatus: 'ERROR', mediaPath: null });
    expect(refused.mediaError).toBe(
      `the project's media quota is reached: 100000 of ${QUOTA_BYTES} bytes staged, this file needs 30000 (QUOTA_PROJECT_BYTES)`,
    );
    expect(await volumeFiles()).toEqual(before);
  });
});
