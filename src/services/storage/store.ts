import type { Readable } from 'node:stream';
import { createLocalStore } from './local-store.ts';
import { createS3Store, type S3StoreConfig } from './s3-store.ts';
import { KindedError } from '../../errors.ts';

/** A checksum the store vouches for, as lowercase hex. */
export interface StoreChecksum {
  algorithm: 'md5' | 'sha256';
  value: string;
}

export interface StoreObjectInfo {
  size: number;
  /** Absent when the store cannot give one cheaply; the copy then checks the size only. */
  checksum?: StoreChecksum;
}

/** Where asset media lives before it is staged onto a playout volume. */
export interface MediaStore {
  /** null when the key does not exist. Throws StoreError otherwise. */
  stat(key: string): Promise<StoreObjectInfo | null>;
  /** The whole object as a stream; throws StoreError (NOT_FOUND when the key is missing). */
  open(key: string, options?: { signal?: AbortSignal }): Promise<Readable>;
  /** Releases connections; the store is unusable afterwards. */
  close(): Promise<void>;
}

export const StoreErrorKind = {
  NOT_FOUND: 'NOT_FOUND',
  UNREACHABLE: 'UNREACHABLE',
  OTHER: 'OTHER',
} as const;
export type StoreErrorKind = (typeof StoreErrorKind)[keyof typeof StoreErrorKind];

export class StoreError extends KindedError<StoreErrorKind> {
  override name = 'StoreError';
}

/**
 * Socket-level failures: the store (or the network to it) is down, as opposed
 * to the store answering that something is wrong. Workers retry these.
 */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function isUnreachableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code)) return true;
  if (e.name === 'TimeoutError' || e.name === 'RequestTimeout') return true;
  return e.cause !== undefined && e.cause !== err && isUnreachableError(e.cause);
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR');
}

export type MediaStoreConfig =
  | {
      kind: 'local';
      /** Directory holding the media; keys are paths relative to it. */
      root: string;
    }
  | ({ kind: 's3' } & S3StoreConfig);

/** Builds the store the configuration names; callers own it and close it. */
export function createMediaStore(config: MediaStoreConfig): MediaStore {
  switch (config.kind) {
    case 'local':
      return createLocalStore({ root: config.root });
    case 's3': {
      const { kind: _kind, ...s3 } = config;
      return createS3Store(s3);
    }
    default: {
      const never: never = config;
      throw new Error(`unknown media store kind: ${(never as { kind: string }).kind}`);
    }
  }
}
