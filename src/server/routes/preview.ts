import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { authenticate, principalOfToken } from '../../auth/authenticate.ts';
import { canSee } from '../../domain/access/access.ts';
import {
  previewTokenHolder,
  rewritePlaylist,
  segmentContentType,
  verifyPreviewToken,
} from '../../domain/channels/preview.ts';
import { ErrorCode, OnairError } from '../../errors.ts';
import type { Services } from '../../services/index.ts';

export interface PreviewDeps {
  services: Services;
  /** The 32-byte key of preview tokens (derived from ONAIR_SECRET_KEY). */
  previewKey: Buffer;
  /** Where sidecars write: <mediaVolumeDir>/live/<channel id>/index.m3u8 and segments. */
  mediaVolumeDir: string;
  /** A CDN or static origin for segments; null: this server's segment route. */
  segmentBase?: string | null;
}

// Matched on the raw path, never decoded: a valid segment name needs no
// escaping, so anything encoded (%2e%2e, %2f) simply fails the name check.
const PLAYLIST_ROUTE = /^\/channels\/([^/]+)\/preview\.m3u8$/;
const SEGMENT_ROUTE = /^\/channels\/([^/]+)\/preview\/(.+)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CHANNEL_NOT_FOUND = 'channel not found';

/** The contract's code for each status these routes answer with (405 as the as-run export answers it). */
const CODE_OF_STATUS = {
  401: ErrorCode.UNAUTHENTICATED,
  404: ErrorCode.NOT_FOUND,
  405: ErrorCode.BAD_USER_INPUT,
} as const;

class HttpError extends Error {
  constructor(
    readonly status: keyof typeof CODE_OF_STATUS,
    message: string,
  ) {
    super(message);
  }
}

/**
 * GET /channels/:id/preview.m3u8 (the live playlist, read fresh on every
 * request and never cached: a caching proxy once served stale live playlists)
 * and GET /channels/:id/preview/<segment> (immutable segments). Access: the
 * API's Bearer token and a channel the caller may see, or a signed `?token=`
 * whose API token still authenticates a user who may see the channel.
 * Returns false for any other path.
 */
export async function handlePreview(req: IncomingMessage, res: ServerResponse, deps: PreviewDeps): Promise<boolean> {
  // Not `new URL()`: it folds `..` and `%2e%2e` segments into another path.
  const [pathname, query = ''] = (req.url ?? '/').split('?', 2);
  const playlist = PLAYLIST_ROUTE.exec(pathname);
  const segment = playlist ? null : SEGMENT_ROUTE.exec(pathname);
  if (!playlist && !segment) return false;
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      throw new HttpError(405, 'method not allowed');
    }
    const rawId = (playlist ?? segment)![1];
    const token = new URLSearchParams(query).get('token');
    const channelId = await authorize(req, deps, rawId, token);
    const dir = path.resolve(deps.mediaVolumeDir, 'live', channelId);
    if (playlist) await sendPlaylist(req, res, deps, dir, channelId, token);
    else await sendSegment(req, res, dir, segment![2]);
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    sendError(res, err.status, err.message);
  }
  return true;
}

/** The channel's id when the caller may watch it; throws the HTTP answer otherwise. */
async function authorize(
  req: IncomingMessage,
  deps: PreviewDeps,
  rawId: string,
  token: string | null,
): Promise<string> {
  const header = req.headers.authorization;
  let principal = null;
  if (header) {
    try {
      principal = await authenticate(deps.services.sql, header, deps.services.principals);
    } catch (err) {
      if (err instanceof OnairError) throw new HttpError(401, err.message);
      throw err;
    }
  } else if (token === null) {
    throw new HttpError(401, 'missing credentials: send Authorization: Bearer <token> or ?token=');
  }
  // A malformed id names no channel: the same answer as an unknown one.
  if (!UUID.test(rawId)) throw new HttpError(404, CHANNEL_NOT_FOUND);
  const id = rawId.toLowerCase();
  if (!principal) {
    const check = verifyPreviewToken(deps.previewKey, id, token!, new Date());
    if (check === 'expired') throw new HttpError(401, 'preview token expired');
    if (check !== 'valid') throw new HttpError(401, 'invalid preview token');
    // The signed URL acts for the API token it was made for, as that token is now: a
    // revoked token, a deleted user or a removed membership closes it at the next request.
    principal = await principalOfToken(deps.services.sql, previewTokenHolder(token!)!, deps.services.principals);
    if (!principal)
      throw new HttpError(401, 'preview token revoked: the API token it was made for no longer authenticates');
  }
  const channel = await deps.services.db.channel.findFirst({
    where: { id, deletedAt: null },
    select: { id: true, projectId: true },
  });
  if (!channel || !canSee(principal, channel.projectId)) throw new HttpError(404, CHANNEL_NOT_FOUND);
  return channel.id;
}

async function sendPlaylist(
  req: IncomingMessage,
  res: ServerResponse,
  deps: PreviewDeps,
  dir: string,
  channelId: string,
  token: string | null,
): Promise<void> {
  const file = await openInside(dir, 'index.m3u8');
  if (!file) throw new HttpError(404, 'no live preview for this channel yet');
  let body: string;
  try {
    body = await file.readFile('utf8');
  } finally {
    await file.close();
  }
  const rewritten = Buffer.from(rewritePlaylist(body, { channelId, segmentBase: deps.segmentBase, token }));
  res.writeHead(200, {
    'content-type': 'application/vnd.apple.mpegurl',
    'content-length': rewritten.length,
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : rewritten);
}

async function sendSegment(req: IncomingMessage, res: ServerResponse, dir: string, name: string): Promise<void> {
  const type = segmentContentType(name);
  const file = type ? await openInside(dir, name) : null;
  if (!file) throw new HttpError(404, 'segment not found');
  try {
    const { size } = await file.stat();
    res.writeHead(200, {
      'content-type': type!,
      'content-length': size,
      // Segment names are never reused within a live window; caching them is correct.
      'cache-control': 'public, max-age=31536000, immutable',
    });
    if (req.method === 'HEAD' || size === 0) res.end();
    // Only the bytes counted in content-length, even if the file grows meanwhile.
    else await pipeline(file.createReadStream({ autoClose: false, start: 0, end: size - 1 }), res);
  } catch (err) {
    // A player that gave up mid-segment is not a server error.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  } finally {
    await file.close();
  }
}

/**
 * Opens a regular file directly inside `dir`, or returns null. O_NOFOLLOW
 * refuses a symlink at open time (no check-then-open race), and the resolved
 * path must stay in `dir` even though callers already pass plain names.
 */
async function openInside(dir: string, name: string): Promise<FileHandle | null> {
  const target = path.resolve(dir, name);
  if (path.dirname(target) !== dir) return null;
  let file: FileHandle;
  try {
    file = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR' || code === 'EISDIR') return null;
    throw err;
  }
  const stat = await file.stat();
  if (!stat.isFile()) {
    await file.close();
    return null;
  }
  return file;
}

/** The GraphQL error shape, as the API's other HTTP answers use it. */
function sendError(res: ServerResponse, status: keyof typeof CODE_OF_STATUS, message: string): void {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, headers);
  res.end(JSON.stringify({ errors: [{ message, extensions: { code: CODE_OF_STATUS[status] } }] }));
}
