import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { resolveInside } from '../../../services/storage/local-store.ts';
import {
  StoreError,
  isAbortError,
  isUnreachableError,
  type MediaStore,
  type StoreChecksum,
  type StoreObjectInfo,
} from '../../../services/storage/store.ts';
import { KindedError } from '../../../errors.ts';

export const StagingErrorKind = {
  NOT_FOUND: 'NOT_FOUND',
  CHECKSUM_MISMATCH: 'CHECKSUM_MISMATCH',
  SIZE_MISMATCH: 'SIZE_MISMATCH',
  VOLUME_FULL: 'VOLUME_FULL',
  STORE_UNREACHABLE: 'STORE_UNREACHABLE',
  /** The copy is not a media container the engines may decode (see media-check.ts). */
  NOT_MEDIA: 'NOT_MEDIA',
  /** Larger than MEDIA_MAX_OBJECT_BYTES. */
  TOO_LARGE: 'TOO_LARGE',
  /** The project's QUOTA_PROJECT_BYTES would be passed. */
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  /** The caller's AbortSignal fired (job cancelled, worker shutting down). */
  ABORTED: 'ABORTED',
  OTHER: 'OTHER',
} as const;
export type StagingErrorKind = (typeof StagingErrorKind)[keyof typeof StagingErrorKind];

/** A failed staging, with a message meant for the operator's screen. */
export class StagingError extends KindedError<StagingErrorKind> {
  override name = 'StagingError';
}

export interface StageOptions {
  /** Called as bytes arrive; throttle it yourself before touching Redis. */
  onProgress?: (copiedBytes: number, totalBytes: number) => void;
  /** Aborting stops the copy and removes the partial file (StagingError ABORTED). */
  signal?: AbortSignal;
  /** What the store said of the object, when the caller asked already. */
  info?: StoreObjectInfo;
  /**
   * Checks the verified copy before it is renamed into place (a file already
   * in place passed it when it was staged); a throw fails the staging and
   * removes the copy.
   */
  verify?: (file: string) => Promise<void>;
  /** Marks the partial file as this copier's ([0-9a-z-], at most 40), so that its next attempt can remove it at once. */
  partialTag?: string;
}

export interface StageResult {
  /** false when a verified copy was already in place. */
  copied: boolean;
  size: number;
  checksum?: StoreChecksum;
  /** Absolute path of the staged file. */
  path: string;
}

const PARTIAL = /^\..+\.[0-9a-f]{16}\.partial$/;

/** Same directory as the destination, so the final rename is atomic; dot-named so playout listings skip it. */
function partialPath(dest: string, tag?: string): string {
  let base = path.basename(dest);
  // NAME_MAX is 255 bytes; keep room for the suffix.
  if (Buffer.byteLength(base) > (tag ? 160 : 200)) base = createHash('sha1').update(base).digest('hex');
  return path.join(path.dirname(dest), `.${base}.${tag ? `${tag}.` : ''}${randomBytes(8).toString('hex')}.partial`);
}

/** Whether a partial file name carries `tag` (see StageOptions.partialTag). */
export const partialHasTag = (name: string, tag: string) => name.endsWith(`.partial`) && name.includes(`.${tag}.`);

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

async function hashFile(file: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), hash);
  return hash.digest('hex');
}

/** A file already at `dest` counts only if its size (and checksum, when known) match. */
async function alreadyStaged(dest: string, info: StoreObjectInfo): Promise<boolean> {
  const st = await lstat(dest).catch((err) => {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw err;
  });
  if (!st?.isFile() || st.size !== info.size) return false;
  if (!info.checksum) return true;
  return (await hashFile(dest, info.checksum.algorithm)) === info.checksum.value;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems (and platforms) refuse fsync on a directory; the rename stands anyway.
    if (errnoCode(err) !== 'EINVAL' && errnoCode(err) !== 'EISDIR') throw err;
  } finally {
    await handle.close();
  }
}

function toStagingError(err: unknown, key: string, destRelPath: string, size: number | undefined): StagingError {
  if (err instanceof StagingError) return err;
  if (isAbortError(err)) return new StagingError('ABORTED', `staging of ${key} aborted`, { cause: err });
  if (err instanceof StoreError) {
    if (err.kind === 'NOT_FOUND')
      return new StagingError('NOT_FOUND', `not found in the media store: ${key}`, { cause: err });
    if (err.kind === 'UNREACHABLE') return new StagingError('STORE_UNREACHABLE', err.message, { cause: err });
    return new StagingError('OTHER', err.message, { cause: err });
  }
  const code = errnoCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const need = size === undefined ? '' : ` (${size} bytes needed)`;
    return new StagingError('VOLUME_FULL', `playout volume full: cannot write ${destRelPath}${need}`, { cause: err });
  }
  if (isUnreachableError(err)) {
    return new StagingError(
      'STORE_UNREACHABLE',
      `media store connection lost while reading ${key}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return new StagingError(
    'OTHER',
    `staging ${key} to ${destRelPath} failed: ${(err as Error)?.message ?? String(err)}`,
    { cause: err },
  );
}

/** Counts and hashes what flows through; fails fast once the object runs past its announced size. */
class Meter extends Transform {
  bytes = 0;
  constructor(
    private readonly expected: number,
    private readonly hash: Hash | null,
    private readonly key: string,
    private readonly onProgress?: (copied: number, total: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.expected) {
      done(
        new StagingError('SIZE_MISMATCH', `size mismatch for ${this.key}: expected ${this.expected} bytes, got more`),
      );
      return;
    }
    this.hash?.update(chunk);
    this.onProgress?.(this.bytes, this.expected);
    done(null, chunk);
  }
}

/**
 * Copies `key` from `store` to `volumeDir/destRelPath`, verified, at most once.
 * Streams through a `.partial` file beside the destination, fsyncs it, checks
 * size and checksum, then renames it into place, so playout never sees a torn
 * file. Any failure removes the partial file and throws StagingError.
 */
export async function stageFile(
  store: MediaStore,
  key: string,
  volumeDir: string,
  destRelPath: string,
  options: StageOptions = {},
): Promise<StageResult> {
  let dest: string;
  try {
    dest = resolveInside(volumeDir, destRelPath);
  } catch (err) {
    throw new StagingError('OTHER', `invalid destination ${JSON.stringify(destRelPath)}: ${(err as Error).message}`);
  }

  let info: StoreObjectInfo | null = null;
  let tmp: string | null = null;
  let handle: FileHandle | null = null;
  try {
    options.signal?.throwIfAborted();
    info = options.info ?? (await store.stat(key));
    if (!info) throw new StagingError('NOT_FOUND', `not found in the media store: ${key}`);
    if (await alreadyStaged(dest, info)) return { copied: false, size: info.size, checksum: info.checksum, path: dest };

    await mkdir(path.dirname(dest), { recursive: true });
    tmp = partialPath(
      dest,
      options.partialTag && /^[0-9a-z-]{1,40}$/.test(options.partialTag) ? options.partialTag : undefined,
    );
    handle = await open(tmp, 'wx', 0o644);
    const source = await store.open(key, { signal: options.signal });
    const hash = info.checksum ? createHash(info.checksum.algorithm) : null;
    const meter = new Meter(info.size, hash, key, options.onProgress);
    // flush: fsync before the stream closes the handle, so the data is on disk
    // before the rename below makes a name point at it (no empty file after a power cut).
    const sink = handle.createWriteStream({ flush: true });
    await pipeline(source, meter, sink, ...(options.signal ? [{ signal: options.signal }] : []));
    handle = null;

    if (meter.bytes !== info.size) {
      throw new StagingError(
        'SIZE_MISMATCH',
        `size mismatch for ${key}: expected ${info.size} bytes, got ${meter.bytes}`,
      );
    }
    if (hash && info.checksum) {
      const got = hash.digest('hex');
      if (got !== info.checksum.value) {
        const alg = info.checksum.algorithm;
        throw new StagingError(
          'CHECKSUM_MISMATCH',
          `checksum mismatch for ${key}: expected ${alg} ${info.checksum.value} got ${got}`,
        );
      }
    }
    if (options.verify) await options.verify(tmp);
    await rename(tmp, dest);
    tmp = null;
    await fsyncDir(path.dirname(dest));
    return { copied: true, size: info.size, checksum: info.checksum, path: dest };
  } catch (err) {
    throw toStagingError(err, key, destRelPath, info?.size);
  } finally {
    if (handle) await handle.close().catch(() => {});
    if (tmp) await unlink(tmp).catch(() => {});
  }
}

export interface CleanupOptions {
  /** Only partial files not written to for this long are removed, so live copies survive. @defaultValue 1 hour */
  olderThanMs?: number;
  /** Only partial files whose name passes this. @defaultValue all */
  match?: (name: string) => boolean;
}

/**
 * Removes `.partial` files left under `volumeDir` by copies that died (crash,
 * SIGKILL, power cut). Returns the removed paths relative to `volumeDir`.
 */
export async function cleanupPartials(volumeDir: string, options: CleanupOptions = {}): Promise<string[]> {
  const olderThanMs = options.olderThanMs ?? 60 * 60 * 1000;
  const root = path.resolve(volumeDir);
  const removed: string[] = [];
  const now = Date.now();

  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch((err) => {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    });
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(full);
      } else if (entry.isFile() && PARTIAL.test(entry.name) && (options.match?.(entry.name) ?? true)) {
        const st = await lstat(full).catch(() => null);
        if (!st || now - st.mtimeMs < olderThanMs) continue;
        await unlink(full).catch((err) => {
          if (errnoCode(err) !== 'ENOENT') throw err;
        });
        removed.push(path.relative(root, full));
      }
    }
  }

  await walk(root);
  return removed;
}
