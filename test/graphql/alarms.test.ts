import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { announceAlarms, syncNodeAlarms } from '../../src/domain/channels/alarms.ts';
import { applyEventsPage } from '../../src/domain/as-run/as-run-record.ts';
import { csvRow } from '../../src/domain/as-run/export/csv.ts';
import { MISSING_MEDIA_ERROR, markMissingMedia } from '../../src/domain/media/staging/missing.ts';
import type { EventsPage, SidecarEvent, SidecarEventInput } from '../../src/protocol/sidecar-api.ts';
import { timeOrderedId } from '../../src/sidecar/event-log.ts';
import { insertChannel, uniq } from '../helpers/fixtures.ts';
import { useTestServer } from '../helpers/server.ts';
import { connectWs } from '../helpers/ws.ts';

// Channel alarms, errorMessage, the as-run reason and media that left the volume,
// as an operator reads them through the API.
const { server, cast } = useTestServer();

const REF = 'sidecar-a';
const now = () => new Date().toISOString();

async function runningChannel() {
  const { db } = server.services;
  const channel = await insertChannel(server.services, cast.home.id, {
    status: 'RUNNING',
    sidecarRef: REF,
    sidecarUrl: 'http://127.0.0.1:1',
  });
  const asset = await db.asset.create({
    data: { projectId: cast.home.id, filename: 'clip.mp4', storageKey: 'k', durationMs: 1000 },
  });
  const playlist = await db.playlist.create({ data: { channelId: channel.id, name: 'pl' } });
  const item = await db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position: 0 } });
  const epoch = timeOrderedId();
  let seq = 0;
  const ref = { itemId: item.id, assetId: asset.id, playlistId: playlist.id, clipName: 'clip.mp4' };
  /** Applies the events as the worker's reader does (numbered after the last), and announces what changed. */
  const apply = async (...events: SidecarEventInput[]) => {
    const after = seq;
    const numbered = events.map((e) => ({ ...e, seq: ++seq, at: now() }) as SidecarEvent);
    const page: EventsPage = { epoch, events: numbered, lastSeq: seq };
    const applied = await applyEventsPage(db, {
      channelId: channel.id,
      sidecarRef: REF,
      after,
      page,
      receivedAt: new Date(),
    });
    announceAlarms(server.services, applied.projectId, applied.alarms);
    return { applied, page, after };
  };
  return { channel, asset, playlist, item, ref, apply };
}

const ALARMS = `query($id: ID!) { channel(id: $id) { status errorMessage alarms { kind message since } } }`;
const read = async (id: string) => {
  const res = await server.gql(cast.viewer.token, ALARMS, { id });
  expect(res.errors).toBeUndefined();
  return res.data.channel as {
    status: string;
    errorMessage: string | null;
    alarms: { kind: string; message: string; since: string }[];
  };
};

describe('channel alarms', () => {
  it('a raised alarm shows in Channel.alarms and on channelEvents within a second; a raise while up only updates its message; clear removes it and keeps the history', async () => {
    const { channel, apply } = await runningChannel();
    const ws = connectWs(server.url, { authorization: `Bearer ${cast.viewer.token}` });
    const events = ws.subscribe(`subscription($id: ID) { channelEvents(channelId: $id) { kind alarm message at } }`, {
      id: channel.id,
    });
    try {
      // The subscription is live once a control event reaches it.
      await events.waitFor((r) => r.data?.channelEvents.kind === 'UPDATED', {
        poke: () =>
          server.services.pubsub.publish('channelEvents', {
            kind: 'UPDATED',
            channelId: channel.id,
            projectId: cast.home.id,
            at: now(),
            message: 'ping',
          }),
      });
      const before = await server.services.metrics.registry.getSingleMetricAsString(
        'onair_channel_alarms_raised_total',
      );
      const sentAt = Date.now();
      const first = await apply({
        kind: 'ALARM_RAISED',
        alarm: 'OUTPUT_LOST',
        message: 'srt://127.0.0.1:9000: connection refused',
      });
      expect(first.applied.alarms).toMatchObject([{ kind: 'OUTPUT_LOST', change: 'RAISED' }]);
      const raised = await events.waitFor((r) => r.data?.channelEvents.kind === 'ALARM_RAISED', { timeoutMs: 1000 });
      expect(Date.now() - sentAt).toBeLessThan(1000);
      expect(raised.data.channelEvents).toMatchObject({
        alarm: 'OUTPUT_LOST',
        message: 'OUTPUT_LOST: srt://127.0.0.1:9000: connection refused',
      });

      let seen = await read(channel.id);
      expect(seen.status).toBe('RUNNING');
      expect(seen.alarms).toMatchObject([{ kind: 'OUTPUT_LOST', message: 'srt://127.0.0.1:9000: connection refused' }]);
      const since = seen.alarms[0].since;

      // The same page read again (a worker restarted mid-page) changes nothing.
      const again = await applyEventsPage(server.services.db, {
        channelId: channel.id,
        sidecarRef: REF,
        after: first.after,
        page: first.page,
        receivedAt: new Date(),
      });
      expect(again.alarms).toEqual([]);
      // A second raise while up: the message follows, nothing is announced, `since` stays.
      expect(
        (await apply({ kind: 'ALARM_RAISED', alarm: 'OUTPUT_LOST', message: 'still refused' })).applied.alarms,
      ).toEqual([]);
      seen = await read(channel.id);
      expect(seen.alarms).toEqual([{ kind: 'OUTPUT_LOST', message: 'still refused', since }]);
      const after = await server.services.metrics.registry.getSingleMetricAsString('onair_channel_alarms_raised_total');
      const count = (text: string) =>
        Number(text.match(new RegExp(`channel="${channel.id}",kind="OUTPUT_LOST"} (\\d+)`))?.[1] ?? 0);
      expect(count(after) - count(before)).toBe(1);

      expect((await apply({ kind: 'ALARM_CLEARED', alarm: 'OUTPUT_LOST' })).applied.alarms).toMatchObject([
        { change: 'CLEARED' },
      ]);
      const cleared = await events.waitFor((r) => r.data?.channelEvents.kind === 'ALARM_CLEARED', { timeoutMs: 1000 });
      expect(cleared.data.channelEvents.alarm).toBe('OUTPUT_LOST');
      expect((await read(channel.id)).alarms).toEqual([]);
      // Clearing a cleared alarm does nothing; the history is kept.
      expect((await apply({ kind: 'ALARM_CLEARED', alarm: 'OUTPUT_LOST' })).applied.alarms).toEqual([]);
      const history = await server.services.db.channelAlarm.findMany({ where: { channelId: channel.id } });
      expect(history).toHaveLength(1);
      expect(history[0].clearedAt).not.toBeNull();
    } finally {
      events.stop();
      await ws.dispose();
    }
  });

  it('two raises of one kind at once leave one alarm up', async () => {
    const { channel } = await runningChannel();
    const { raiseAlarm } = await import('../../src/domain/channels/alarms.ts');
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => raiseAlarm(server.services.db, channel.id, 'ENGINE_BEHIND', `behind ${i}`)),
    );
    expect(results.filter((r) => r?.change === 'RAISED')).toHaveLength(1);
    expect((await read(channel.id)).alarms).toHaveLength(1);
  });

  it('errorMessage says why playout stopped when the operator did not stop it, and PLAYING clears it', async () => {
    const { channel, ref, apply } = await runningChannel();
    const startedAt = now();
    await apply({ kind: 'STATE_CHANGED', state: 'PLAYING' }, { kind: 'ITEM_ON_AIR', ...ref, startedAt });
    const stopped = await apply(
      {
        kind: 'ITEM_ENDED',
        ...ref,
        startedAt,
        endedAt: now(),
        durationMs: 10,
        how: 'TRUNCATED',
        reason: 'output lost: srt receiver gone',
      },
      { kind: 'STATE_CHANGED', state: 'STOPPED' },
    );
    expect(stopped.applied.errorMessage).toBe('playout stopped: output lost: srt receiver gone');
    expect((await read(channel.id)).errorMessage).toBe('playout stopped: output lost: srt receiver gone');
    // The as-run entry carries the reason.
    const res = await server.gql(
      cast.viewer.token,
      `query($id: ID!) { asRun(channelId: $id) { edges { node { status reason } } } }`,
      { id: channel.id },
    );
    expect(res.data.asRun.edges).toEqual([{ node: { status: 'TRUNCATED', reason: 'output lost: srt receiver gone' } }]);

    await apply({ kind: 'STATE_CHANGED', state: 'PLAYING' });
    expect((await read(channel.id)).errorMessage).toBeNull();

    // The sidecar's error, then STOPPED: every item failed.
    await apply(
      { kind: 'ERROR', message: 'every item in the playlist failed: stopping' },
      { kind: 'STATE_CHANGED', state: 'STOPPED' },
    );
    expect((await read(channel.id)).errorMessage).toBe('playout stopped: every item in the playlist failed: stopping');
    await apply({ kind: 'STATE_CHANGED', state: 'PLAYING' });

    // A PLAYOUT_STOPPED alarm.
    await apply({ kind: 'ALARM_RAISED', alarm: 'PLAYOUT_STOPPED', message: 'the output cannot be restarted' });
    const seen = await read(channel.id);
    expect(seen.errorMessage).toBe('playout stopped: the output cannot be restarted');
    expect(seen.alarms.map((a) => a.kind)).toEqual(['PLAYOUT_STOPPED']);
  });

  it("the operator's stop (TRUNCATED without a reason) and a playlist's end set no errorMessage", async () => {
    const { channel, ref, apply } = await runningChannel();
    const startedAt = now();
    await apply({ kind: 'STATE_CHANGED', state: 'PLAYING' }, { kind: 'ITEM_ON_AIR', ...ref, startedAt });
    await apply(
      { kind: 'ITEM_ENDED', ...ref, startedAt, endedAt: now(), durationMs: 10, how: 'TRUNCATED' },
      { kind: 'STATE_CHANGED', state: 'STOPPED' },
    );
    expect((await read(channel.id)).errorMessage).toBeNull();
    const second = now();
    await apply({ kind: 'STATE_CHANGED', state: 'PLAYING' }, { kind: 'ITEM_ON_AIR', ...ref, startedAt: second });
    await apply(
      { kind: 'ITEM_ENDED', ...ref, startedAt: second, endedAt: now(), durationMs: 10, how: 'PLAYED' },
      { kind: 'STATE_CHANGED', state: 'STOPPED' },
    );
    expect((await read(channel.id)).errorMessage).toBeNull();
  });

  it("stopChannel clears the channel's alarms and closes what was on air with the reason", async () => {
    const { channel, ref, apply } = await runningChannel();
    await apply({ kind: 'STATE_CHANGED', state: 'PLAYING' }, { kind: 'ITEM_ON_AIR', ...ref, startedAt: now() });
    await apply({ kind: 'ALARM_RAISED', alarm: 'ENGINE_BEHIND', message: '12 frames dropped' });
    // No sidecar to stop (its reference gone): the stop goes straight to STOPPED.
    await server.services.db.channel.update({ where: { id: channel.id }, data: { sidecarRef: null } });
    const res = await server.gql(
      cast.operator.token,
      `mutation($id: ID!) { stopChannel(id: $id) { status errorMessage alarms { kind } } }`,
      { id: channel.id },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data.stopChannel).toEqual({ status: 'STOPPED', errorMessage: null, alarms: [] });
    const entries = await server.services.db.asRunEntry.findMany({ where: { channelId: channel.id } });
    expect(entries).toMatchObject([{ status: 'TRUNCATED', reason: 'stopped by the operator' }]);
  });

  it('a new sidecar epoch clears the alarms the previous sidecar raised', async () => {
    const { channel, apply } = await runningChannel();
    await apply({ kind: 'ALARM_RAISED', alarm: 'OUTPUT_LOST', message: 'gone' });
    const page: EventsPage = { epoch: timeOrderedId(), events: [], lastSeq: 0 };
    const applied = await applyEventsPage(server.services.db, {
      channelId: channel.id,
      sidecarRef: REF,
      after: 0,
      page,
      receivedAt: new Date(),
    });
    expect(applied.alarms).toMatchObject([{ kind: 'OUTPUT_LOST', change: 'CLEARED' }]);
    expect((await read(channel.id)).alarms).toEqual([]);
  });

  it('NODE_OFFLINE is raised for the running channels of an offline node and cleared when it is back', async () => {
    const { db } = server.services;
    const node = await db.clusterNode.create({ data: { hostname: `n-${uniq()}`, online: false } });
    const channel = await insertChannel(server.services, cast.home.id, {
      status: 'RUNNING',
      nodeId: node.id,
      sidecarRef: 'x',
    });
    const stopped = await insertChannel(server.services, cast.home.id, { status: 'STOPPED', nodeId: node.id });
    const raised = await syncNodeAlarms(db);
    expect(raised.filter((c) => c.channelId === channel.id)).toMatchObject([
      { kind: 'NODE_OFFLINE', change: 'RAISED', projectId: cast.home.id },
    ]);
    expect(raised.some((c) => c.channelId === stopped.id)).toBe(false);
    expect((await read(channel.id)).alarms).toMatchObject([
      { kind: 'NODE_OFFLINE', message: `node ${node.hostname} does not answer` },
    ]);
    expect((await syncNodeAlarms(db)).filter((c) => c.channelId === channel.id)).toEqual([]);
    await db.clusterNode.update({ where: { id: node.id }, data: { online: true } });
    expect((await syncNodeAlarms(db)).filter((c) => c.channelId === channel.id)).toMatchObject([{ change: 'CLEARED' }]);
    expect((await read(channel.id)).alarms).toEqual([]);
  });

  it('Channel.alarms of many channels costs the statements of one', async () => {
    const count = async () => {
      server.queries.length = 0;
      const res = await server.gql(cast.editor.token, `{ channels { id alarms { kind message since } } }`);
      expect(res.errors).toBeUndefined();
      return server.queries.filter((q) => !/api_tokens/i.test(q) && /channel_alarms/.test(q)).length;
    };
    const few = await count();
    for (let i = 0; i < 4; i++)
      await (await runningChannel()).apply({ kind: 'ALARM_RAISED', alarm: 'ENGINE_BEHIND', message: `${i}` });
    expect(await count()).toBe(few);
    expect(few).toBeLessThanOrEqual(1);
  });
});

describe('media that left the volume', () => {
  it('a READY asset whose staged file is gone reads ERROR (Item.mediaStatus, Playlist.ready); one whose file is there stays READY', async () => {
    const { db, config } = server.services;
    const { asset, playlist, item } = await runningChannel();
    const present = await db.asset.create({
      data: { projectId: cast.home.id, filename: 'here.mp4', storageKey: 'k2', durationMs: 1000 },
    });
    const dir = path.join(config.mediaVolumeDir, `alarms-test-${uniq()}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'here.mp4'), 'x');
    await db.asset.update({
      where: { id: asset.id },
      data: { mediaStatus: 'READY', mediaPath: path.relative(config.mediaVolumeDir, path.join(dir, 'gone.mp4')) },
    });
    await db.asset.update({
      where: { id: present.id },
      data: { mediaStatus: 'READY', mediaPath: path.relative(config.mediaVolumeDir, path.join(dir, 'here.mp4')) },
    });
    try {
      const query = `query($id: ID!) { playlist(id: $id) { ready items { id mediaStatus mediaError } } }`;
      expect((await server.gql(cast.viewer.token, query, { id: playlist.id })).data.playlist.ready).toBe(true);
      const moved = await markMissingMedia(server.services);
      expect(moved).toContain(asset.id);
      expect(moved).not.toContain(present.id);
      const res = await server.gql(cast.viewer.token, query, { id: playlist.id });
      expect(res.data.playlist).toEqual({
        ready: false,
        items: [{ id: item.id, mediaStatus: 'ERROR', mediaError: MISSING_MEDIA_ERROR }],
      });
      expect((await db.asset.findUniqueOrThrow({ where: { id: present.id } })).mediaStatus).toBe('READY');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('as-run export', () => {
  it('the CSV carries the reason after the status', () => {
    const row = {
      id: 'a',
      channelId: 'c',
      channelName: 'ch',
      playlistId: null,
      itemId: null,
      assetId: null,
      clipName: 'clip',
      startedAt: new Date(0),
      endedAt: new Date(1000),
      durationMs: 1000,
      status: 'FAILED' as const,
      reason: 'media missing, "clip"',
    };
    // The schedule's five columns follow it, empty for manual play.
    expect(csvRow(row)).toMatch(/,FAILED,"media missing, ""clip""",,,,,\r\n$/);
  });
});
