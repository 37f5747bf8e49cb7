import type { Readable } from 'node:stream';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Why a key cannot name an object of the store, or null when it can: keys
 * are relative paths with no `.`/`..` segment, no empty segment, no
 * backslash and no control character, so that a key means one object to
 * every store and never leaves the part of the store it is given.
 */
export function badKeyReason(key: unknown): string | null {
  if (typeof key !== 'string' || key.length === 0) return 'empty key';
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'key contains a control character';
  if (key.includes('\\')) return 'key contains a backslash';
  if (key.startsWith('/')) return 'key is absolute';
  const segments = key.split('/');
  if (segments.some((s) => s === '..' || s === '.')) return "key contains a '.' or '..' segment";
  if (segments.some((s) => s === '')) return 'key contains an empty segment';
  return null;
}

/**
 * One project's part of the media store: every key is read under
 * `<project id>/`, so a project's assets can only name its own files.
 * Errors name the key as the project wrote it, never the full path.
 */
export function projectStore(store: MediaStore, projectId: string): MediaStore {
  if (!UUID.test(projectId)) throw new StoreError('OTHER', 'invalid project for the media store');
  const prefix = `${projectId.toLowerCase()}/`;
  function scoped(key: string): string {
    const reason = badKeyReason(key);
    if (reason) throw new StoreError('OTHER', `invalid media key ${JSON.stringify(key)}: ${reason}`);
    return prefix + key;
  }
  function relative(err: unknown, key: string, full: string): unknown {
    if (!(err instanceof StoreError) || !err.message.includes(full)) return err;
    return new StoreError(err.kind, err.message.split(full).join(key), { cause: err.cause });
  }
  return {
    async stat(key) {
      const full = scoped(key);
      try {
        return await store.stat(full);
      } catch (err) {
        throw relative(err, key, full);
      }
    },
    async open(key, options) {
      const full = scoped(key);
      try {
        return await store.open(full, options);
      } catch (err) {
        throw relative(err, key, full);
      }
    },
    close: () => store.close(),
  };
}
