import { open } from 'node:fs/promises';

/**
 * What a staged file may be: a media container the playout engines decode
 * by themselves. ffmpeg picks a demuxer from a file's content, and some of
 * its demuxers read other files or URLs a text file names (an HLS playlist,
 * a concat list, an SDP): such a "clip" would air whatever local file it
 * points at. So a file is staged only when its first bytes are those of a
 * container on this list, and ffmpeg's text formats can never match one.
 * (No ID3-tagged MP3: ffmpeg probes what follows an ID3 tag as if it were
 * the file's start.)
 */
export const MEDIA_CONTAINERS = [
  'MXF',
  'QuickTime/MP4',
  'MPEG-TS',
  'Matroska/WebM',
  'AVI',
  'WAV',
  'MPEG-PS',
  'FLV',
  'Ogg',
] as const;
export type MediaContainer = (typeof MEDIA_CONTAINERS)[number];

const HEAD_BYTES = 4096;
/** ISO BMFF / QuickTime top-level boxes a file starts with. */
const QT_BOXES = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot']);

const startsWith = (head: Buffer, bytes: number[] | string, at = 0) => {
  const sig = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
  return head.length >= at + sig.length && head.subarray(at, at + sig.length).equals(sig);
};

/** MPEG-TS: a sync byte every packet (188 bytes, or 192 with the M2TS time code). */
function isTransportStream(head: Buffer): boolean {
  for (const [offset, size] of [
    [0, 188],
    [4, 192],
  ]) {
    const packets = Math.min(3, Math.floor((head.length - offset) / size));
    if (packets < 1) continue;
    let ok = true;
    for (let i = 0; i < packets; i++) if (head[offset + i * size] !== 0x47) ok = false;
    if (ok && (packets >= 2 || head.length < offset + 2 * size)) return true;
  }
  return false;
}

/** The container `head` (a file's first bytes) starts, or null. */
export function sniffContainer(head: Buffer): MediaContainer | null {
  // SMPTE 377 partition pack key (06 0E 2B 34 02 05 01 01 0D 01 02 01 01).
  if (startsWith(head, [0x06, 0x0e, 0x2b, 0x34, 0x02, 0x05, 0x01, 0x01, 0x0d, 0x01, 0x02, 0x01, 0x01])) return 'MXF';
  if (head.length >= 8 && QT_BOXES.has(head.subarray(4, 8).toString('latin1'))) return 'QuickTime/MP4';
  if (startsWith(head, [0x1a, 0x45, 0xdf, 0xa3])) return 'Matroska/WebM';
  if (startsWith(head, 'RIFF') && startsWith(head, 'AVI ', 8)) return 'AVI';
  if (startsWith(head, 'RIFF') && startsWith(head, 'WAVE', 8)) return 'WAV';
  if (startsWith(head, [0x00, 0x00, 0x01, 0xba])) return 'MPEG-PS';
  if (startsWith(head, [0x46, 0x4c, 0x56, 0x01])) return 'FLV';
  if (startsWith(head, 'OggS')) return 'Ogg';
  if (isTransportStream(head)) return 'MPEG-TS';
  return null;
}

/** Words for what a refused file looks like, for the operator's screen. */
export function describeNonMedia(head: Buffer): string {
  const text = head
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (text.startsWith('#EXTM3U')) return 'an HLS playlist';
  if (/^ffconcat\b/.test(text) || /^file\s+['"]?[^\n]+/m.test(text)) return 'a concat list';
  if (/^v=0\r?\n/.test(text)) return 'an SDP description';
  if (/^<\?xml|^<MPD\b/i.test(text)) return 'an XML document';
  if (head.length === 0) return 'an empty file';
  // No NUL and decodable: a text file of some kind.
  if (!head.includes(0) && !text.includes('\uFFFD')) return 'a text file';
  return 'no known media container';
}

/** Reads the first bytes of `file` and names its container, or throws with what it looks like. */
export async function checkMediaFile(file: string): Promise<MediaContainer> {
  const handle = await open(file, 'r');
  let head: Buffer;
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(HEAD_BYTES), 0, HEAD_BYTES, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const container = sniffContainer(head);
  if (container) return container;
  throw new NotMediaError(
    `not a media file: it is ${describeNonMedia(head)} (staged are ${MEDIA_CONTAINERS.join(', ')})`,
  );
}

export class NotMediaError extends Error {
  override name = 'NotMediaError';
}
