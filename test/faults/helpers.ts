import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect } from 'vitest';
import { sidecarSecretOf } from '../../src/domain/channels/channel-lifecycle.ts';
import { writeChannelSecret } from '../../src/domain/channels/secrets.ts';
import type { Services } from '../../src/services/index.ts';
import { startWorkers, type Workers } from '../../src/worker/index.ts';
import { sidecarPortBase, testPort } from '../helpers/fixtures.ts';
import { type Cast, type GqlResult, type TestServer, useTestServer } from '../helpers/server.ts';
import { srtReceiver } from '../helpers/srt-receiver.ts';
import { makeMediaDir } from '../sidecar/helpers.ts';
import { until } from '../helpers/until.ts';
import { connectWs, type WsConnection } from '../helpers/ws.ts';

// What the fault tests share: a channel playing staged clips to an SRT
// receiver, what an operator sees on channelEvents, and the checks every
// fault must pass (as-run intact, nothing left running).

type Gql = (token: string | null, query: string, variables?: Record<string, unknown>) => Promise<GqlResult>;

/** The fault tests' timings: a short heartbeat timeout and tick, quick retries. */
export const FAULT_ENV = {
  SIDECAR_ENGINE: 'ffmpeg',
  HEARTBEAT_TIMEOUT_MS: '3000',
  CONTROL_TICK_MS: '500',
  EVENTS_WAIT_MS: '1000',
  INGEST_DISCOVERY_MS: '300',
  INGEST_RETRY_MS: '200',
  INGEST_LEASE_MS: '1000',
  // A loaded machine answers slowly; a dead sidecar is seen at once all the same (its connection is refused).
  SIDECAR_TIMEOUT_MS: '10000',
};

/**
 * What most fault tests start from: clips on a media volume, onair (FAULT_ENV plus `env`) with its
 * workers running as in production, a cast, and an SRT receiver on `srtPort`. Started before the
 * file's tests and torn down after them (receiver, workers, server, volume); `workers` is there
 * once started, for a test that stops them itself.
 */
export function useFaultRig(clips: Record<string, number>, env: Record<string, string> = {}) {
  const srtPort = testPort();
  let volume = '';
  let workers: Workers | undefined;
  let receiver: { close(): void } | undefined;
  // Registered first, so it runs last: after the server has closed.
  afterAll(async () => {
    if (volume) await rm(volume, { recursive: true, force: true });
  });
  const { server, cast } = useTestServer(
    async () => {
      volume = await makeMediaDir(clips);
      return {
        ...FAULT_ENV,
        MEDIA_VOLUME_DIR: volume,
        SIDECAR_PORT_BASE: String(sidecarPortBase(20)),
        SIDECAR_PORT_COUNT: '20',
        // Fault tests are about the event readers, heartbeats and failover, not reconciliation.
        RECONCILE_INTERVAL_MS: '600000',
        ...env,
      };
    },
    { timeout: 60_000 },
  );
  beforeAll(async () => {
    workers = await startWorkers(server.services);
    receiver = srtReceiver(srtPort);
  });
  afterAll(async () => {
    receiver?.close();
    await workers?.close();
  });
  return {
    server: server as TestServer,
    cast: cast as Cast,
    srtPort,
    get volume() {
      return volume;
    },
    get workers() {
      return workers!;
    },
  };
}

/** An RTMP output for channelWithClips: the server's application URL and its stream key (a channel secret). */
export interface RtmpOutput {
  url: string;
  streamKey: string;
}

/**
 * A channel on an SRT output to 127.0.0.1:`srtPort` (or on `rtmp`) with a playlist of clips staged
 * on the volume (makeMediaDir's clips/), not started.
 */
export async function channelWithClips(
  services: Services,
  cast: Cast,
  srtPort: number,
  clips: [string, number][],
  rtmp?: RtmpOutput,
) {
  const { db } = services;
  const channel = await db.channel.create({
    data: {
      name: `fault-${Math.random().toString(36).slice(2, 6)}`,
      projectId: cast.home.id,
      ...(rtmp
        ? { outputType: 'RTMP', output: { url: rtmp.url, streamKeySet: true } }
        : { outputType: 'SRT', output: { url: `srt://127.0.0.1:${srtPort}`, latencyMs: null, passphraseSet: false } }),
      // A light mode: the fault suite must not make the encoder fall behind on a busy machine.
      videoFormat: '576p2500',
    },
  });
  if (rtmp) {
    await db.$transaction((tx) =>
      writeChannelSecret(tx, services.config.secretKey, channel.id, { streamKey: rtmp.streamKey }),
    );
  }
  const playlist = await db.playlist.create({ data: { channelId: channel.id, name: 'fault', loop: true } });
  const items = [];
  for (const [position, [file, ms]] of clips.entries()) {
    const asset = await db.asset.create({
      data: {
        projectId: cast.home.id,
        filename: file,
        storageKey: file,
        durationMs: ms,
        mediaStatus: 'READY',
        mediaPath: `clips/${file}`,
      },
    });
    items.push(await db.item.create({ data: { playlistId: playlist.id, assetId: asset.id, position } }));
  }
  return { channel, playlist, items };
}

/** Starts the channel and plays its playlist as an operator does; resolves once its first item is on air. */
export async function startPlaying(gql: Gql, cast: Cast, services: Services, channelId: string, playlistId: string) {
  const ok = async (query: string) => {
    const res = await gql(cast.operator.token, query);
    expect(res.errors).toBeUndefined();
    return res.data;
  };
  expect((await ok(`mutation { startChannel(id: "${channelId}") { status } }`)).startChannel.status).toBe('RUNNING');
  await ok(`mutation { play(channelId: "${channelId}", playlistId: "${playlistId}") { state } }`);
  await until(
    async () => (await sidecarStatus(services, channelId).catch(() => null))?.current?.startedAt,
    'the first item on air',
    60_000,
  );
}

/** The channel's sidecar's own status (its HTTP API), as the channel row names it now. */
export async function sidecarStatus(services: Services, channelId: string) {
  const row = await services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
  if (!row.sidecarUrl) throw new Error('no sidecar');
  const secret = sidecarSecretOf(services.config.secretKey, row)!;
  return services.sidecars.status({ url: row.sidecarUrl, secret });
}

/** An event as the operator's client received it. */
export interface SeenEvent {
  kind: string;
  alarm: string | null;
  message: string | null;
  receivedAt: number;
}

/**
 * channelEvents of one channel through a real GraphQL WebSocket subscription,
 * each stamped when this client received it.
 */
export async function watchChannel(
  url: string,
  token: string,
  services: Services,
  channelId: string,
  projectId: string,
) {
  const ws: WsConnection = connectWs(url, { authorization: `Bearer ${token}` });
  const seen: SeenEvent[] = [];
  const sub = ws.subscribe(`subscription($id: ID) { channelEvents(channelId: $id) { kind alarm message } }`, {
    id: channelId,
  });
  const stamp = () => {
    while (seen.length < sub.results.length) {
      const r = sub.results[seen.length];
      seen.push({
        ...(r.data?.channelEvents ?? { kind: 'ERROR', alarm: null, message: JSON.stringify(r.errors) }),
        receivedAt: Date.now(),
      });
    }
  };
  const stamper = setInterval(stamp, 5);
  // Live once a control event reaches it.
  await sub.waitFor((r) => r.data?.channelEvents.message === 'subscribed', {
    poke: () =>
      services.pubsub.publish('channelEvents', {
        kind: 'UPDATED',
        channelId,
        projectId,
        at: new Date().toISOString(),
        message: 'subscribed',
      }),
    timeoutMs: 10_000,
  });
  return {
    seen,
    /** The first event of `kind` about `alarm` received at or after `since`. */
    waitFor(kind: string, alarm: string | null, since = 0, timeoutMs = 30_000): Promise<SeenEvent> {
      return until(
        () => {
          stamp();
          return seen.find((e) => e.kind === kind && (alarm === null || e.alarm === alarm) && e.receivedAt >= since);
        },
        `${kind} ${alarm ?? ''} on channelEvents`,
        timeoutMs,
        5,
      );
    },
    async close() {
      clearInterval(stamper);
      sub.stop();
      await ws.dispose();
    },
  };
}

/**
 * The channel's as-run log once it is stopped: every entry closed, none
 * written twice (one entry per item and start), none overlapping the next.
 */
export async function expectAsRunIntact(services: Services, channelId: string) {
  const rows = await services.db.asRunEntry.findMany({
    where: { channelId },
    orderBy: [{ startedAt: 'asc' }, { id: 'asc' }],
  });
  expect(rows.filter((r) => r.endedAt === null)).toEqual([]);
  const keys = rows.map((r) => `${r.itemId} ${r.startedAt.toISOString()}`);
  expect(new Set(keys).size).toBe(keys.length);
  const aired = rows.filter((r) => r.status !== 'FAILED');
  for (let i = 1; i < aired.length; i++) {
    // One item on air at a time (a frame's rounding aside).
    expect(aired[i].startedAt.getTime()).toBeGreaterThanOrEqual(aired[i - 1].endedAt!.getTime() - 40);
  }
  return rows;
}

/** Whether a process with this id runs (a zombie not yet reaped counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Prints a row of docs/faults.md's table for this run. */
export function report(fault: string, offAirMs: number | null, toldMs: number | null, saw: string): void {
  const s = (ms: number | null) => (ms === null ? '—' : `${(ms / 1000).toFixed(2)} s`);
  console.log(`| ${fault} | ${s(offAirMs)} | ${s(toldMs)} | ${saw} |`);
}

/**
 * Every item event the channel's sidecar has logged so far (ITEM_ON_AIR,
 * ITEM_ENDED) has exactly one as-run entry, once the workers have read the
 * log up to where it is now: nothing lost, nothing twice.
 */
export async function expectSidecarLogRecorded(services: Services, channelId: string) {
  const { db, config } = services;
  const row = await db.channel.findUniqueOrThrow({ where: { id: channelId } });
  const secret = sidecarSecretOf(config.secretKey, row)!;
  const page = await services.sidecars.events({ url: row.sidecarUrl!, secret }, 0, 0);
  expect(page.events[0]?.seq).toBe(1);
  await until(
    async () => (await db.channel.findUniqueOrThrow({ where: { id: channelId } })).sidecarSeq >= page.lastSeq,
    'the log read up to now',
  );
  const entries = await db.asRunEntry.findMany({ where: { channelId } });
  let items = 0;
  for (const e of page.events) {
    if (e.kind !== 'ITEM_ON_AIR' && e.kind !== 'ITEM_ENDED') continue;
    items++;
    const startedAt = e.kind === 'ITEM_ON_AIR' ? e.startedAt : (e.startedAt ?? e.endedAt);
    const matching = entries.filter(
      (r) => r.startedAt.toISOString() === new Date(startedAt).toISOString() && r.itemId === e.itemId,
    );
    expect(matching, `${e.kind} #${e.seq} of ${e.itemId} at ${startedAt}`).toHaveLength(1);
  }
  return items;
}
