import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { TokenUsageRecorder } from '../auth/token-usage.ts';
import type { Services } from '../services/index.ts';
import { derivePreviewKey } from '../domain/preview.ts';
import { handleAsRunExport } from './routes/asrun-export.ts';
import { handleHealth } from './routes/health.ts';
import { handlePreview } from './routes/preview.ts';
import { attachGraphqlWebSocket, type GraphqlWebSocket } from './websocket.ts';
import { createGraphqlHandler, type Yoga } from './yoga.ts';

export interface App {
  server: Server;
  yoga: Yoga;
  /** GraphQL over WebSocket (subscriptions) on the same port and path. */
  websocket: GraphqlWebSocket;
  tokenUsage: TokenUsageRecorder;
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
function bodyTooLarge(req: IncomingMessage, maxBody: number): { status: number; message: string } | null {
  const length = req.headers['content-length'];
  if (length !== undefined) {
    return Number(length) > maxBody ? { status: 413, message: `request body larger than ${maxBody} bytes` } : null;
  }
  if (req.headers['transfer-encoding']) return { status: 411, message: 'request body must declare its length' };
  return null;
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
    }
    const tooLarge = bodyTooLarge(req, maxBody);
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
      res.end(JSON.stringify({ errors: [{ message: 'internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }));
    });
  });
  server.keepAliveTimeout = 65_000;
  const websocket = attachGraphqlWebSocket(server, yoga, { services, tokenUsage });

  return {
    server,
    yoga,
    websocket,
    tokenUsage,
    async close() {
      // First: the HTTP server's close waits for upgraded sockets too.
      await websocket.close().catch((err: unknown) => services.log.warn({ err: String(err) }, 'websocket close failed'));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await tokenUsage.close();
    },
  };
}
