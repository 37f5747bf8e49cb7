import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../../services/index.ts';

const CHECK_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out`)), CHECK_TIMEOUT_MS).unref()),
  ]);
}

/** Where /metrics is answered. */
export type MetricsPlace = 'api-port' | 'own-listener';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Who may scrape /metrics (it names channels' state and the process's load):
 * with METRICS_TOKEN, whoever sends it as a Bearer token; without it, anyone
 * who reaches METRICS_HOST:METRICS_PORT when metrics have their own listener,
 * and on the API's port only a client on this machine that came through no
 * proxy (a proxy on the same machine forwards the world's requests from loopback).
 */
export function metricsAllowed(
  req: IncomingMessage,
  token: string | null,
  place: MetricsPlace,
): { status: 401 | 404; message: string } | null {
  if (token !== null) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return match && sameSecret(match[1], token)
      ? null
      : { status: 401, message: 'send Authorization: Bearer <METRICS_TOKEN>' };
  }
  if (place === 'own-listener') return null;
  const local =
    LOOPBACK.test(req.socket.remoteAddress ?? '') && !req.headers['x-forwarded-for'] && !req.headers.forwarded;
  return local ? null : { status: 404, message: 'not found' };
}

/** GET /metrics: Prometheus, to those metricsAllowed admits. */
export async function sendMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  services: Services,
  place: MetricsPlace,
): Promise<void> {
  const refused = metricsAllowed(req, services.config.metrics.token, place);
  if (refused) {
    res.writeHead(refused.status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      ...(refused.status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
    });
    res.end(
      JSON.stringify({
        errors: [
          { message: refused.message, extensions: { code: refused.status === 401 ? 'UNAUTHENTICATED' : 'NOT_FOUND' } },
        ],
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': services.metrics.registry.contentType, 'cache-control': 'no-store' });
  res.end(await services.metrics.registry.metrics());
}

/**
 * /healthz: the process answers. /readyz: PostgreSQL and Redis answer too.
 * /metrics: Prometheus, unless metrics have their own listener (METRICS_PORT).
 */
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
    const checks = {
      database: database.status === 'fulfilled' ? 'ok' : 'down',
      redis: redis.status === 'fulfilled' ? 'ok' : 'down',
    };
    const ready = checks.database === 'ok' && checks.redis === 'ok';
    send(res, ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable', checks });
    return true;
  }
  if (path === '/metrics' && services.config.metrics.port === null) {
    await sendMetrics(req, res, services, 'api-port');
    return true;
  }
  return false;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
