import http from 'node:http';
import pg from 'pg';
import { authenticate } from '../src/auth/authenticate.ts';
import { findAsRunPage } from '../src/domain/as-run/as-run.ts';
import type { Context } from '../src/graphql/context.ts';
import type { Services } from '../src/services/index.ts';
import { post } from './load.ts';

export interface LayerTiming {
  layer: string;
  /** Mean wall time of one call, one call at a time. */
  wallMs: number;
  /** Mean CPU time of this process per call (main thread and libuv; PostgreSQL excluded). */
  cpuMs: number;
}

async function measure(layer: string, n: number, fn: () => Promise<unknown>): Promise<LayerTiming> {
  for (let i = 0; i < Math.min(50, n); i++) await fn();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const wallMs = (performance.now() - t0) / n;
  const used = process.cpuUsage(cpu);
  return { layer, wallMs, cpuMs: (used.user + used.system) / 1000 / n };
}

/**
 * Where the time of one page-1 request goes, one call at a time: the SQL on
 * its own, the page through Prisma as the server runs it, the same through
 * Prisma's include (the alternative it replaced), the auth statement, and the
 * whole HTTP request. Under N concurrent clients a CPU-bound server answers
 * in about N times its CPU per request.
 */
export async function measureLayers(
  services: Services,
  url: string,
  token: string,
  channelId: string,
  query: string,
  n = 300,
): Promise<LayerTiming[]> {
  const db = services.db;
  const ctx = { db, log: services.log, services, principal: null } as Context;
  const client = new pg.Client({ connectionString: services.config.databaseUrl });
  await client.connect();
  const agent = new http.Agent({ keepAlive: true });
  const payload = JSON.stringify({ query, variables: { channelId, first: 100 } });
  // As Query.asRun runs it: the channel's visibility checked by the page statement, channel { id } and item { id } from the row's keys.
  const scope = {
    kind: 'channel' as const,
    channelId,
    visibleTo: (await authenticate(services.sql, `Bearer ${token}`))!,
  };
  const orderBy = [{ startedAt: 'desc' as const }, { id: 'desc' as const }];
  try {
    return [
      await measure('SQL only (pg, page of 101 rows)', n, () =>
        client.query('SELECT * FROM as_run WHERE channel_id = $1 ORDER BY started_at DESC, id DESC LIMIT 101', [
          channelId,
        ]),
      ),
      await measure('auth statement (pg)', n, () => authenticate(services.sql, `Bearer ${token}`)),
      await measure('page with access check (pg), as served', n, () =>
        findAsRunPage(ctx, scope, {}, 101, { channel: 'id', item: 'id' }),
      ),
      await measure('page via findMany + include (replaced)', n, () =>
        db.asRunEntry.findMany({ where: { channelId }, orderBy, take: 101, include: { channel: true, item: true } }),
      ),
      await measure('whole request over HTTP (1 client, same thread)', n, () => post(agent, url, token, payload)),
    ];
  } finally {
    agent.destroy();
    await client.end();
  }
}

export function formatLayers(timings: LayerTiming[]): string {
  const width = Math.max(...timings.map((t) => t.layer.length));
  return timings
    .map(
      (t) =>
        `  ${t.layer.padEnd(width)}  wall ${t.wallMs.toFixed(2).padStart(6)} ms  cpu ${t.cpuMs.toFixed(2).padStart(6)} ms`,
    )
    .join('\n');
}
