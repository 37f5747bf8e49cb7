import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../../services/index.ts';

const CHECK_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out`)), CHECK_TIMEOUT_MS).unref()),
  ]);
}

/** /healthz: the process answers. /readyz: PostgreSQL and Redis answer too. /metrics: Prometheus. */
export async function handleHealth(req: IncomingMessage, res: ServerResponse, services: Services): Promise<boolean> {
  const path = req.url?.split('?')[0];
  if (path === '/healthz') {
    send(res, 200, { status: 'ok' });
    return true;
  }
  if (path === '/readyz') {
    const [database, redis] = await Promise.allSettled([
      withTimeout(services.db.$queryRaw`SELECT 1`, 'database'),
      withTimeout(services.redis.ping(), 'redis'),
    ]);
    const checks = { database: database.status === 'fulfilled' ? 'ok' : 'down', redis: redis.status === 'fulfilled' ? 'ok' : 'down' };
    const ready = checks.database === 'ok' && checks.redis === 'ok';
    send(res, ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable', checks });
    return true;
  }
  if (path === '/metrics') {
    res.writeHead(200, { 'content-type': services.metrics.registry.contentType });
    res.end(await services.metrics.registry.metrics());
    return true;
  }
  return false;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
