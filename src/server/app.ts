import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { authenticate } from '../auth/authenticate.ts';
import { TokenUsageRecorder } from '../auth/token-usage.ts';
import type { Services } from '../services/index.ts';
import { derivePreviewKey } from '../domain/channels/preview.ts';
import { handleAsRunExport } from './routes/asrun-export.ts';
import { handleConsole } from './routes/console.ts';
import { handleHealth, sendMetrics } from './routes/health.ts';
import { handlePreview } from './routes/preview.ts';
import { attachGraphqlWebSocket, type GraphqlWebSocket } from './websocket.ts';
import { createGraphqlHandler, type Yoga } from './yoga.ts';

export interface App {
  server: Server;
  yoga: Yoga;
  /** GraphQL over WebSocket (subscriptions) on the same port and path. */
  websocket: GraphqlWebSocket;
  tokenUsage: TokenUsageRecorder;
  /** /metrics alone, when METRICS_PORT gives it its own listener (main.ts or a test starts it); null otherwise. */
  metricsServer: Server | null;
  /** Stops accepting requests, ends WebSocket connections and flushes what is pending; services are closed by their owner. */
  close(): Promise<void>;
}

export interface AppOptions {
  /** How often token use is written (lastUsedAt). @defaultValue 30000 */
  tokenUsageIntervalMs?: number;
}

/**
 * The body limit is enforced on the declared length, before anything is read.
 * A body of undeclared length (chunked) is refused: every GraphQL client sends one.
 */
async function bodyTooLarge(
  req: IncomingMessage,
  maxBody: number,
  services: Services,
): Promise<{ status: number; message: string } | null> {
  const length = req.headers['content-length'];
  if (length !== undefined) {
    if (Number(length) <= maxBody) return null;
    // A traffic day (importBxfSchedule) may be larger: read only for a caller whose token holds,
    // checked before the body is; yoga.ts then runs that mutation alone from it.
    const maxImport = services.config.maxImportBodyBytes;
    if (Number(length) <= maxImport && (await authenticated(services, req.headers.authorization))) return null;
    return {
      status: 413,
      message: `request body larger than ${maxBody} bytes (${maxImport} for importBxfSchedule with a valid token)`,
    };
  }
  if (req.headers['transfer-encoding']) return { status: 411, message: 'request body must declare its length' };
  return null;
}

async function authenticated(services: Services, header: string | undefined): Promise<boolean> {
  try {
    return (await authenticate(services.sql, header, services.principals)) !== null;
  } catch {
    return false;
  }
}

/** Builds the HTTP server (GraphQL, health); main.ts or a test starts it. */
export function buildApp(services: Services, options: AppOptions = {}): App {
  const tokenUsage = new TokenUsageRecorder(services.db, services.log, options.tokenUsageIntervalMs);
  const yoga = createGraphqlHandler({ services, tokenUsage });
  const maxBody = services.config.maxBodyBytes;
  const previewDeps = {
    services,
    previewKey: derivePreviewKey(services.config.secretKey),
    mediaVolumeDir: services.config.mediaVolumeDir,
    segmentBase: services.config.preview.segmentBase,
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/graphql')) {
      if (await handleHealth(req, res, services)) return;
      if (await handlePreview(req, res, previewDeps)) return;
      if (await handleAsRunExport(req, res, { services, tokenUsage })) return;
      if (await handleConsole(req, res, services.config.consoleDir)) return;
    }
    const tooLarge = await bodyTooLarge(req, maxBody, services);
    if (tooLarge) {
      res.writeHead(tooLarge.status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ errors: [{ message: tooLarge.message, extensions: { code: 'BAD_USER_INPUT' } }] }));
      req.resume();
      return;
    }
    await yoga.requestListener(req, res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      services.log.error({ err }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          errors: [{ message: 'internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
        }),
      );
    });
  });
  server.keepAliveTimeout = 65_000;
  const websocket = attachGraphqlWebSocket(server, yoga, { services, tokenUsage });
  const metricsServer =
    services.config.metrics.port === null
      ? null
      : createServer((req, res) => {
          const handled =
            req.url?.split('?')[0] === '/metrics' ? sendMetrics(req, res, services, 'own-listener') : null;
          if (!handled) {
            res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
            return;
          }
          handled.catch((err) => {
            services.log.error({ err }, 'metrics request failed');
            if (!res.headersSent) res.writeHead(500);
            res.end();
          });
        });

  return {
    server,
    yoga,
    websocket,
    tokenUsage,
    metricsServer,
    async close() {
      if (metricsServer?.listening) {
        await new Promise<void>((resolve) => {
          metricsServer.close(() => resolve());
          metricsServer.closeAllConnections();
        });
      }
      // First: the HTTP server's close waits for upgraded sockets too.
      await websocket
        .close()
        .catch((err: unknown) => services.log.warn({ err: String(err) }, 'websocket close failed'));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await tokenUsage.close();
    },
  };
}
