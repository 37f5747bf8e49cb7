// The database's own rate for the page statement onair sends: pgbench with
// prepared statements, the same parameters (untyped, as node-postgres sends
// them, typed by the statement's casts) and as many clients as the HTTP load.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CapturedQuery } from './explain.ts';
import { machineCpu } from './wrk.ts';

export interface PgbenchResult {
  tps: number;
  latencyMs: number;
  failed: number;
  machineCpuMs: number;
  machineBusy: number;
}

/** `pgbench -M prepared -n -c <clients> -j 2 -T <seconds>` running the statement with its captured parameters. */
export async function runPgbench(
  databaseUrl: string,
  statement: CapturedQuery,
  clients: number,
  seconds: number,
): Promise<PgbenchResult> {
  const params = JSON.parse(statement.params) as unknown[];
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-pgbench-'));
  const file = path.join(dir, 'page.sql');
  // $n becomes pgbench's :pn, given with -D (pgbench sends each as an untyped parameter under -M prepared).
  writeFileSync(file, `${statement.query.replace(/\$(\d+)/g, ':p$1').trim()};\n`);
  const defines = params.flatMap((v, i) => ['-D', `p${i + 1}=${typeof v === 'string' ? v : JSON.stringify(v)}`]);
  const m0 = machineCpu();
  const out = await new Promise<string>((resolve, reject) => {
    // A statement onair sends on its generic-plan connections runs with the same setting here.
    const env = statement.generic
      ? { ...process.env, PGOPTIONS: '-c plan_cache_mode=force_generic_plan' }
      : process.env;
    const child = spawn(
      'pgbench',
      [
        '-M',
        'prepared',
        '-n',
        '-c',
        String(clients),
        '-j',
        '2',
        '-T',
        String(seconds),
        '-f',
        file,
        ...defines,
        databaseUrl,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
      },
    );
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`pgbench exited with ${code}: ${text}`)),
    );
  });
  const m1 = machineCpu();
  rmSync(dir, { recursive: true, force: true });
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
  const processed = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0);
  if (!Number.isFinite(tps) || processed === 0) throw new Error(`pgbench: ${out}`);
  return {
    tps,
    latencyMs: Number(/latency average = ([\d.]+) ms/.exec(out)?.[1]),
    failed: Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0),
    machineCpuMs: (m1.busyMs - m0.busyMs) / processed,
    machineBusy: (m1.busyMs - m0.busyMs) / Math.max(1, m1.totalMs - m0.totalMs),
  };
}
