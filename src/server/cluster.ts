import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/**
 * True in an API process forked by runApiProcesses(): its primary has already
 * applied the migrations and ensured the admin token, once for all.
 */
export const isForkedApiProcess = (): boolean => cluster.isWorker;

/**
 * `serve` with API_PROCESSES > 1: this process stays the primary and forks
 * `count` API processes that share the listening port (node:cluster hands the
 * connections out in turn), so the API uses more than one core. They share
 * exactly what replicas behind a balancer share (PostgreSQL, Redis, their
 * notifications), so subscriptions and caches stay correct across them. The
 * in-process workers run in the first process only (the others as with
 * WORKER_IN_PROCESS=false). A process that dies is forked again; SIGINT or
 * SIGTERM stops them all, then the primary.
 */
export function runApiProcesses(count: number, log: Logger): void {
  let stopping = false;
  const roles = new Map<Worker, Record<string, string>>();
  const fork = (env: Record<string, string>) => roles.set(cluster.fork(env), env);
  for (let i = 0; i < count; i++) fork(i === 0 ? {} : { WORKER_IN_PROCESS: 'false' });
  cluster.on('exit', (worker, code, signal) => {
    const env = roles.get(worker) ?? {};
    roles.delete(worker);
    if (stopping) {
      if (roles.size === 0) process.exit(0);
      return;
    }
    log.error({ pid: worker.process.pid, code, signal }, 'API process exited; forking another');
    fork(env);
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, processes: roles.size }, 'stopping API processes');
    if (roles.size === 0) process.exit(0);
    for (const worker of roles.keys()) worker.process.kill(signal);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
