import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
// @ts-expect-error s3rver ships no type declarations
import S3rverUntyped from 's3rver';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';

const S3rver = S3rverUntyped as new (o: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
}) => {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
};

const { server, cast } = useTestServer();
let tmp: string;
let playlistId: string;
const children: ChildProcess[] = [];

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A worker as its own process (`onair worker`), on the test server's database and queue. */
function spawnWorker(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      LOG_LEVEL: 'silent',
      DATABASE_URL: server.services.config.databaseUrl,
      QUEUE_PREFIX: server.services.config.queuePrefix,
      ...env,
    },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

const assetStatus = async (id: string) =>
  (await server.services.db.asset.findUniqueOrThrow({ where: { id } })).mediaStatus;

async function stageThroughApi(storageKey: string, filename: string) {
  const asset = await server.services.db.asset.create({ data: { projectId: cast.home.id, filename, storageKey } });
  const res = await server.gql(cast.operator.token, 'mutation($i: AddItemInput!) { addItem(input: $i) { id } }', {
    i: { playlistId, assetId: asset.id },
  });
  expect(res.errors).toBeUndefined();
  return asset;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'onair-staging-faults-'));
  const channel = await insertChannel(server.services, cast.home.id);
  playlistId = (await server.services.db.playlist.create({ data: { channelId: channel.id, name: 'faults' } })).id;
});

// Each test's workers go with it, so none takes the next test's jobs.
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('a worker killed in the middle of a copy', () => {
  it('another worker finishes the job: one good file, no leftovers, memory bounded for a 400 MB file', async () => {
    const storeDir = path.join(tmp, 'store');
    const volumeDir = path.join(tmp, 'volume');
    await mkdir(storeDir, { recursive: true });
    // The same worker, idle on a queue of its own: its peak is the baseline the copy adds to.
    // (On a database of its own: its start-up sweep must not take this test's asset.)
    const idleDb = await createTestDatabase();
    const idle = spawnWorker({
      DATABASE_URL: idleDb.url,
      MEDIA_STORE_DIR: storeDir,
      MEDIA_VOLUME_DIR: path.join(tmp, 'idle'),
      QUEUE_PREFIX: `${server.services.config.queuePrefix}-idle`,
    });
    // 400 MB of incompressible data, written and hashed in 1 MB chunks.
    const hash = createHash('sha256');
    await mkdir(path.join(storeDir, cast.home.id), { recursive: true });
    const out = createWriteStream(path.join(storeDir, cast.home.id, 'big.mxf'));
    // Staging takes only files that start as a media container: an MXF partition pack key.
    const header = Buffer.from('060e2b34020501010d01020101020400', 'hex');
    hash.update(header);
    out.write(header);
    const chunk = randomBytes(1 << 20);
    for (let i = 0; i < 400; i++) {
      chunk[0] = i & 0xff;
      hash.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const digest = hash.digest('hex');
    await writeFile(path.join(storeDir, cast.home.id, 'big.mxf.sha256'), `${digest}  big.mxf\n`);

    const env = {
      MEDIA_STORE_DIR: storeDir,
      MEDIA_VOLUME_DIR: volumeDir,
      STAGING_LOCK_MS: '1000',
      STAGING_BACKOFF_MS: '50',
    };
    const first = spawnWorker(env);
    const asset = await stageThroughApi('big.mxf', 'big.mxf');
    // The object's folder on the volume: objects/<id>/.
    let assetDir = '';
    await until(
      async () => {
        const [id] = await readdir(path.join(volumeDir, 'objects')).catch(() => [] as string[]);
        if (id) assetDir = path.join(volumeDir, 'objects', id);
        return id !== undefined;
      },
      'the first worker to start its copy',
      30_000,
      20,
    );
    // Kill it once it has written a good part of the file.
    await until(
      async () => {
        const names = await readdir(assetDir).catch(() => [] as string[]);
        const partial = names.find((n) => n.endsWith('.partial'));
        return partial && (await stat(path.join(assetDir, partial))).size > 50 << 20;
      },
      'the first worker to copy 50 MB',
      30_000,
      20,
    );
    first.kill('SIGKILL');
    await new Promise<void>((resolve) => first.once('exit', () => resolve()));
    expect((await readdir(assetDir)).filter((n) => n.endsWith('.partial'))).toHaveLength(1);
    expect(await assetStatus(asset.id)).toBe('STAGING');

    const second = spawnWorker(env);
    await until(async () => (await assetStatus(asset.id)) === 'READY', 'the second worker to finish', 60_000, 20);
    const peakKb = async (pid?: number) =>
      Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
    const [copying, baseline] = [await peakKb(second.pid), await peakKb(idle.pid)];
    second.kill('SIGTERM');
    idle.kill('SIGKILL');
    await idleDb.drop();

    expect(await readdir(assetDir)).toEqual(['big.mxf']);
    const copied = createHash('sha256');
    for await (const piece of createReadStream(path.join(assetDir, 'big.mxf'))) copied.update(piece as Buffer);
    expect(copied.digest('hex')).toBe(digest);
    // Streaming: the copy adds a few MB to what an idle worker holds, whatever the file's size.
    const growthMb = (copying - baseline) / 1024;
    console.info(
      `staging worker peak RSS: idle ${(baseline / 1024).toFixed(0)} MB, copying 400 MB ${(copying / 1024).toFixed(0)} MB`,
    );
    expect(growthMb).toBeLessThan(64);
  }, 120_000);
});

describe('staging from an S3-compatible store', () => {
  it('copies from the bucket and verifies the ETag', async () => {
    const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(tmp, 's3rver') });
    const { port } = await s3.run();
    try {
      const endpoint = `http://127.0.0.1:${port}`;
      const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
      const client = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials,
        requestChecksumCalculation: 'WHEN_REQUIRED',
      });
      await client.send(new CreateBucketCommand({ Bucket: 'media' }));
      const body = Buffer.concat([Buffer.from('060e2b34020501010d01020101020400', 'hex'), randomBytes(3 << 20)]);
      await client.send(new PutObjectCommand({ Bucket: 'media', Key: `${cast.home.id}/promos/spot.mxf`, Body: body }));
      client.destroy();

      const volumeDir = path.join(tmp, 'volume-s3');
      spawnWorker({
        MEDIA_STORE: 's3',
        S3_BUCKET: 'media',
        S3_ENDPOINT: endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        S3_ACCESS_KEY_ID: 'S3RVER',
        S3_SECRET_ACCESS_KEY: 'S3RVER',
        MEDIA_VOLUME_DIR: volumeDir,
      });
      const asset = await stageThroughApi('promos/spot.mxf', 'spot.mxf');
      await until(
        async () => (await assetStatus(asset.id)) !== 'PENDING' && (await assetStatus(asset.id)) !== 'STAGING',
        'staging',
        30_000,
        20,
      );
      expect(await assetStatus(asset.id)).toBe('READY');
      const row = await server.services.db.asset.findUniqueOrThrow({ where: { id: asset.id } });
      expect(await readFile(path.join(volumeDir, row.mediaPath as string))).toEqual(body);
    } finally {
      await s3.close();
    }
  }, 60_000);
});

describe('a full playout volume', () => {
  it('ends in ERROR saying the volume is full, and leaves nothing behind', async (ctx) => {
    const volumeDir = path.join(tmp, 'tiny-volume');
    await mkdir(volumeDir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', volumeDir], { stdio: 'ignore' });
    } catch {
      ctx.skip(); // mounting needs root; the copy's own tests cover ENOSPC too
    }
    try {
      const storeDir = path.join(tmp, 'store-full');
      await mkdir(path.join(storeDir, cast.home.id), { recursive: true });
      const huge = Buffer.alloc(8 << 20, 1);
      Buffer.from('060e2b34020501010d01020101020400', 'hex').copy(huge);
      await writeFile(path.join(storeDir, cast.home.id, 'huge.mxf'), huge);
      spawnWorker({ MEDIA_STORE_DIR: storeDir, MEDIA_VOLUME_DIR: volumeDir });
      const asset = await stageThroughApi('huge.mxf', 'huge.mxf');
      await until(async () => (await assetStatus(asset.id)) === 'ERROR', 'ERROR', 30_000, 20);
      const row = await server.services.db.asset.findUniqueOrThrow({ where: { id: asset.id } });
      expect(row.mediaError).toMatch(/volume full/i);
      const left = await readdir(path.join(volumeDir, 'objects'), { recursive: true }).catch(() => [] as string[]);
      expect(left.filter((f) => /huge|partial/.test(String(f)))).toEqual([]);
    } finally {
      execFileSync('umount', ['-l', volumeDir], { stdio: 'ignore' });
    }
  }, 60_000);
});
