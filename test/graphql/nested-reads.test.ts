import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/server.ts';
import { insertChannel } from '../helpers/fixtures.ts';

// Nested reads must cost a bounded number of SQL statements, whatever the row
// count: each level is one batched load, never one query per parent.

const { server, cast } = useTestServer();

/** Adds `channels` channels × 4 playlists × 10 items to the home project, with their assets. */
async function seed(channels: number): Promise<string[]> {
  const db = server.services.db;
  const playlistIds: string[] = [];
  for (let c = 0; c < channels; c++) {
    const channel = await insertChannel(server.services, cast.home.id, { name: `ch-${c}` });
    for (let p = 0; p < 4; p++) {
      const playlist = await db.playlist.create({ data: { channelId: channel.id, name: `pl-${p}` } });
      playlistIds.push(playlist.id);
      const assets = await db.asset.createManyAndReturn({
        data: Array.from({ length: 10 }, (_, i) => ({
          projectId: cast.home.id,
          filename: `clip-${c}-${p}-${i}.mxf`,
          storageKey: 'k',
          durationMs: i % 3 ? 10_000 : null,
          ...(i % 4 ? { mediaStatus: 'READY' as const, mediaPath: `clip-${i}.mxf` } : {}),
        })),
      });
      await db.item.createMany({
        data: assets.map((asset, position) => ({
          playlistId: playlist.id,
          assetId: asset.id,
          position,
          inPointMs: position % 2 ? 1_000 : null,
        })),
      });
    }
  }
  return playlistIds;
}

/** SQL statements one request sends, leaving out authentication (api_tokens). */
async function statements(query: string, variables?: Record<string, unknown>) {
  server.queries.length = 0;
  const res = await server.gql(cast.editor.token, query, variables);
  expect(res.errors).toBeUndefined();
  const sql = server.queries.filter((q) => !/api_tokens/i.test(q));
  return { res, sql };
}

const CHANNELS = `{ channels { id playlists { id durationMs ready items { id durationMs clipName asset { id filename } } } } }`;
const PLAYLIST = `query($id: ID!) { playlist(id: $id) { id durationMs ready items { id durationMs clipName asset { id filename project { id } } playlist { id } } } }`;
const ASSETS = `{ assets(first: 500) { edges { node { id filename project { id name } } } } }`;

describe('nested reads', () => {
  it('cost the same number of statements for 3 channels as for 6', async () => {
    let playlistIds = await seed(3);
    const small = {
      channels: await statements(CHANNELS),
      playlist: await statements(PLAYLIST, { id: playlistIds[0] }),
      assets: await statements(ASSETS),
    };
    expect(small.channels.res.data.channels).toHaveLength(3);
    const items = small.channels.res.data.channels.flatMap((c: any) => c.playlists.flatMap((p: any) => p.items));
    expect(items).toHaveLength(120);
    expect(items.every((i: any) => i.clipName === i.asset.filename)).toBe(true);
    const first = small.channels.res.data.channels[0].playlists[0];
    // Items 0..9, durations 10 s except 0, 3, 6, 9 (unknown); odd items start at 1 s.
    expect(first.durationMs).toBe(10_000 * 6 - 1_000 * 3);
    expect(first.ready).toBe(false);
    expect(small.assets.res.data.assets.edges).toHaveLength(120);

    playlistIds = await seed(3);
    const large = {
      channels: await statements(CHANNELS),
      playlist: await statements(PLAYLIST, { id: playlistIds[0] }),
      assets: await statements(ASSETS),
    };
    expect(large.channels.res.data.channels).toHaveLength(6);
    expect(large.assets.res.data.assets.edges).toHaveLength(240);

    for (const key of ['channels', 'playlist', 'assets'] as const) {
      expect([key, large[key].sql.length]).toEqual([key, small[key].sql.length]);
      expect([key, small[key].sql.length <= 6]).toEqual([key, true]);
    }
  });
});
