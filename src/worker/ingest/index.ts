import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sidecarSecretOf } from '../../domain/channels/channel-lifecycle.ts';
import { EngineSnapshots } from '../../domain/channels/engine-status.ts';
import { SCHEDULE_SWEEP_MS, ScheduleDelivery } from '../../domain/schedules/schedule-delivery.ts';
import type { Services } from '../../services/index.ts';
import { HeartbeatWriter } from './heartbeats.ts';
import { ChannelLeases } from './lease.ts';
import { ChannelReader } from './reader.ts';

export type IngestServices = Pick<
  Services,
  'config' | 'db' | 'sql' | 'redis' | 'log' | 'pubsub' | 'sidecars' | 'metrics' | 'queues'
>;

export interface Ingest {
  /** Channels whose reader runs in this process. */
  readonly channels: string[];
  /** Runs discovery now (and resolves when it is done). */
  discover(): Promise<void>;
  close(): Promise<void>;
}

interface DiscoveredChannel {
  id: string;
  projectId: string | null;
  status: string;
  sidecarRef: string;
  sidecarUrl: string | null;
  sidecarSecret: string | null;
  sidecarEpoch: string | null;
  sidecarSeq: number;
}

/**
 * Sidecar event ingestion in this worker process: one ChannelReader per
 * running channel whose lease this process holds.
 *
 * Discovery runs in every worker, on a short in-process interval, rather than
 * as a job of the control loop's scheduler: a scheduled job runs on one
 * worker per tick, but here every worker must look, so that a channel whose
 * owner died is taken over by any survivor within the lease's time to live;
 * and a tick of seconds would delay the first as-run row of a channel just
 * started. Its cost is one indexed statement per interval per worker, and one
 * Redis round trip for the leases of all the channels it does not own. A
 * channel's start or stop (channelEvents) also runs it at once.
 *
 * The same worker sees that the sidecars it reads get every committed
 * schedule version within a second, whether or not the process that
 * committed it lived to send it (schedule-delivery.ts).
 */
export function startIngest(services: IngestServices): Ingest {
  const { config, log, redis } = services;
  const { eventsWaitMs, leaseMs, discoveryMs, retryMs } = config.ingest;
  const leases = new ChannelLeases(redis, config.queuePrefix, `${hostname()}:${process.pid}:${randomUUID()}`, leaseMs);
  const snapshots = new EngineSnapshots(redis, config.queuePrefix);
  const heartbeats = new HeartbeatWriter(services.sql, log);
  const readers = new Map<string, ChannelReader>();
  let lastRenewedAt = Date.now();
  let closed = false;

  async function stopReader(channelId: string): Promise<void> {
    const reader = readers.get(channelId);
    if (!reader) return;
    readers.delete(channelId);
    await reader.stop();
    await leases.release([channelId]).catch(() => {});
  }

  async function discoverOnce(): Promise<void> {
    // STOPPING keeps a reader that runs (the sidecar's last events may still come), but starts none.
    const rows = await services.sql.query<DiscoveredChannel>(
      `SELECT id, project_id AS "projectId", status::text AS status, sidecar_ref AS "sidecarRef", sidecar_url AS "sidecarUrl",
              sidecar_secret AS "sidecarSecret", sidecar_epoch AS "sidecarEpoch", sidecar_seq AS "sidecarSeq"
         FROM channels WHERE status IN ('RUNNING', 'STOPPING') AND sidecar_ref IS NOT NULL AND deleted_at IS NULL`,
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const gone = [...readers.values()].filter((r) => byId.get(r.channel.id)?.sidecarRef !== r.channel.sidecarRef);
    await Promise.all(gone.map((r) => stopReader(r.channel.id)));

    const candidates = rows.filter(
      (r) => r.status === 'RUNNING' && r.sidecarUrl && r.sidecarSecret && !readers.has(r.id),
    );
    const taken = new Set(await leases.acquire(candidates.map((r) => r.id)));
    for (const row of candidates) {
      if (!taken.has(row.id)) continue;
      if (closed) {
        await leases.release([row.id]).catch(() => {});
        continue;
      }
      const secret = sidecarSecretOf(config.secretKey, { id: row.id, sidecarSecret: row.sidecarSecret });
      const reader: ChannelReader = new ChannelReader(
        services,
        {
          id: row.id,
          projectId: row.projectId,
          sidecarRef: row.sidecarRef,
          target: { url: row.sidecarUrl as string, secret: secret as string },
          epoch: row.sidecarEpoch,
          seq: row.sidecarSeq,
        },
        {
          waitMs: eventsWaitMs,
          retryMs,
          snapshots,
          heartbeats,
          onEnd: () => {
            if (readers.get(row.id) === reader) void stopReader(row.id);
          },
        },
      );
      readers.set(row.id, reader);
      reader.start();
      log.debug({ channelId: row.id }, 'reading sidecar events');
    }
  }

  // One discovery at a time; a request while one runs is served by one more run after it.
  let discovering: Promise<void> | null = null;
  let again = false;
  function discover(): Promise<void> {
    if (closed) return Promise.resolve();
    if (discovering) {
      again = true;
      return discovering;
    }
    discovering = (async () => {
      do {
        again = false;
        await discoverOnce().catch((err: Error) => log.warn({ err: err.message }, 'event reader discovery failed'));
      } while (again && !closed);
      discovering = null;
    })();
    return discovering;
  }

  async function renew(): Promise<void> {
    const owned = [...readers.keys()];
    try {
      const lost = await leases.renew(owned);
      lastRenewedAt = Date.now();
      await Promise.all(lost.map((id) => stopReader(id)));
      if (lost.length) log.warn({ channels: lost }, 'event reader leases lost');
    } catch (err) {
      // Redis unreachable: once the leases may have expired, another worker may read these channels.
      log.warn({ err: (err as Error).message }, 'event reader leases not renewed');
      if (Date.now() - lastRenewedAt >= leaseMs) await Promise.all(owned.map((id) => stopReader(id)));
    }
  }

  const delivery = new ScheduleDelivery(
    services,
    () => new Map([...readers.values()].map((r) => [r.channel.id, r.channel.target])),
  );
  let sweeping = false;
  const sweepTimer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    delivery
      .sweep()
      .catch((err: Error) => log.warn({ err: err.message }, 'schedule delivery sweep failed'))
      .finally(() => void (sweeping = false));
  }, SCHEDULE_SWEEP_MS);

  const discoveryTimer = setInterval(() => void discover(), discoveryMs);
  const renewTimer = setInterval(() => void renew(), Math.max(100, Math.floor(leaseMs / 3)));
  void discover();

  // A channel started or stopped anywhere is looked at now rather than at the next interval.
  const channelEvents = services.pubsub.subscribe('channelEvents');
  const listening = (async () => {
    for await (const event of channelEvents) {
      if (event.kind === 'STATUS_CHANGED' || event.kind === 'FAILOVER') void discover();
    }
  })().catch((err: Error) => log.warn({ err: err.message }, 'channel events subscription ended'));

  return {
    get channels() {
      return [...readers.keys()];
    },
    discover,
    async close() {
      closed = true;
      clearInterval(sweepTimer);
      delivery.close();
      clearInterval(discoveryTimer);
      clearInterval(renewTimer);
      await channelEvents.return();
      await listening;
      await discovering;
      await Promise.all([...readers.keys()].map((id) => stopReader(id)));
      await heartbeats.close();
    },
  };
}
