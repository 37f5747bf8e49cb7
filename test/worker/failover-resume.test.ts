import { beforeAll, describe, expect, it } from 'vitest';
import { EngineSnapshots, engineState, unreachable } from '../../src/domain/channels/engine-status.ts';
import { lastOnAir, resumePosition } from '../../src/domain/channels/playout-resume.ts';
import { insertChannel } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';

// Where a failed-over channel joins its schedule: items of 4 s, 20 s and 4 s.
const durations = [4000, 20_000, 4000];

describe('resumePosition', () => {
  it.each([
    ['within the item on air', false, 1, 5000, { index: 1, offsetMs: 5000 }],
    ['at its very start', false, 1, 0, { index: 1, offsetMs: 0 }],
    ['a clock slightly behind counts as the start', false, 1, -40, { index: 1, offsetMs: 0 }],
    ['past its end, into the next item', false, 1, 21_000, { index: 2, offsetMs: 1000 }],
    ['exactly at its end: the next item from its start', false, 0, 4000, { index: 1, offsetMs: 0 }],
    ['past the end of a playlist that does not loop', false, 1, 25_000, null],
    ['past the end of a looping playlist: round again', true, 2, 5000, { index: 0, offsetMs: 1000 }],
    ['several rounds of a looping playlist', true, 0, 3 * 28_000 + 500, { index: 0, offsetMs: 500 }],
    ['fractions of a millisecond are rounded', false, 0, 1234.6, { index: 0, offsetMs: 1235 }],
  ] as const)('%s', (_, loop, index, positionMs, expected) => {
    expect(resumePosition(durations, loop, index, positionMs)).toEqual(expected);
  });
});

describe('lastOnAir: what was on air on a lost sidecar', () => {
  const { server } = useTestServer();
  let snapshots: EngineSnapshots;
  beforeAll(async () => {
    snapshots = new EngineSnapshots(server.services.redis, server.services.config.queuePrefix);
  });

  const status = (state: 'PLAYING' | 'PAUSED' | 'IDLE', positionMs: number) => ({
    channelId: 'x',
    engine: 'ffmpeg',
    state,
    playlistId: state === 'IDLE' ? null : 'pl-1',
    loop: false,
    current:
      state === 'IDLE'
        ? null
        : {
            itemId: 'it-2',
            assetId: 'a',
            clipName: 'two.mp4',
            index: 1,
            startedAt: '2026-11-25T10:00:00.000Z',
            positionMs,
            durationMs: 20_000,
          },
    next: null,
    epoch: 'e',
    lastSeq: 3,
    errors: [],
  });

  it('reads the engine snapshot of the lost run: item, position and when it was read; paused or not', async () => {
    const channel = await insertChannel(server.services, null);
    const startedAt = new Date(Date.now() - 60_000);
    const readAt = new Date(Date.now() - 3000);
    await snapshots.save(engineState(channel.id, status('PLAYING', 7000), readAt));
    expect(await lastOnAir(server.services, { id: channel.id, startedAt, lastHeartbeatAt: readAt })).toEqual({
      playlistId: 'pl-1',
      itemId: 'it-2',
      positionMs: 7000,
      at: readAt,
      paused: false,
      source: 'snapshot',
    });
    await snapshots.save(engineState(channel.id, status('PAUSED', 7000), readAt));
    expect((await lastOnAir(server.services, { id: channel.id, startedAt, lastHeartbeatAt: readAt }))?.paused).toBe(
      true,
    );
    // Nothing playing: nothing to resume.
    await snapshots.save(engineState(channel.id, status('IDLE', 0), readAt));
    expect(await lastOnAir(server.services, { id: channel.id, startedAt, lastHeartbeatAt: readAt })).toBeNull();
  });

  it('counts the position of a snapshot marked unreachable from the last heartbeat, not from when it was marked', async () => {
    const channel = await insertChannel(server.services, null);
    const heartbeat = new Date(Date.now() - 2500);
    const read = engineState(channel.id, status('PLAYING', 7000), new Date(heartbeat.getTime() - 100));
    await snapshots.save(unreachable(read, channel.id, new Date()));
    expect(
      await lastOnAir(server.services, {
        id: channel.id,
        startedAt: new Date(Date.now() - 60_000),
        lastHeartbeatAt: heartbeat,
      }),
    ).toMatchObject({
      positionMs: 7000,
      at: heartbeat,
    });
  });

  it('falls back to the open as-run row when there is no snapshot of this run', async () => {
    const { db } = server.services;
    const channel = await insertChannel(server.services, null);
    const playlist = await db.playlist.create({ data: { channelId: channel.id, name: 'p' } });
    const asset = await db.asset.create({ data: { filename: 'two.mp4', storageKey: 'two.mp4', durationMs: 20_000 } });
    const item = await db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: 0 } });
    const itemStartedAt = new Date(Date.now() - 5000);
    await db.asRunEntry.create({
      data: {
        channelId: channel.id,
        playlistId: playlist.id,
        itemId: item.id,
        assetId: asset.id,
        clipName: 'two.mp4',
        startedAt: itemStartedAt,
        status: 'PLAYED',
      },
    });
    // A snapshot left by an earlier run of the channel (before this sidecar started) does not count.
    await snapshots.save(engineState(channel.id, status('PLAYING', 1000), new Date(Date.now() - 120_000)));
    expect(
      await lastOnAir(server.services, {
        id: channel.id,
        startedAt: new Date(Date.now() - 60_000),
        lastHeartbeatAt: new Date(),
      }),
    ).toEqual({
      playlistId: playlist.id,
      itemId: item.id,
      positionMs: 0,
      at: itemStartedAt,
      paused: false,
      source: 'as-run',
    });
    await snapshots.remove(channel.id);
    expect((await lastOnAir(server.services, { id: channel.id, startedAt: null, lastHeartbeatAt: null }))?.source).toBe(
      'as-run',
    );
  });
});
