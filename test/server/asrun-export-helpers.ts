import { beforeAll } from 'vitest';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';

// What the as-run export tests share (asrun-export-formats.test.ts: the CSV and BXF
// files; asrun-export-route.test.ts: the route's access, parameters and streaming):
// a test server holding a known as-run history, and a client of the route.

// The known history lies in this day.
export const DAY = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' };
export const entryId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

type ChannelName = 'main' | 'second' | 'old' | 'other' | 'adminOnly';

interface Entry {
  n: number;
  channel: ChannelName;
  clipName: string;
  startedAt: string;
  endedAt?: string | null;
  durationMs?: number | null;
  status?: 'PLAYED' | 'SKIPPED' | 'TRUNCATED' | 'FAILED';
  playlist?: boolean;
  item?: boolean;
  asset?: 'asset' | 'asset2' | null;
}

const HISTORY: Entry[] = [
  {
    n: 90,
    channel: 'main',
    clipName: 'Day before',
    startedAt: '2025-12-31T23:59:59.999Z',
    endedAt: '2026-01-01T00:00:09.999Z',
    durationMs: 10000,
  },
  {
    n: 0,
    channel: 'main',
    clipName: 'Midnight start',
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:00:10.000Z',
    durationMs: 10000,
  },
  {
    n: 1,
    channel: 'main',
    clipName: 'Comma, clip',
    startedAt: '2026-01-01T10:00:00.000Z',
    endedAt: '2026-01-01T10:00:30.000Z',
    durationMs: 30000,
    item: true,
  },
  {
    n: 2,
    channel: 'main',
    clipName: 'Quote "x" clip',
    startedAt: '2026-01-01T10:00:30.000Z',
    endedAt: '2026-01-01T10:00:42.340Z',
    durationMs: 12340,
    status: 'SKIPPED',
    asset: 'asset2',
  },
  {
    n: 3,
    channel: 'main',
    clipName: 'Line\nbreak\r\nclip',
    startedAt: '2026-01-01T10:00:42.340Z',
    endedAt: '2026-01-01T10:00:50.000Z',
    durationMs: 7660,
    status: 'TRUNCATED',
  },
  {
    n: 4,
    channel: 'main',
    clipName: '=SUM(A1:A2)',
    startedAt: '2026-01-01T10:01:00.000Z',
    endedAt: '2026-01-01T10:01:00.000Z',
    durationMs: 0,
    status: 'FAILED',
  },
  // Same start as n=4: the id breaks the tie.
  {
    n: 5,
    channel: 'main',
    clipName: '@cmd|calc',
    startedAt: '2026-01-01T10:01:00.000Z',
    endedAt: '2026-01-01T10:01:20.000Z',
    durationMs: 20000,
    playlist: false,
    asset: null,
  },
  {
    n: 6,
    channel: 'main',
    clipName: 'Ünïcødé 日本語 🎬',
    startedAt: '2026-01-01T10:02:00.040Z',
    endedAt: null,
    durationMs: null,
  },
  {
    n: 91,
    channel: 'main',
    clipName: 'Next day',
    startedAt: '2026-01-02T00:00:00.000Z',
    endedAt: '2026-01-02T00:00:05.000Z',
    durationMs: 5000,
  },
  {
    n: 11,
    channel: 'second',
    clipName: 'Second A',
    startedAt: '2026-01-01T10:00:10.000Z',
    endedAt: '2026-01-01T10:00:15.000Z',
    durationMs: 5000,
  },
  {
    n: 12,
    channel: 'second',
    clipName: 'Second B',
    startedAt: '2026-01-01T10:01:30.500Z',
    endedAt: '2026-01-01T10:01:31.501Z',
    durationMs: 1001,
  },
  {
    n: 21,
    channel: 'other',
    clipName: 'Other clip',
    startedAt: '2026-01-01T10:00:15.000Z',
    endedAt: '2026-01-01T10:00:16.000Z',
    durationMs: 1000,
  },
  {
    n: 31,
    channel: 'adminOnly',
    clipName: 'Admin only',
    startedAt: '2026-01-01T10:00:20.000Z',
    endedAt: '2026-01-01T10:00:21.000Z',
    durationMs: 1000,
  },
  {
    n: 41,
    channel: 'old',
    clipName: 'Deleted channel clip',
    startedAt: '2026-01-01T10:00:25.000Z',
    endedAt: '2026-01-01T10:00:26.000Z',
    durationMs: 1000,
  },
];

export const bearer = (token: string | null): Record<string, string> =>
  token ? { authorization: `Bearer ${token}` } : {};

/** RFC 4180, strictly: CRLF records, quoted fields with doubled quotes. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote === -1) throw new Error('unterminated quoted field');
        field += text.slice(i, quote);
        i = quote + 1;
        if (text[i] !== '"') break;
        field += '"';
        i++;
      }
    } else {
      const end = text.slice(i).search(/,|\r\n/);
      field = end === -1 ? text.slice(i) : text.slice(i, i + end);
      if (/["\r\n]/.test(field))
        throw new Error(`unquoted field holds a quote or line break: ${JSON.stringify(field)}`);
      i += field.length;
    }
    record.push(field);
    if (text[i] === ',') i++;
    else if (text.startsWith('\r\n', i)) {
      records.push(record);
      record = [];
      i += 2;
    } else if (i < text.length) throw new Error(`unexpected ${JSON.stringify(text[i])} at ${i}`);
  }
  if (record.length) throw new Error('last record lacks its CRLF');
  return records;
}

/**
 * The test server with its cast and the known history: channels of the home project (main, second,
 * a deleted one: old), of the other project and an admin-only one, each with its entries of HISTORY.
 * `ch` and `ids` are filled in place before the tests run.
 */
export function useExportHistory() {
  const { server, cast } = useTestServer();
  const ch = {} as Record<ChannelName, string>;
  const ids = { playlist: '', item: '', asset: '', asset2: '' };
  beforeAll(async () => {
    const { services } = server;
    ch.main = (await insertChannel(services, cast.home.id, { name: 'Main, "HD"', videoFormat: '1080i5000' })).id;
    ch.second = (await insertChannel(services, cast.home.id, { name: 'Second', videoFormat: '1080p5994' })).id;
    ch.old = (await insertChannel(services, cast.home.id, { name: 'Old', deletedAt: new Date() })).id;
    ch.other = (await insertChannel(services, cast.other.id, { name: 'Other' })).id;
    ch.adminOnly = (await insertChannel(services, null, { name: 'Admin only' })).id;

    const asset = await services.db.asset.create({
      data: { projectId: cast.home.id, filename: 'a.mxf', storageKey: 'a.mxf' },
    });
    const asset2 = await services.db.asset.create({
      data: { projectId: cast.home.id, filename: 'b.mxf', storageKey: 'b.mxf' },
    });
    const playlist = await services.db.playlist.create({ data: { channelId: ch.main, name: 'Day' } });
    const item = await services.db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: 0 } });
    Object.assign(ids, { playlist: playlist.id, item: item.id, asset: asset.id, asset2: asset2.id });

    await services.db.asRunEntry.createMany({
      data: HISTORY.map((e) => ({
        id: entryId(e.n),
        channelId: ch[e.channel],
        playlistId: e.playlist === false ? null : ids.playlist,
        itemId: e.item ? ids.item : null,
        assetId: e.asset === null ? null : ids[e.asset ?? 'asset'],
        clipName: e.clipName,
        startedAt: new Date(e.startedAt),
        endedAt: e.endedAt ? new Date(e.endedAt) : null,
        durationMs: e.durationMs ?? null,
        status: e.status ?? 'PLAYED',
      })),
    });
  });

  /** The route's URL on the test server, with `query` as given (a test may send it unencoded). */
  const exportUrl = (query = '') => `${new URL(server.url).origin}/asrun/export${query ? `?${query}` : ''}`;

  async function exportOf(token: string | null, query: Record<string, string>) {
    const res = await fetch(exportUrl(String(new URLSearchParams(query))), { headers: bearer(token) });
    return { status: res.status, headers: res.headers, body: await res.text() };
  }

  return { server, cast, ch, ids, exportUrl, exportOf };
}
