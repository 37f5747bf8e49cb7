import http from 'node:http';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import type { CpuTimes } from './cpu.ts';

/** One GraphQL request body, sent again and again. */
export interface Scenario {
  name: string;
  query: string;
  variables: Record<string, unknown>;
}

export interface LoadOptions {
  url: string;
  token: string;
  /** Clients sending back to back, each on its own keep-alive connection. */
  concurrency: number;
  durationMs: number;
  /**
   * Open loop: each client sends one request every `intervalMs` on a fixed
   * schedule, answered or not, and latency counts from the scheduled time (so
   * a slow server cannot slow the load down and hide its queueing). Closed
   * loop (the next request as soon as the answer is in) when unset.
   */
  intervalMs?: number;
}

export interface LoadResult {
  name: string;
  requests: number;
  errors: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  max: number;
  /**
   * Open loop: p99 of the requests scheduled in the row's first second, and of
   * the rest, so that a stall at the start (warm-up) tells from one spread over the row.
   */
  p99FirstSecond?: number;
  p99AfterFirstSecond?: number;
  firstError?: string;
  /** Where the CPU went, per request (bench/cpu.ts), when measured. */
  cpu?: CpuTimes | null;
}

export interface GqlResponse {
  status: number;
  body: { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
}

/** POSTs a GraphQL request over a shared keep-alive agent. */
export function post(agent: http.Agent, url: string, token: string, payload: string): Promise<GqlResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          'content-length': Buffer.byteLength(payload),
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The `p`th percentile (0–100) of ascending values; NaN when there are none. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Closed-loop load: `concurrency` clients each send the next request as soon as
 * the previous answer is in, for `durationMs`. A response with a status other
 * than 200 or with GraphQL errors counts as an error.
 */
export async function runLoad(scenario: Scenario, o: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const payload = JSON.stringify({ query: scenario.query, variables: scenario.variables });
  const latencies: number[] = [];
  // Open loop: latencies of the requests scheduled in the first second, also kept apart.
  const early: number[] = [];
  const late: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + o.durationMs;

  const client = async (index: number) => {
    const interval = o.intervalMs;
    // Open-loop clients start spread over one interval, not all at once.
    let next = started + (interval ? (interval * index) / o.concurrency : 0);
    while (performance.now() < deadline) {
      if (interval) {
        const wait = next - performance.now();
        // Timers round fractional delays down: wait the whole millisecond.
        if (wait > 0) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
        if (next >= deadline) break;
      }
      // Late sends count from their scheduled time (no coordinated omission).
      const t0 = interval ? Math.min(next, performance.now()) : performance.now();
      if (interval) next += interval;
      const record = (ms: number) => {
        latencies.push(ms);
        if (interval) (t0 - started < 1000 ? early : late).push(ms);
      };
      try {
        const res = await post(agent, o.url, o.token, payload);
        record(performance.now() - t0);
        if (res.status !== 200 || res.body.errors?.length) {
          errors++;
          firstError ??= `${res.status} ${res.body.errors?.[0]?.message ?? ''}`;
        }
      } catch (err) {
        record(performance.now() - t0);
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, i) => client(i)));
  const elapsed = performance.now() - started;
  agent.destroy();

  const sorted = Float64Array.from(latencies).sort();
  return {
    name: scenario.name,
    requests: latencies.length,
    errors,
    reqPerSec: latencies.length / (elapsed / 1000),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    ...(o.intervalMs
      ? {
          p99FirstSecond: percentile(Float64Array.from(early).sort(), 99),
          p99AfterFirstSecond: percentile(Float64Array.from(late).sort(), 99),
        }
      : {}),
    firstError,
  };
}

/** Rows of text cells as one aligned table: the first row is the header; the first column is left-aligned. */
export function formatRows(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** The results as one aligned text table. */
export function formatTable(results: LoadResult[]): string {
  const withCpu = results.some((r) => r.cpu);
  const header = ['scenario', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors'];
  if (withCpu) header.push('server thread CPU ms/req', 'machine CPU ms/req', 'steal ms/req');
  const cpu = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(2));
  const rows = results.map((r) => [
    r.name,
    String(r.requests),
    r.reqPerSec.toFixed(0),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.max.toFixed(2),
    String(r.errors),
    ...(withCpu ? [cpu(r.cpu?.mainThreadMs), cpu(r.cpu?.machineBusyMs), cpu(r.cpu?.stealMs)] : []),
  ]);
  return formatRows([header, ...rows]);
}

/** The worker's side of runLoadInWorker. */
export async function workerMain(): Promise<void> {
  const { scenario, options } = workerData as { scenario: Scenario; options: LoadOptions };
  parentPort?.postMessage(await runLoad(scenario, options));
}

/**
 * runLoad on a worker thread, so that building requests and parsing answers
 * does not queue behind the server's work on the main event loop.
 */
export function runLoadInWorker(scenario: Scenario, options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    // Workers start without tsx's loader; register it there before loading this TypeScript module.
    const self = JSON.stringify(import.meta.url);
    const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
    const worker = new Worker(
      `import(${tsx}).then((api) => { api.register(); return import(${self}); }).then((m) => m.workerMain())`,
      {
        eval: true,
        workerData: { scenario, options },
      },
    );
    worker.once('message', (result: LoadResult) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load worker exited with ${code}`));
    });
  });
}
