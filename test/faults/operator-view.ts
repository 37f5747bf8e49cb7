import { readdir, readFile } from 'node:fs/promises';
import { expect } from 'vitest';
import { sidecarSecretOf } from '../../src/domain/channels/channel-lifecycle.ts';
import type { Services } from '../../src/services/index.ts';
import type { Cast, TestServer } from '../helpers/server.ts';
import { until } from '../helpers/until.ts';
import { alive, type SeenEvent } from './helpers.ts';
import { descendants } from './sidecar-process.ts';

// What the sidecar fault tests check through onair itself, on a channel started
// with startChannel/play: the sidecar's own event log (for the frame-exact
// timings only it knows), the as-run log as the API answers it, the channel's
// state, and that stopChannel leaves no process behind.

/** The channel's sidecar's event log, read again on every refresh (the sidecar keeps it whole). */
export async function followSidecar(services: Services, channelId: string) {
  const row = await services.db.channel.findUniqueOrThrow({ where: { id: channelId } });
  const target = { url: row.sidecarUrl!, secret: sidecarSecretOf(services.config.secretKey, row)! };
  const events: any[] = [];
  // A read that fails (a sidecar slow to answer on a starved machine) leaves the events as they were;
  // a sidecar gone for good shows in the channel's state, which the tests check.
  const refresh = async () => {
    const page = await services.sidecars.events(target, events.at(-1)?.seq ?? 0, 0).catch(() => null);
    if (page) events.push(...page.events);
    return events;
  };
  await refresh();
  return {
    pid: Number(row.sidecarRef),
    events,
    refresh,
    waitFor: (match: (e: any) => boolean, what: string, timeoutMs = 30_000): Promise<any> =>
      until(async () => (await refresh()).find(match), what, timeoutMs, 100),
  };
}

/** A process and all of its descendants, now. */
export async function processTree(pid: number): Promise<number[]> {
  return [pid, ...(await descendants(pid))];
}

/**
 * What an operator checks of a channel that rode out a fault: RUNNING with no
 * error, never failed over, restarted or changed status on channelEvents since
 * `since` (once it was playing).
 */
export async function expectStillRunning(
  server: TestServer,
  cast: Cast,
  channelId: string,
  seen: SeenEvent[],
  since: number,
) {
  const res = await server.gql(
    cast.viewer.token,
    `query($id: ID!) { channel(id: $id) { status errorMessage restartCount } }`,
    { id: channelId },
  );
  expect(res.errors).toBeUndefined();
  expect(res.data.channel).toEqual({ status: 'RUNNING', errorMessage: null, restartCount: 0 });
  expect(
    seen.filter((e) => e.receivedAt >= since && ['STATUS_CHANGED', 'HEARTBEAT_LOST', 'FAILOVER'].includes(e.kind)),
  ).toEqual([]);
}

/** The kinds of the channelEvents about `alarm`, in the order received (ALARM_RAISED, ALARM_CLEARED, …). */
export function alarmKinds(seen: SeenEvent[], alarm: string): string[] {
  return seen.filter((e) => e.alarm === alarm).map((e) => e.kind);
}

export interface AsRunRow {
  clipName: string;
  status: string;
  reason: string | null;
  startedAt: string;
  endedAt: string | null;
  item: { id: string } | null;
}

/** The channel's as-run log as the API gives it to an operator, oldest first. */
export async function asRunOf(server: TestServer, cast: Cast, channelId: string): Promise<AsRunRow[]> {
  const res = await server.gql(
    cast.viewer.token,
    `query($id: ID!) { channel(id: $id) { asRun(first: 500) { edges { node { clipName status reason startedAt endedAt item { id } } } } } }`,
    { id: channelId },
  );
  expect(res.errors).toBeUndefined();
  const rows: AsRunRow[] = res.data.channel.asRun.edges.map((e: { node: AsRunRow }) => e.node);
  return rows.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
}

/**
 * The as-run rows (asRunOf) against the sidecar's log (read after them): each
 * row one ITEM_ON_AIR of the log, none twice. (That no logged item lacks its
 * row is expectSidecarLogRecorded's check.)
 */
export function expectEachAiredOnce(rows: AsRunRow[], events: any[]) {
  const iso = (t: string) => new Date(t).toISOString();
  const aired = new Set(events.filter((e) => e.kind === 'ITEM_ON_AIR').map((e) => `${e.itemId} ${iso(e.startedAt)}`));
  const keys = rows.filter((r) => r.status !== 'FAILED').map((r) => `${r.item?.id} ${iso(r.startedAt)}`);
  expect(keys.filter((k) => !aired.has(k))).toEqual([]);
  expect(new Set(keys).size).toBe(keys.length);
}

/**
 * stopChannel as an operator does, then: no process of the sidecar's tree
 * (`pids`, taken while it played) left, and none on the machine whose command
 * line or environment names the channel or reads its volume.
 */
export async function stopAndExpectNoneLeft(
  server: TestServer,
  cast: Cast,
  channelId: string,
  pids: number[],
  volume: string,
) {
  const res = await server.gql(cast.operator.token, `mutation { stopChannel(id: "${channelId}") { status } }`);
  expect(res.errors).toBeUndefined();
  expect(res.data.stopChannel.status).toBe('STOPPED');
  await until(() => pids.every((p) => !alive(p)), 'no process of the sidecar left', 30_000);
  const left = async () => {
    const found: string[] = [];
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name) || Number(name) === process.pid || !alive(Number(name))) continue;
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
      const environ = await readFile(`/proc/${name}/environ`, 'utf8').catch(() => '');
      if (cmdline.includes(volume) || environ.includes(channelId)) found.push(`${name} ${cmdline}`);
    }
    return found;
  };
  await until(
    async () => (await left()).length === 0,
    `no process naming channel ${channelId} or its volume left`,
    30_000,
  ).catch(async (err) => {
    throw new Error(`${err.message}: ${(await left()).join('; ')}`);
  });
}

/** For a failed wait: what the sidecar logged about alarms and what channelEvents brought, side by side. */
export function explain(err: Error, events: any[], seen: SeenEvent[]): Error {
  const log = events
    .filter((e) => e.alarm || e.kind === 'ERROR')
    .map((e) => `${e.seq} ${e.at} ${e.kind} ${e.alarm ?? ''} ${e.message ?? ''}`);
  const heard = seen.map(
    (e) => `${new Date(e.receivedAt).toISOString()} ${e.kind} ${e.alarm ?? ''} ${e.message ?? ''}`,
  );
  return new Error(`${err.message}\nsidecar log:\n${log.join('\n')}\nchannelEvents:\n${heard.join('\n')}`);
}
