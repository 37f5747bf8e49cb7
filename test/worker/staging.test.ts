import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import type { AssetMediaEvent } from '../../src/services/pubsub.ts';
import { createLocalStore } from '../../src/services/storage/local-store.ts';
import type { MediaStore } from '../../src/services/storage/store.ts';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { outcome, tokenOf, ACTORS, useTestServer } from '../helpers/server.ts';

let tmp: string;
let storeDir: string;
let volumeDir: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'onair-staging-'));
  storeDir = path.join(tmp, 'store');
  volumeDir = path.join(tmp, 'volume');
  await mkdir(storeDir, { recursive: true });
});
afterAll(() => rm(tmp, { recursive: true, force: true }));
const { server, cast } = useTestServer(() => ({
  MEDIA_STORE_DIR: storeDir,
  MEDIA_VOLUME_DIR: volumeDir,
  STAGING_ATTEMPTS: '3',
  STAGING_BACKOFF_MS: '50',
}));
let playlistId: string;
const workers: Workers[] = [];
const extraServices: Services[] = [];

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const ADD = `mutation($input: AddItemInput!) { addItem(input: $input) { id mediaStatus } }`;
const ITEM = `query($id: ID!) { item(id: $id) { mediaStatus mediaError asset { id } } }`;

/** An MXF partition pack key: staging takes only files that start as a media container. */
const MXF = Buffer.from('060e2b34020501010d01020101020400', 'hex');
const media = (body: Buffer | string) => Buffer.concat([MXF, Buffer.from(body)]);

/** A clip in the home project's folder of the local media store, with the sha256 sidecar the store verifies against. */
async function putClip(key: string, content: Buffer, sidecar = sha256(content)) {
  const file = path.join(storeDir, cast.home.id, key);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  await writeFile(`${file}.sha256`, `${sidecar}  ${path.basename(key)}\n`);
}

/** Staged files are shared per store object: objects/<id>/<name of the key>. */
const STAGED = (name: string) =>
  expect.stringMatching(new RegExp(`^objects/[0-9a-f]{32}/${name.replace('.', '\\.')}$`));

async function newAsset(key: string) {
  return server.services.db.asset.create({
    data: { projectId: cast.home.id, filename: path.basename(key), storageKey: key },
  });
}

async function addItem(assetId: string, token = cast.operator.token) {
  const res = await server.gql(token, ADD, { input: { playlistId, assetId } });
  expect(res.errors).toBeUndefined();
  return res.data.addItem.id as string;
}

/** Polls the asset until its media status is one of `statuses`. */
async function waitForAsset(assetId: string, statuses: string[], timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const asset = await server.services.db.asset.findUniqueOrThrow({ where: { id: assetId } });
    if (statuses.includes(asset.mediaStatus)) return asset;
    if (Date.now() > deadline) throw new Error(`asset still ${asset.mediaStatus} (${asset.mediaError ?? ''})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Another worker process's view: its own services on the same database, Redis and queue. */
async function startWorker(store?: MediaStore, env: Record<string, string> = {}) {
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: 'silent',
    DATABASE_URL: server.services.config.databaseUrl,
    QUEUE_PREFIX: server.services.config.queuePrefix,
    MEDIA_STORE_DIR: storeDir,
    MEDIA_VOLUME_DIR: volumeDir,
    STAGING_ATTEMPTS: '3',
    STAGING_BACKOFF_MS: '50',
    ...env,
  });
  const services = createServices(config);
  extraServices.push(services);
  const started = await startWorkers(services, store ? { store } : {});
  workers.push(started);
  return started;
}

beforeAll(async () => {
  const channel = await insertChannel(server.services, cast.home.id);
  playlistId = (await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'staging' } })).id;
});

afterAll(async () => {
  for (const w of workers) await w.close();
  for (const s of extraServices) await s.close();
});

describe('staging from the local store', () => {
  it('copies the media once per asset, marks its items READY and tells the event bus', async () => {
    const content = media('x'.repeat(100_000 - MXF.length));
    await putClip('news/opener.mxf', content);
    const asset = await newAsset('news/opener.mxf');
    const events: AssetMediaEvent[] = [];
    const iterator = server.services.pubsub.subscribe('assetMedia', cast.home.id)[Symbol.asyncIterator]();
    const collecting = (async () => {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        events.push(next.value);
        if (next.value.status === 'READY') return;
      }
    })();
    // Redis SUBSCRIBE is asynchronous: give it a moment before the first publish.
    await new Promise((r) => setTimeout(r, 100));

    const itemId = await addItem(asset.id);
    expect((await server.gql(cast.viewer.token, ITEM, { id: itemId })).data.item.mediaStatus).toBe('PENDING');
    await startWorker();
    const staged = await waitForAsset(asset.id, ['READY', 'ERROR']);
    expect(staged).toMatchObject({
      mediaStatus: 'READY',
      mediaError: null,
      mediaPath: STAGED('opener.mxf'),
      mediaBytes: 100_000n,
    });
    expect(await readFile(path.join(volumeDir, staged.mediaPath as string))).toEqual(content);
    expect((await server.gql(cast.viewer.token, ITEM, { id: itemId })).data.item).toMatchObject({
      mediaStatus: 'READY',
      mediaError: null,
    });

    await collecting;
    await iterator.return?.();
    // Status changes, with progress reports in between.
    expect(events.filter((e) => !e.progress).map((e) => e.status)).toEqual(['STAGING', 'READY']);
    expect(
      events.filter((e) => e.progress).every((e) => e.status === 'STAGING' && e.progress!.totalBytes === 100_000),
    ).toBe(true);

    // A new item of a staged asset is READY at once, with no new job.
    const second = await addItem(asset.id);
    expect((await server.gql(cast.viewer.token, ITEM, { id: second })).data.item.mediaStatus).toBe('READY');
    expect(await server.services.queues.staging.getJobCounts()).toMatchObject({ waiting: 0, active: 0 });
  });

  it('twenty items of one asset added at once, two workers: one copy', async () => {
    await putClip('shows/ep1.mxf', media(Buffer.alloc(2_000_000, 7)));
    const asset = await newAsset('shows/ep1.mxf');
    // Exactly two workers, both counting the copies they start.
    for (const w of workers.splice(0)) await w.close();
    const local = createLocalStore({ root: storeDir });
    let opens = 0;
    const counting: MediaStore = {
      stat: (k) => local.stat(k),
      open: (k, o) => ((opens += 1), local.open(k, o)),
      close: () => local.close(),
    };
    await startWorker(counting);
    await startWorker(counting);
    await Promise.all(Array.from({ length: 20 }, () => addItem(asset.id)));
    await waitForAsset(asset.id, ['READY', 'ERROR']);
    const items = await server.services.db.item.findMany({ where: { assetId: asset.id } });
    expect(items).toHaveLength(20);
    expect(opens).toBe(1);
    const staged = await server.services.db.asset.findUniqueOrThrow({ where: { id: asset.id } });
    expect((await readdir(path.dirname(path.join(volumeDir, staged.mediaPath as string)))).sort()).toEqual(['ep1.mxf']);
  });

  it('a missing object and a corrupted one end in ERROR with the reason; the worker serves the next job', async () => {
    const missing = await newAsset('nowhere/missing.mxf');
    await addItem(missing.id);
    expect(await waitForAsset(missing.id, ['ERROR', 'READY'])).toMatchObject({
      mediaStatus: 'ERROR',
      mediaError: expect.stringContaining('not found in the media store'),
    });

    await putClip('bad/corrupt.mxf', media('the real bytes'), sha256('other bytes'));
    const corrupt = await newAsset('bad/corrupt.mxf');
    await addItem(corrupt.id);
    const failed = await waitForAsset(corrupt.id, ['ERROR', 'READY']);
    expect(failed).toMatchObject({
      mediaStatus: 'ERROR',
      mediaPath: null,
      mediaError: expect.stringContaining('checksum mismatch'),
    });
    // Nothing was left on the volume: no file, no partial copy.
    const onVolume = await readdir(path.join(volumeDir, 'objects'), { recursive: true }).catch(() => []);
    expect(onVolume.filter((f) => String(f).includes('corrupt'))).toEqual([]);

    await putClip('good/after.mxf', media('fine'));
    const good = await newAsset('good/after.mxf');
    await addItem(good.id);
    expect((await waitForAsset(good.id, ['READY', 'ERROR'])).mediaStatus).toBe('READY');
  });

  it('restageItem: operators and up; a fixed store then stages the asset', async () => {
    const asset = await newAsset('later/arrives.mxf');
    const itemId = await addItem(asset.id);
    await waitForAsset(asset.id, ['ERROR']);
    const restage = `mutation($id: ID!) { restageItem(id: $id) { id mediaStatus } }`;
    const expected: Record<string, string> = {
      admin: 'OK',
      editor: 'OK',
      operator: 'OK',
      viewer: 'FORBIDDEN',
      outsider: 'NOT_FOUND',
      revoked: 'UNAUTHENTICATED',
      anonymous: 'UNAUTHENTICATED',
    };
    await putClip('later/arrives.mxf', media('now here'));
    for (const actor of ACTORS) {
      if (actor === 'admin') continue;
      expect([actor, outcome(await server.gql(tokenOf(cast, actor), restage, { id: itemId }))]).toEqual([
        actor,
        expected[actor],
      ]);
    }
    expect(outcome(await server.gql(cast.admin.token, restage, { id: 'nope' }))).toBe('BAD_USER_INPUT');
    expect((await waitForAsset(asset.id, ['READY'])).mediaPath).toEqual(STAGED('arrives.mxf'));
  });
});

describe('staging from a store that is down', () => {
  it('retries with backoff, then ends in ERROR saying the store is unreachable', async () => {
    const s3Down = await startWorker(undefined, {
      MEDIA_STORE: 's3',
      S3_BUCKET: 'media',
      S3_ENDPOINT: 'http://127.0.0.1:9', // discard port: nothing listens
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'x',
      S3_SECRET_ACCESS_KEY: 'y',
      QUEUE_PREFIX: `${server.services.config.queuePrefix}-down`,
    });
    const services = extraServices[extraServices.length - 1];
    const asset = await newAsset('any/clip.mxf');
    await services.queues.stageAsset(asset.id);
    const failed = await waitForAsset(asset.id, ['ERROR', 'READY'], 30_000);
    expect(failed.mediaError).toMatch(/unreachable.*gave up after 3 attempts/i);
    await s3Down.close();
  });
});
