import { GetObjectCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Readable, addAbortSignal } from 'node:stream';
import {
  StoreError,
  badKeyReason,
  isAbortError,
  isUnreachableError,
  type MediaStore,
  type StoreChecksum,
  type StoreObjectInfo,
} from './store.ts';

export interface S3StoreConfig {
  bucket: string;
  /** Prepended to every key, e.g. `media/`. @defaultValue '' */
  prefix?: string;
  /** @defaultValue us-east-1 (S3-compatible servers mostly ignore it) */
  region?: string;
  /** For S3-compatible servers (MinIO, Ceph, …); AWS when absent. */
  endpoint?: string;
  /** Path-style URLs; most S3-compatible servers need it. @defaultValue false */
  forcePathStyle?: boolean;
  /** Static credentials; the SDK's default chain (env, profile, instance role) when absent. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request, retries included. @defaultValue 3 */
  maxAttempts?: number;
  /** @defaultValue 5000 */
  connectTimeoutMs?: number;
  /** Socket idle time before a request (or a body download) is abandoned. @defaultValue 30000 */
  idleTimeoutMs?: number;
}

const MD5_ETAG = /^"?([0-9a-fA-F]{32})"?$/;

/**
 * The checksum HeadObject vouches for. A full-object SHA-256 when the object
 * was uploaded with one; otherwise the ETag, which is the content MD5 only
 * for single-part uploads without SSE-KMS/SSE-C (multipart ETags end in
 * `-<parts>`, encrypted ones are opaque).
 */
export function checksumFromHead(head: {
  ETag?: string;
  ChecksumSHA256?: string;
  ChecksumType?: string;
  ServerSideEncryption?: string;
  SSECustomerAlgorithm?: string;
}): StoreChecksum | undefined {
  if (head.ChecksumSHA256 && head.ChecksumType !== 'COMPOSITE' && !head.ChecksumSHA256.includes('-')) {
    const hex = Buffer.from(head.ChecksumSHA256, 'base64').toString('hex');
    if (hex.length === 64) return { algorithm: 'sha256', value: hex };
  }
  if (head.SSECustomerAlgorithm || head.ServerSideEncryption?.startsWith('aws:kms')) return undefined;
  const match = head.ETag ? MD5_ETAG.exec(head.ETag) : null;
  return match ? { algorithm: 'md5', value: match[1].toLowerCase() } : undefined;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function mapError(err: unknown, key: string, where: string): Error {
  if (err instanceof StoreError || isAbortError(err)) return err as Error;
  const status = httpStatus(err);
  const name = (err as Error).name;
  // Also a 404, but a configuration fault rather than a missing asset.
  if (name === 'NoSuchBucket') {
    return new StoreError('OTHER', `media store bucket ${where} does not exist`, { cause: err });
  }
  if (status === 404 || name === 'NotFound' || name === 'NoSuchKey') {
    return new StoreError('NOT_FOUND', `not found in the media store: ${key}`, { cause: err });
  }
  // 5xx and throttling are the service failing, not the request: retryable like a dead socket.
  if ((status !== undefined && status >= 500) || name === 'SlowDown' || isUnreachableError(err)) {
    return new StoreError('UNREACHABLE', `media store ${where} unreachable: ${(err as Error).message || name}`, {
      cause: err,
    });
  }
  if (status === 403 || name === 'AccessDenied') {
    return new StoreError('OTHER', `access denied by the media store for ${key}`, { cause: err });
  }
  const detail =
    err instanceof S3ServiceException ? `${err.name}: ${err.message}` : String((err as Error).message ?? err);
  return new StoreError('OTHER', `media store error for ${key}: ${detail}`, { cause: err });
}

export function createS3Store(config: S3StoreConfig): MediaStore {
  const client = new S3Client({
    region: config.region ?? 'us-east-1',
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle ?? false,
    credentials: config.credentials,
    maxAttempts: config.maxAttempts ?? 3,
    requestHandler: {
      connectionTimeout: config.connectTimeoutMs ?? 5000,
      requestTimeout: config.idleTimeoutMs ?? 30_000,
    },
    // We verify content ourselves; the SDK's checksum headers trip some S3-compatible servers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const prefix = config.prefix ?? '';
  const where = config.endpoint ? `${config.endpoint}/${config.bucket}` : `s3://${config.bucket}`;

  function objectKey(key: string): string {
    const reason = badKeyReason(key);
    if (reason) throw new StoreError('OTHER', `invalid media key ${JSON.stringify(key)}: ${reason}`);
    return prefix + key;
  }

  return {
    async stat(key: string): Promise<StoreObjectInfo | null> {
      const Key = objectKey(key);
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: config.bucket, Key, ChecksumMode: 'ENABLED' }));
        const checksum = checksumFromHead(head);
        const size = head.ContentLength ?? 0;
        return checksum ? { size, checksum } : { size };
      } catch (err) {
        const mapped = mapError(err, key, where);
        if (mapped instanceof StoreError && mapped.kind === 'NOT_FOUND') return null;
        throw mapped;
      }
    },

    async open(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
      const Key = objectKey(key);
      options.signal?.throwIfAborted();
      let body: unknown;
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: config.bucket, Key }), {
          abortSignal: options.signal,
        });
        body = res.Body;
      } catch (err) {
        throw mapError(err, key, where);
      }
      if (!(body instanceof Readable)) throw new StoreError('OTHER', `media store returned no body for ${key}`);
      // The abortSignal above only covers the request; the body needs its own.
      return options.signal ? addAbortSignal(options.signal, body) : body;
    },

    async close() {
      client.destroy();
    },
  };
}
