// onair's `serve` as deployed on one node with API_PROCESSES=n (src/server/cluster.ts), on the
// bench database: production mode, no migrations, no workers, the same V8 settings as serve's.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface ApiProcesses {
  url: string;
  /** The API processes (the primary only supervises). */
  pids(): number[];
  stop(): Promise<void>;
}

function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid && cmdline.includes('src/server/main.ts'))
        found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export async function startApiProcesses(count: number, databaseUrl: string, port: number): Promise<ApiProcesses> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: path.resolve(import.meta.dirname, '..'),
    env: {
      ...process.env,
      NODE_ENV: 'production',
      ONAIR_SECRET_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'silent',
      DATABASE_URL: databaseUrl,
      MIGRATE_ON_START: 'false',
      WORKER_IN_PROCESS: 'false',
      QUEUE_PREFIX: `onair-bench-${process.pid}`,
      HOST: '127.0.0.1',
      PORT: String(port),
      API_PROCESSES: String(count),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`serve with API_PROCESSES=${count} exited with ${child.exitCode}`);
    const ready =
      (await fetch(`${base}/readyz`).catch(() => null))?.status === 200 &&
      childrenOf(child.pid as number).length === count;
    if (ready) break;
    if (attempt > 300) {
      child.kill('SIGKILL');
      throw new Error(`serve with API_PROCESSES=${count} did not start within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url: `${base}/graphql`,
    pids: () => childrenOf(child.pid as number),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
