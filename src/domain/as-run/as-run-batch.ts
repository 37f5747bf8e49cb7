import type { DomainContext } from '../shared/context.ts';
import {
  attachRelations,
  findAsRunPage,
  selectChannelPages,
  type AsRunPageRequest,
  type AsRunQuery,
  type AsRunRow,
} from './as-run.ts';

interface Waiter {
  channelId: string;
  resolve: (rows: AsRunRow[]) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  page: AsRunPageRequest;
  limit: number;
  query: AsRunQuery;
  waiters: Waiter[];
}

// Per request (the context object), the batches still collecting, by their arguments.
const open = new WeakMap<DomainContext, Map<string, Batch>>();

function keyOf(page: AsRunPageRequest, limit: number, query: AsRunQuery): string {
  return JSON.stringify([
    page.from?.getTime(),
    page.to?.getTime(),
    page.after?.at.getTime(),
    page.after?.id,
    limit,
    query,
  ]);
}

async function run(ctx: DomainContext, batch: Batch): Promise<void> {
  const channelIds = [...new Set(batch.waiters.map((w) => w.channelId))];
  try {
    let rows: AsRunRow[];
    if (channelIds.length === 1) {
      rows = await findAsRunPage(
        ctx,
        { kind: 'channel', channelId: channelIds[0] },
        batch.page,
        batch.limit,
        batch.query,
      );
    } else {
      rows = await attachRelations(
        ctx,
        await selectChannelPages(ctx, channelIds, batch.page, batch.limit),
        batch.query,
      );
    }
    const byChannel = new Map<string, AsRunRow[]>(channelIds.map((id) => [id, []]));
    for (const row of rows) byChannel.get(row.channelId)?.push(row);
    for (const w of batch.waiters) w.resolve(byChannel.get(w.channelId) ?? []);
  } catch (err) {
    for (const w of batch.waiters) w.reject(err);
  }
}

/**
 * Channel.asRun for a list of channels (`channels { asRun { ... } }`) would be
 * one page statement per channel. Calls made in the same turn of the event
 * loop with the same arguments are answered together instead: one LATERAL
 * statement for all their channels, one per relation.
 */
export function findChannelAsRunPage(
  ctx: DomainContext,
  channelId: string,
  page: AsRunPageRequest,
  limit: number,
  query: AsRunQuery,
): Promise<AsRunRow[]> {
  let batches = open.get(ctx);
  if (!batches) open.set(ctx, (batches = new Map()));
  const key = keyOf(page, limit, query);
  let batch = batches.get(key);
  if (!batch) {
    const created: Batch = { page, limit, query, waiters: [] };
    batches.set(key, created);
    batch = created;
    // setImmediate runs after the pending promise jobs, so every sibling resolver has called in.
    setImmediate(() => {
      batches.delete(key);
      void run(ctx, created);
    });
  }
  const target = batch;
  return new Promise((resolve, reject) => target.waiters.push({ channelId, resolve, reject }));
}
