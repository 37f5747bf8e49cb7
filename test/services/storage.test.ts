import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
// @ts-expect-error s3rver ships no type declarations
import S3rverUntyped from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore, resolveInside } from '../../src/services/storage/local-store.ts';
import { checksumFromHead } from '../../src/services/storage/s3-store.ts';
import { createMediaStore } from '../../src/services/storage/index.ts';
import { StoreError, type MediaStore } from '../../src/services/storage/store.ts';

interface S3rver {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
const S3rver = S3rverUntyped as new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
}) => S3rver;

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const BUCKET = 'storage-test-media';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** The StoreError kind a promise rejects with (or 'resolved'). */
async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return (err as StoreError).kind;
  }
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'onair-storage-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('resolveInside', () => {
  it.each([
    ['', 'empty path'],
    ['a\0b', 'NUL'],
    ['/etc/passwd', 'absolute'],
    ['../x', "'..'"],
    ['a/../../x', "'..'"],
    ['a/../b', "'..'"],
    ['.', 'escapes'],
  ])('refuses %j', (rel, why) => {
    expect(() => resolveInside('/srv/media', rel)).toThrow(why);
  });

  it('accepts nested relative paths', () => {
    expect(resolveInside('/srv/media', 'shows/ep 1.mxf')).toBe('/srv/media/shows/ep 1.mxf');
  });
});

describe('local store', () => {
  let root: string;
  let store: MediaStore;
  beforeAll(async () => {
    root = path.join(tmp, 'local');
    await mkdir(path.join(root, 'shows', 'dir.mxf'), { recursive: true });
    await writeFile(path.join(root, 'shows', 'a.mxf'), 'hello media');
    await writeFile(path.join(root, 'shows', 'b.mxf'), 'with sha');
    await writeFile(path.join(root, 'shows', 'b.mxf.sha256'), `${sha256('with sha')}  b.mxf\n`);
    await writeFile(path.join(root, 'shows', 'c.mxf'), 'with md5');
    await writeFile(path.join(root, 'shows', 'c.mxf.md5'), md5('with md5').toUpperCase());
    await writeFile(path.join(root, 'shows', 'd.mxf'), 'bad sidecar');
    await writeFile(path.join(root, 'shows', 'd.mxf.sha256'), 'not a digest');
    store = createMediaStore({ kind: 'local', root });
  });

  it('stats a file: size, and a checksum only from a sidecar', async () => {
    expect(await store.stat('shows/a.mxf')).toEqual({ size: 11 });
    expect(await store.stat('shows/b.mxf')).toEqual({
      size: 8,
      checksum: { algorithm: 'sha256', value: sha256('with sha') },
    });
    expect(await store.stat('shows/c.mxf')).toEqual({
      size: 8,
      checksum: { algorithm: 'md5', value: md5('with md5') },
    });
    await expect(store.stat('shows/d.mxf')).rejects.toThrow('malformed checksum file shows/d.mxf.sha256');
  });

  it('opens a file as a stream', async () => {
    expect(await text(await store.open('shows/a.mxf'))).toBe('hello media');
  });

  it('missing keys and directories: stat null, open NOT_FOUND', async () => {
    expect(await store.stat('shows/nope.mxf')).toBeNull();
    expect(await store.stat('shows/dir.mxf')).toBeNull();
    expect(await kindOf(store.open('shows/nope.mxf'))).toBe('NOT_FOUND');
    expect(await kindOf(store.open('shows/dir.mxf'))).toBe('NOT_FOUND');
    await expect(store.open('shows/nope.mxf')).rejects.toThrow('not found in the media store: shows/nope.mxf');
  });

  it('refuses keys escaping the root', async () => {
    for (const key of ['../local/shows/a.mxf', path.join(root, 'shows/a.mxf'), 'shows/a.mxf\0', '']) {
      expect(await kindOf(store.stat(key))).toBe('OTHER');
      expect(await kindOf(store.open(key))).toBe('OTHER');
    }
    await expect(store.open('../etc/passwd')).rejects.toThrow(/invalid media key .*'\.\.'/);
  });

  it('a missing root (unmounted share) is UNREACHABLE, not NOT_FOUND', async () => {
    const gone = createLocalStore({ root: path.join(tmp, 'not-mounted') });
    expect(await kindOf(gone.stat('shows/a.mxf'))).toBe('UNREACHABLE');
    expect(await kindOf(gone.open('shows/a.mxf'))).toBe('UNREACHABLE');
  });

  it('an aborted signal refuses to open', async () => {
    await expect(store.open('shows/a.mxf', { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});

describe('checksumFromHead', () => {
  const hex = md5('x');
  it.each([
    ['single-part ETag is an md5', { ETag: `"${hex}"` }, { algorithm: 'md5', value: hex }],
    ['upper-case ETag', { ETag: `"${hex.toUpperCase()}"` }, { algorithm: 'md5', value: hex }],
    ['multipart ETag is not', { ETag: `"${hex}-3"` }, undefined],
    ['SSE-KMS ETag is not', { ETag: `"${hex}"`, ServerSideEncryption: 'aws:kms' }, undefined],
    ['SSE-C ETag is not', { ETag: `"${hex}"`, SSECustomerAlgorithm: 'AES256' }, undefined],
    ['no ETag', {}, undefined],
    [
      'full-object SHA-256 wins',
      {
        ETag: `"${hex}"`,
        ChecksumSHA256: Buffer.from(sha256('x'), 'hex').toString('base64'),
        ChecksumType: 'FULL_OBJECT',
      },
      { algorithm: 'sha256', value: sha256('x') },
    ],
    [
      'composite SHA-256 is not',
      { ChecksumSHA256: Buffer.from(sha256('x'), 'hex').toString('base64'), ChecksumType: 'COMPOSITE' },
      undefined,
    ],
  ])('%s', (_label, head, expected) => {
    expect(checksumFromHead(head)).toEqual(expected);
  });
});

describe('S3 store (s3rver)', () => {
  let server: S3rver;
  let endpoint: string;
  let store: MediaStore;
  let admin: S3Client;

  beforeAll(async () => {
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(tmp, 's3rver') });
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
    await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'media/shows/a.mxf', Body: 'hello s3 media' }));
    store = createMediaStore({
      kind: 's3',
      endpoint,
      bucket: BUCKET,
      prefix: 'media/',
      forcePathStyle: true,
      credentials: CREDENTIALS,
    });
  });
  afterAll(async () => {
    await store?.close();
    admin?.destroy();
    await server?.close();
  });

  it('stats an object: size and the ETag as md5', async () => {
    expect(await store.stat('shows/a.mxf')).toEqual({
      size: 14,
      checksum: { algorithm: 'md5', value: md5('hello s3 media') },
    });
  });

  it('opens an object as a stream', async () => {
    expect(await text(await store.open('shows/a.mxf'))).toBe('hello s3 media');
  });

  it('missing keys: stat null, open NOT_FOUND', async () => {
    expect(await store.stat('shows/nope.mxf')).toBeNull();
    expect(await kindOf(store.open('shows/nope.mxf'))).toBe('NOT_FOUND');
    await expect(store.open('shows/nope.mxf')).rejects.toThrow('not found in the media store: shows/nope.mxf');
  });

  it('a missing bucket is OTHER, naming the bucket', async () => {
    const wrong = createMediaStore({
      kind: 's3',
      endpoint,
      bucket: 'no-such-bucket',
      forcePathStyle: true,
      credentials: CREDENTIALS,
    });
    await expect(wrong.open('shows/a.mxf')).rejects.toMatchObject({
      kind: 'OTHER',
      message: expect.stringContaining('no-such-bucket'),
    });
    await wrong.close();
  });

  it('a server that is down is UNREACHABLE', async () => {
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
    expect(await kindOf(down.stat('shows/a.mxf'))).toBe('UNREACHABLE');
    expect(await kindOf(down.open('shows/a.mxf'))).toBe('UNREACHABLE');
    await expect(down.stat('shows/a.mxf')).rejects.toThrow(
      `media store http://127.0.0.1:${port}/${BUCKET} unreachable`,
    );
    await down.close();
  });
});
