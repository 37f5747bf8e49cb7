import pg from 'pg';

/** A statement as Prisma sent it: SQL text and its JSON-encoded parameters. */
export interface CapturedQuery {
  query: string;
  params: string;
  /** Sent as a named statement on a connection that uses its generic plan (Sql.queryGenericArrays). */
  generic?: boolean;
}

export interface PlanSummary {
  /** Node types from the top, e.g. "Limit > Index Scan using as_run_channel_id_started_at_id_idx". */
  shape: string;
  indexCond: string[];
  filter: string[];
  rowsRemovedByFilter: number;
  sharedHitBlocks: number;
  sharedReadBlocks: number;
  executionMs: number;
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Filter?: string;
  'Rows Removed by Filter'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

function walk(node: PlanNode, out: PlanNode[] = []): PlanNode[] {
  out.push(node);
  for (const child of node.Plans ?? []) walk(child, out);
  return out;
}

/** EXPLAIN (ANALYZE, BUFFERS) of a captured statement, with its own parameters. */
export async function explain(url: string, q: CapturedQuery): Promise<PlanSummary> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const params = JSON.parse(q.params) as unknown[];
    const res = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${q.query}`, params);
    const plan = res.rows[0]['QUERY PLAN'][0] as { Plan: PlanNode; 'Execution Time': number };
    const nodes = walk(plan.Plan);
    return {
      shape: nodes
        .map((n) => (n['Index Name'] ? `${n['Node Type']} using ${n['Index Name']}` : n['Node Type']))
        .join(' > '),
      indexCond: nodes.flatMap((n) => (n['Index Cond'] ? [n['Index Cond']] : [])),
      filter: nodes.flatMap((n) => (n.Filter ? [n.Filter] : [])),
      rowsRemovedByFilter: nodes.reduce((s, n) => s + (n['Rows Removed by Filter'] ?? 0), 0),
      sharedHitBlocks: plan.Plan['Shared Hit Blocks'] ?? 0,
      sharedReadBlocks: plan.Plan['Shared Read Blocks'] ?? 0,
      executionMs: plan['Execution Time'],
    };
  } finally {
    await client.end();
  }
}

export function formatPlan(name: string, p: PlanSummary): string {
  return [
    `${name}: ${p.shape}`,
    ...p.indexCond.map((c) => `    Index Cond: ${c}`),
    ...p.filter.map((f) => `    Filter: ${f} (rows removed: ${p.rowsRemovedByFilter})`),
    `    buffers hit ${p.sharedHitBlocks}, read ${p.sharedReadBlocks}; execution ${p.executionMs.toFixed(3)} ms`,
  ].join('\n');
}
