import { constants as fsc } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import {
  StoreError,
  badKeyReason,
  isUnreachableError,
  type MediaStore,
  type StoreChecksum,
  type StoreObjectInfo,
} from './store.ts';

export interface LocalStoreConfig {
  /** Directory holding the media; keys are paths relative to it. */
  root: string;
}

/**
 * `rel` joined under `root`, refusing anything that could land outside it:
 * empty, NUL, absolute, or any `..` segment (even one that normalizes away,
 * so a key means the same thing to every reader). Symlinks inside the root
 * are followed: whoever can create them already has the filesystem.
 */
export function resolveInside(root: string, rel: string): string {
  if (typeof rel !== 'string' || rel.length === 0) throw new Error('empty path');
  if (rel.includes('\0')) throw new Error('path contains a NUL byte');
  if (path.isAbsolute(rel) || /^[a-zA-Z]:[\\/]/.test(rel)) throw new Error('path is absolute');
  if (rel.split(/[\\/]/).includes('..')) throw new Error("path contains '..'");
  const base = path.resolve(root);
  const full = path.resolve(base, rel);
  if (full === base || !full.startsWith(base + path.sep)) throw new Error('path escapes its root');
  return full;
}

const SIDECARS = [
  { ext: '.sha256', algorithm: 'sha256', pattern: /^([0-9a-fA-F]{64})(?:\s|$)/ },
  { ext: '.md5', algorithm: 'md5', pattern: /^([0-9a-fA-F]{32})(?:\s|$)/ },
] as const;

/**
 * A directory of media files: the one-machine default, or a NAS mounted on
 * every playout node. Hashing a whole file on each stat is not cheap, so a
 * checksum comes only from a `<key>.sha256` or `<key>.md5` sidecar
 * (sha256sum/md5sum output, as ingest tools write them) when one exists.
 */
export function createLocalStore(config: LocalStoreConfig): MediaStore {
  const root = path.resolve(config.root);

  function fullPath(key: string): string {
    const reason = badKeyReason(key);
    if (reason) throw new StoreError('OTHER', `invalid media key ${JSON.stringify(key)}: ${reason}`);
    try {
      return resolveInside(root, key);
    } catch (err) {
      throw new StoreError('OTHER', `invalid media key ${JSON.stringify(key)}: ${(err as Error).message}`);
    }
  }

  /** ENOENT under a root that is itself gone means an unmounted share, not a missing file. */
  async function mapError(err: unknown, key: string): Promise<StoreError> {
    if (err instanceof StoreError) return err;
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const rootOk = await stat(root).then(
        (s) => s.isDirectory(),
        () => false,
      );
      return rootOk
        ? new StoreError('NOT_FOUND', `not found in the media store: ${key}`, { cause: err })
        : new StoreError('UNREACHABLE', `media store root ${root} is missing (not mounted?)`, { cause: err });
    }
    if (code === 'ESTALE' || code === 'EIO' || isUnreachableError(err)) {
      return new StoreError('UNREACHABLE', `media store ${root} unreachable: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new StoreError('OTHER', `media store error for ${key}: ${(err as Error).message}`, { cause: err });
  }

  async function readSidecar(file: string, key: string): Promise<StoreChecksum | undefined> {
    for (const sidecar of SIDECARS) {
      let handle: FileHandle;
      try {
        handle = await open(file + sidecar.ext, fsc.O_RDONLY);
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') continue;
        throw err;
      }
      try {
        // A digest line is short; never read a large file by mistake.
        const { buffer, bytesRead } = await handle.read(Buffer.alloc(512), 0, 512, 0);
        const match = sidecar.pattern.exec(buffer.subarray(0, bytesRead).toString('utf8').trim());
        if (!match) throw new StoreError('OTHER', `malformed checksum file ${key}${sidecar.ext}`);
        return { algorithm: sidecar.algorithm, value: match[1].toLowerCase() };
      } finally {
        await handle.close();
      }
    }
    return undefined;
  }

  return {
    async stat(key: string): Promise<StoreObjectInfo | null> {
      const file = fullPath(key);
      try {
        const st = await stat(file);
        if (!st.isFile()) return null;
        const checksum = await readSidecar(file, key);
        return checksum ? { size: st.size, checksum } : { size: st.size };
      } catch (err) {
        const mapped = await mapError(err, key);
        if (mapped.kind === 'NOT_FOUND') return null;
        throw mapped;
      }
    },

    async open(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
      const file = fullPath(key);
      options.signal?.throwIfAborted();
      let handle: FileHandle;
      try {
        handle = await open(file, fsc.O_RDONLY);
        if (!(await handle.stat()).isFile()) {
          await handle.close();
          throw new StoreError('NOT_FOUND', `not found in the media store: ${key} (not a file)`);
        }
      } catch (err) {
        throw await mapError(err, key);
      }
      // The stream owns the handle and closes it when it ends or is destroyed.
      const stream = handle.createReadStream({ highWaterMark: 256 * 1024 });
      return options.signal ? addAbortSignal(options.signal, stream) : stream;
    },

    async close() {},
  };
}
