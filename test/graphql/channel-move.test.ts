import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/server.ts';
import { insertChannel } from '../helpers/fixtures.ts';

const { server, cast } = useTestServer();

describe('moving a channel to another project', () => {
  it('is refused while its playlists use assets of the old project, and allowed once they are gone', async () => {
    const { db } = server.services;
    const channel = await insertChannel(server.services, cast.home.id);
    const asset = await db.asset.create({ data: { projectId: cast.home.id, filename: 'a.mxf', storageKey: 'a.mxf' } });
    const playlist = await db.playlist.create({ data: { channelId: channel.id, name: 'p' } });
    const item = await db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: 0 } });

    const move = `mutation { updateChannel(id: "${channel.id}", input: { projectId: "${cast.other.id}" }) { project { id } } }`;
    const refused = await server.gql(cast.admin.token, move);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.projectId' });
    expect((await db.channel.findUniqueOrThrow({ where: { id: channel.id } })).projectId).toBe(cast.home.id);

    await server.gql(cast.admin.token, `mutation { removeItem(id: "${item.id}") }`);
    const moved = await server.gql(cast.admin.token, move);
    expect(moved.data?.updateChannel.project.id).toBe(cast.other.id);
  });
});
