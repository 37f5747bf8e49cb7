import { afterAll, beforeAll, expect } from 'vitest';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { type Cast, type TestServer, useTestServer } from '../helpers/server.ts';
import { createChannelWithPlaylist, type Media, moveIntoProject, setUpMedia } from './as-run-helpers.ts';

// What the schedule's end-to-end tests share: a real onair with its workers, the clips staged
// through a playlist of them all (a schedule names their assets), and a 576p25 channel on the SRT
// output. The schedule itself, and what the test measures, are each test's own.

export interface ScheduledChannel {
  server: TestServer;
  cast: Cast;
  media: Media & { srtPort: number };
  channelId: string;
  /** The playlist of every clip, in the order given. */
  playlistId: string;
  /** Each clip's asset id, by file name. */
  assets: Record<string, string>;
  /** A request as the project's operator; any error fails the test. */
  operator(query: string, variables?: Record<string, unknown>): Promise<any>;
}

/**
 * Registers the hooks that set the channel up before the file's tests (and take it down after):
 * the object returned is filled in place once they have run, as `useTestServer`'s is.
 */
export function useScheduledChannel(
  clips: Record<string, number>,
  options: { env?: Record<string, string>; media?: Parameters<typeof setUpMedia>[1] } = {},
): ScheduledChannel {
  const rig = { assets: {} } as ScheduledChannel;
  beforeAll(async () => {
    rig.media = await setUpMedia(clips, options.media);
  });
  afterAll(() => rig.media?.close());
  const { server, cast } = useTestServer(() => ({ ...rig.media.env, ...options.env }));
  Object.assign(rig, { server, cast });
  rig.operator = async (query, variables = {}) => {
    const res = await server.gql(cast.operator.token, query, variables);
    expect(res.errors).toBeUndefined();
    return res.data;
  };

  let workers: Workers | undefined;
  beforeAll(async () => {
    await moveIntoProject(rig.media.store, cast.home.id);
    workers = await startWorkers(server.services);
    ({ channelId: rig.channelId, playlistId: rig.playlistId } = await createChannelWithPlaylist(
      server.gql,
      cast,
      rig.media.srtPort,
      Object.entries(clips).map(([name, s]) => [name, s * 1000]),
      '576p2500',
    ));
    const res = await server.gql(
      cast.viewer.token,
      `{ playlist(id: "${rig.playlistId}") { items { asset { id filename } } } }`,
    );
    for (const { asset } of res.data.playlist.items) rig.assets[asset.filename] = asset.id;
  }, 120_000);
  afterAll(async () => {
    await workers?.close();
  });
  return rig;
}
