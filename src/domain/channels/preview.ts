import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * The live HLS preview as the API serves it: signed preview tokens (for players
 * that cannot send an Authorization header) and playlist rewriting. Pure
 * functions; the HTTP side is src/server/routes/preview.ts.
 */

/** A segment (or init section) name the API will serve: one plain file name, nothing else. */
export const SEGMENT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\.(ts|m4s|mp4|aac)$/;

export const SEGMENT_CONTENT_TYPES = {
  ts: 'video/mp2t',
  m4s: 'video/iso.segment',
  mp4: 'video/mp4',
  aac: 'audio/aac',
} as const;

/** The content type of a valid segment name; null for any other name. */
export function segmentContentType(name: string): string | null {
  const match = SEGMENT_NAME.exec(name);
  if (!match || name.includes('..')) return null;
  return SEGMENT_CONTENT_TYPES[match[1] as keyof typeof SEGMENT_CONTENT_TYPES];
}

/** The preview-token key, derived from ONAIR_SECRET_KEY so that key is never used twice for different things. */
export function derivePreviewKey(secretKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), 'onair preview tokens', 32));
}

// The MAC input names its purpose, so a MAC made with the same key for
// something else can never pass as a preview token. v2 names the API token
// the URL was made for (v1 named none, and could not be revoked).
const PURPOSE = 'onair-preview-v2';

function mac(key: Buffer, channelId: string, expiresAt: number, tokenId: string): Buffer {
  return createHmac('sha256', key)
    .update(`${PURPOSE}\n${channelId.toLowerCase()}\n${expiresAt}\n${tokenId.toLowerCase()}`)
    .digest();
}

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const TOKEN = new RegExp(`^(\\d{1,12})\\.(${UUID})\\.([A-Za-z0-9_-]{43})$`);

/**
 * `<expiry in unix seconds>.<API token id>.<base64url HMAC-SHA256 over the
 * channel id, the expiry and the token id>`. `tokenId` is the API token of the
 * caller the URL is given to: the preview route checks on every request that it
 * still authenticates someone who may see the channel.
 */
export function signPreviewToken(key: Buffer, channelId: string, expiresAt: Date, tokenId: string): string {
  const exp = Math.floor(expiresAt.getTime() / 1000);
  return `${exp}.${tokenId.toLowerCase()}.${mac(key, channelId, exp, tokenId).toString('base64url')}`;
}

export type PreviewTokenCheck = 'valid' | 'expired' | 'invalid';

/**
 * 'invalid' for a malformed or tampered token or one made for another channel;
 * 'expired' only for a genuine token whose time is up (the signature is checked
 * first, so a forged expiry never reads as merely expired). A valid token's
 * holder (previewTokenHolder) must still be checked against the database.
 */
export function verifyPreviewToken(key: Buffer, channelId: string, token: string, now: Date): PreviewTokenCheck {
  const match = TOKEN.exec(token);
  if (!match) return 'invalid';
  const exp = Number(match[1]);
  const given = Buffer.from(match[3], 'base64url');
  const expected = mac(key, channelId, exp, match[2]);
  // base64url of 32 bytes has 43 characters, but the last one carries 2 spare
  // bits: re-encoding rejects the variants that decode to the same bytes.
  if (given.length !== expected.length || given.toString('base64url') !== match[3]) return 'invalid';
  if (!timingSafeEqual(given, expected)) return 'invalid';
  return exp * 1000 > now.getTime() ? 'valid' : 'expired';
}

/** The API token id a preview token names (trust it only once verifyPreviewToken said 'valid'). */
export function previewTokenHolder(token: string): string | null {
  return TOKEN.exec(token)?.[2].toLowerCase() ?? null;
}

/** What Channel.previewUrl returns: the playlist route with a token signed for the caller's API token. */
export function previewUrlFor(key: Buffer, channelId: string, tokenId: string, now: Date, ttlSeconds = 3600): string {
  const token = signPreviewToken(key, channelId, new Date(now.getTime() + ttlSeconds * 1000), tokenId);
  return `/channels/${channelId}/preview.m3u8?token=${token}`;
}

export interface SegmentUrlOptions {
  channelId: string;
  /** A CDN or static origin for segments; null: this server's /channels/:id/preview/ route. */
  segmentBase?: string | null;
  /** The query token the playlist was fetched with, passed on to this server's segment URLs. */
  token?: string | null;
}

/** The absolute URL of one segment of a channel's preview. */
export function segmentUrl(name: string, o: SegmentUrlOptions): string {
  if (o.segmentBase) return `${o.segmentBase.replace(/\/+$/, '')}/${o.channelId}/${name}`;
  const url = `/channels/${o.channelId}/preview/${name}`;
  return o.token ? `${url}?token=${encodeURIComponent(o.token)}` : url;
}

const SEGMENT_LINE = /\.(ts|m4s|mp4|aac)$/;
// Tags whose URI attribute names media the player fetches from the live folder.
const URI_TAG = /^#EXT-X-(MAP|PART|PRELOAD-HINT):/;
const URI_ATTR = /URI="([^"]*)"/;

/**
 * Rewrites the media URIs of a live playlist (segment lines, and the URI of
 * EXT-X-MAP and the low-latency PART/PRELOAD-HINT tags) to absolute URLs, so
 * they resolve the same whatever URL the playlist itself was fetched from.
 * A URI that is not one plain segment name (a path, a full URL) is left as it is:
 * the preview route would never serve it anyway.
 */
export function rewritePlaylist(body: string, o: SegmentUrlOptions): string {
  const rewrite = (uri: string) => (segmentContentType(uri) ? segmentUrl(uri, o) : uri);
  return body
    .split('\n')
    .map((raw) => {
      const line = raw.replace(/\r$/, '');
      const trimmed = line.trim();
      if (trimmed === '') return line;
      if (trimmed.startsWith('#')) {
        if (!URI_TAG.test(trimmed)) return line;
        return line.replace(URI_ATTR, (_, uri: string) => `URI="${rewrite(uri)}"`);
      }
      return SEGMENT_LINE.test(trimmed) ? rewrite(trimmed) : line;
    })
    .join('\n');
}
