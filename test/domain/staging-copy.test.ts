import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, mkdir, mkdtemp, open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
// @ts-expect-error s3rver ships no type declarations
import S3rverUntyped from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StagingError, cleanupPartials, stageFile, type StageOptions } from '../../src/domain/media/staging/copy.ts';
import { createMediaStore } from '../../src/services/storage/index.ts';
import type { MediaStore } from '../../src/services/storage/store.ts';

interface S3rver {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  httpServer: { closeAllConnections(): void };
}
const S3rver = S3rverUntyped as new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
}) => S3rver;

const BUCKET = 'staging-copy-media';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const MiB = 1024 * 1024;
const LARGE = 50 * MiB;
const RSS_BUDGET = 64 * MiB;
const COPY_MODULE = fileURLToPath(new URL('../../src/domain/media/staging/copy.ts', import.meta.url));
const STORE_MODULE = fileURLToPath(new URL('../../src/services/storage/index.ts', import.meta.url));

/** Writes `size` random bytes chunk by chunk (never one big buffer); returns md5 and sha256. */
async function writeRandomFile(file: string, size: number) {
  const md5 = createHash('md5');
  const sha = createHash('sha256');
  async function* chunks() {
    for (let left = size; left > 0; left -= MiB) {
      const chunk = randomBytes(Math.min(MiB, left));
      md5.update(chunk);
      sha.update(chunk);
      yield chunk;
    }
  }
  await mkdir(path.dirname(file), { recursive: true });
  await pipeline(Readable.from(chunks()), createWriteStream(file));
  return { md5: md5.digest('hex'), sha256: sha.digest('hex') };
}

async function fileMd5(file: string) {
  const hash = createHash('md5');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Every file under `dir`, relative, sorted: what an operator would see with `find`. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

async function stagingFailure(p: Promise<unknown>): Promise<StagingError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StagingError);
  return err as StagingError;
}

/** Copies while sampling RSS; returns the growth over the starting RSS. */
async function stageMeasured(store: MediaStore, key: string, volume: string, dest: string) {
  const start = process.memoryUsage.rss();
  let peak = start;
  const onProgress: StageOptions['onProgress'] = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  const result = await stageFile(store, key, volume, dest, { onProgress });
  return { result, growth: Math.max(peak, process.memoryUsage.rss()) - start };
}

let tmp: string;
let srcRoot: string;
let s3Dir: string;
let server: S3rver;
let endpoint: string;
let admin: S3Client;
let local: MediaStore;
let s3: MediaStore;
let large: { md5: string; sha256: string };
let volumeCounter = 0;
/** A fresh, empty playout volume per test. */
const freshVolume = async () => {
  const dir = path.join(tmp, `volume-${++volumeCounter}`);
  await mkdir(dir, { recursive: true });
  return dir;
};
/** Where s3rver keeps an object's bytes: lets a test rot or truncate them behind the server's back. */
const s3ObjectFile = (key: string) => path.join(s3Dir, BUCKET, `${key}._S3rver_object`);

async function putS3(key: string, body: string | Buffer | Readable, length?: number) {
  await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentLength: length }));
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'onair-staging-'));
  srcRoot = path.join(tmp, 'store');
  s3Dir = path.join(tmp, 's3rver');
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3Dir });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
  admin = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));

  await mkdir(path.join(srcRoot, 'shows'), { recursive: true });
  await writeFile(path.join(srcRoot, 'shows', 'small.mxf'), 'small clip');
  large = await writeRandomFile(path.join(srcRoot, 'shows', 'large.mxf'), LARGE);
  await writeFile(path.join(srcRoot, 'shows', 'large.mxf.sha256'), `${large.sha256}  large.mxf\n`);
  await putS3('shows/small.mxf', 'small s3 clip');
  await putS3('shows/large.mxf', createReadStream(path.join(srcRoot, 'shows', 'large.mxf')), LARGE);

  local = createMediaStore({ kind: 'local', root: srcRoot });
  s3 = createMediaStore({ kind: 's3', endpoint, bucket: BUCKET, forcePathStyle: true, credentials: CREDENTIALS });
}, 30_000);

afterAll(async () => {
  await s3?.close();
  admin?.destroy();
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('stageFile', () => {
  it.each([
    ['local', () => local, 'small clip'],
    ['S3', () => s3, 'small s3 clip'],
  ])('copies a small file from the %s store once', async (_label, store, content) => {
    const volume = await freshVolume();
    const first = await stageFile(store(), 'shows/small.mxf', volume, 'ch1/small.mxf');
    expect(first).toMatchObject({ copied: true, size: content.length, path: path.join(volume, 'ch1/small.mxf') });
    expect(await readFile(path.join(volume, 'ch1/small.mxf'), 'utf8')).toBe(content);
    const before = await stat(path.join(volume, 'ch1/small.mxf'));

    const again = await stageFile(store(), 'shows/small.mxf', volume, 'ch1/small.mxf');
    expect(again.copied).toBe(false);
    expect((await stat(path.join(volume, 'ch1/small.mxf'))).ino).toBe(before.ino);
    expect(await listFiles(volume)).toEqual(['ch1/small.mxf']);
  });

  it.each([
    ['local (sha256 sidecar)', () => local, { algorithm: 'sha256' }],
    ['S3 (ETag md5)', () => s3, { algorithm: 'md5' }],
  ])('streams a 50 MB file from the %s store in bounded memory', async (label, store, checksum) => {
    const volume = await freshVolume();
    const { result, growth } = await stageMeasured(store(), 'shows/large.mxf', volume, 'large.mxf');
    expect(result).toMatchObject({ copied: true, size: LARGE, checksum });
    expect(await fileMd5(path.join(volume, 'large.mxf'))).toBe(large.md5);
    process.stderr.write(`[staging-copy] ${label}: 50 MiB copied, RSS growth ${(growth / MiB).toFixed(1)} MiB\n`);
    expect(growth).toBeLessThan(RSS_BUDGET);
    expect(await listFiles(volume)).toEqual(['large.mxf']);
  });

  it('replaces a destination whose size or content is wrong', async () => {
    const volume = await freshVolume();
    await writeFile(path.join(volume, 'a.mxf'), 'old');
    await writeFile(path.join(volume, 'b.mxf'), 'XXXXX s3 clip');
    expect((await stageFile(s3, 'shows/small.mxf', volume, 'a.mxf')).copied).toBe(true);
    // Same size, wrong bytes: only the checksum can tell.
    expect((await stageFile(s3, 'shows/small.mxf', volume, 'b.mxf')).copied).toBe(true);
    expect(await readFile(path.join(volume, 'b.mxf'), 'utf8')).toBe('small s3 clip');
    expect(await listFiles(volume)).toEqual(['a.mxf', 'b.mxf']);
  });

  it.each([
    ['local', () => local],
    ['S3', () => s3],
  ])('a missing key in the %s store is NOT_FOUND', async (_label, store) => {
    const volume = await freshVolume();
    const err = await stagingFailure(stageFile(store(), 'shows/missing.mxf', volume, 'x.mxf'));
    expect(err.kind).toBe('NOT_FOUND');
    expect(err.message).toBe('not found in the media store: shows/missing.mxf');
    expect(await listFiles(volume)).toEqual([]);
  });

  it('a store that is down is STORE_UNREACHABLE', async () => {
    const volume = await freshVolume();
    const other = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(tmp, 's3rver-down') });
    const { port } = await other.run();
    await other.close();
    const down = createMediaStore({
      kind: 's3',
      endpoint: `http://127.0.0.1:${port}`,
      bucket: BUCKET,
      forcePathStyle: true,
      credentials: CREDENTIALS,
      maxAttempts: 1,
    });
    const err = await stagingFailure(stageFile(down, 'shows/small.mxf', volume, 'x.mxf'));
    expect(err.kind).toBe('STORE_UNREACHABLE');
    expect(err.message).toMatch(/unreachable.*ECONNREFUSED/);
    await down.close();

    const unmounted = createMediaStore({ kind: 'local', root: path.join(tmp, 'nas-not-mounted') });
    expect((await stagingFailure(stageFile(unmounted, 'shows/small.mxf', volume, 'x.mxf'))).kind).toBe(
      'STORE_UNREACHABLE',
    );
    expect(await listFiles(volume)).toEqual([]);
  });

  it('a connection dropped mid-body is STORE_UNREACHABLE, leaving nothing behind', async () => {
    const flaky = new S3rver({
      port: 0,
      address: '127.0.0.1',
      silent: true,
      directory: path.join(tmp, 's3rver-flaky'),
    });
    const { port } = await flaky.run();
    const flakyEndpoint = `http://127.0.0.1:${port}`;
    const flakyAdmin = new S3Client({
      endpoint: flakyEndpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    await flakyAdmin.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await flakyAdmin.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'big.mxf',
        Body: createReadStream(path.join(srcRoot, 'shows', 'large.mxf')),
        ContentLength: LARGE,
      }),
    );
    const store = createMediaStore({
      kind: 's3',
      endpoint: flakyEndpoint,
      bucket: BUCKET,
      forcePathStyle: true,
      credentials: CREDENTIALS,
    });
    const volume = await freshVolume();
    try {
      const err = await stagingFailure(
        stageFile(store, 'big.mxf', volume, 'big.mxf', {
          onProgress: (copied) => copied >= 4 * MiB && flaky.httpServer.closeAllConnections(),
        }),
      );
      expect(err.kind).toBe('STORE_UNREACHABLE');
      expect(err.message).toMatch(/^media store connection lost while reading big\.mxf/);
      expect(await listFiles(volume)).toEqual([]);
    } finally {
      await store.close();
      flakyAdmin.destroy();
      await flaky.close();
    }
  });

  it('bit rot on the S3 server is CHECKSUM_MISMATCH, leaving nothing behind', async () => {
    await putS3('rot/s3.mxf', 'pristine media bytes');
    // Flip bytes in place: same size, and s3rver keeps serving the original md5 as the ETag.
    const handle = await open(s3ObjectFile('rot/s3.mxf'), 'r+');
    await handle.write('ROTTEN', 0);
    await handle.close();
    const volume = await freshVolume();
    const err = await stagingFailure(stageFile(s3, 'rot/s3.mxf', volume, 'rot.mxf'));
    expect(err.kind).toBe('CHECKSUM_MISMATCH');
    const expected = createHash('md5').update('pristine media bytes').digest('hex');
    const got = createHash('md5').update('ROTTENne media bytes').digest('hex');
    expect(err.message).toBe(`checksum mismatch for rot/s3.mxf: expected md5 ${expected} got ${got}`);
    expect(await listFiles(volume)).toEqual([]);
  });

  it('a local file that no longer matches its sha256 sidecar is CHECKSUM_MISMATCH', async () => {
    await mkdir(path.join(srcRoot, 'rot'), { recursive: true });
    await writeFile(path.join(srcRoot, 'rot', 'local.mxf'), 'ROTTEN');
    await writeFile(path.join(srcRoot, 'rot', 'local.mxf.sha256'), createHash('sha256').update('intact').digest('hex'));
    const volume = await freshVolume();
    const err = await stagingFailure(stageFile(local, 'rot/local.mxf', volume, 'deep/dir/rot.mxf'));
    expect(err.kind).toBe('CHECKSUM_MISMATCH');
    expect(err.message).toMatch(
      /^checksum mismatch for rot\/local\.mxf: expected sha256 [0-9a-f]{64} got [0-9a-f]{64}$/,
    );
    expect(await listFiles(volume)).toEqual([]);
  });

  it('an object truncated between HEAD and GET is SIZE_MISMATCH', async () => {
    await putS3('cut/s3.mxf', '0123456789abcdef');
    // The real store, with the object rewritten by someone else after our HEAD.
    const racing: MediaStore = {
      stat: (key) => s3.stat(key),
      open: async (key, options) => {
        await truncate(s3ObjectFile(key), 6);
        return s3.open(key, options);
      },
      close: async () => {},
    };
    const volume = await freshVolume();
    const err = await stagingFailure(stageFile(racing, 'cut/s3.mxf', volume, 'cut.mxf'));
    expect(err.kind).toBe('SIZE_MISMATCH');
    expect(err.message).toBe('size mismatch for cut/s3.mxf: expected 16 bytes, got 6');
    expect(await listFiles(volume)).toEqual([]);
  });

  it('a local file that grows after stat is SIZE_MISMATCH without reading it all', async () => {
    await mkdir(path.join(srcRoot, 'grow'), { recursive: true });
    await writeFile(path.join(srcRoot, 'grow', 'live.mxf'), 'first part');
    const growing: MediaStore = {
      stat: (key) => local.stat(key),
      open: async (key, options) => {
        await appendFile(path.join(srcRoot, key), ' and a second part still being written');
        return local.open(key, options);
      },
      close: async () => {},
    };
    const volume = await freshVolume();
    const err = await stagingFailure(stageFile(growing, 'grow/live.mxf', volume, 'live.mxf'));
    expect(err.kind).toBe('SIZE_MISMATCH');
    expect(err.message).toBe('size mismatch for grow/live.mxf: expected 10 bytes, got more');
    expect(await listFiles(volume)).toEqual([]);
  });

  it('refuses a destination outside the volume', async () => {
    const volume = await freshVolume();
    for (const dest of ['../escape.mxf', '/etc/escape.mxf', 'a\0b']) {
      expect((await stagingFailure(stageFile(local, 'shows/small.mxf', volume, dest))).kind).toBe('OTHER');
    }
    expect(await listFiles(tmp).then((all) => all.filter((f) => f.includes('escape')))).toEqual([]);
  });

  it('an abort mid-stream is ABORTED and removes the partial file', async () => {
    const volume = await freshVolume();
    const controller = new AbortController();
    const err = await stagingFailure(
      stageFile(local, 'shows/large.mxf', volume, 'large.mxf', {
        signal: controller.signal,
        onProgress: (copied) => copied >= 4 * MiB && controller.abort(),
      }),
    );
    expect(err.kind).toBe('ABORTED');
    expect(await listFiles(volume)).toEqual([]);
  });
});

/** A tmpfs of `size` mounted for the test, or null when this machine will not let us mount. */
function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('a full playout volume', () => {
  it('is VOLUME_FULL, leaving no partial file', async (ctx) => {
    const volume = await freshVolume();
    if (!mountTmpfs(volume, '4m')) ctx.skip('mount -t tmpfs is not permitted here (needs root)');
    try {
      const err = await stagingFailure(stageFile(local, 'shows/large.mxf', volume, 'ch1/large.mxf'));
      expect(err.kind).toBe('VOLUME_FULL');
      expect(err.message).toBe(`playout volume full: cannot write ch1/large.mxf (${LARGE} bytes needed)`);
      expect(await listFiles(volume)).toEqual([]);
      // Smaller media still fits once the failed copy is gone.
      expect((await stageFile(local, 'shows/small.mxf', volume, 'ch1/small.mxf')).copied).toBe(true);
    } finally {
      execFileSync('umount', [volume]);
    }
  });
});

describe('a copy killed mid-stream', () => {
  it('leaves a partial that cleanupPartials removes; the retry leaves one good file', async () => {
    const volume = await freshVolume();
    // A separate process SIGKILLs itself mid-copy: no finally block runs, as in a real crash.
    const script = `
      const { stageFile } = await import(${JSON.stringify(COPY_MODULE)});
      const { createMediaStore } = await import(${JSON.stringify(STORE_MODULE)});
      const store = createMediaStore({ kind: 'local', root: ${JSON.stringify(srcRoot)} });
      await stageFile(store, 'shows/large.mxf', ${JSON.stringify(volume)}, 'ch1/large.mxf', {
        onProgress: (copied) => { if (copied >= ${8 * MiB}) process.kill(process.pid, 'SIGKILL'); },
      });
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const signal = await new Promise((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    expect(signal, stderr).toBe('SIGKILL');

    const leftovers = await listFiles(volume);
    expect(leftovers).toHaveLength(1);
    expect(leftovers[0]).toMatch(/^ch1\/\.large\.mxf\.[0-9a-f]{16}\.partial$/);

    // A fresh partial may belong to a live copy: the default age keeps it.
    expect(await cleanupPartials(volume)).toEqual([]);
    expect(await cleanupPartials(volume, { olderThanMs: 0 })).toEqual(leftovers);

    expect((await stageFile(local, 'shows/large.mxf', volume, 'ch1/large.mxf')).copied).toBe(true);
    expect(await listFiles(volume)).toEqual(['ch1/large.mxf']);
    expect(await fileMd5(path.join(volume, 'ch1/large.mxf'))).toBe(large.md5);
  });
});
