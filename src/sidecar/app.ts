import { createHash, timingSafeEqual } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, isAbsolute } from 'node:path';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { EventsQuerySchema, LoadPlaylistSchema, MAX_EVENTS_WAIT_MS, type ErrorBody, type EventsPage, type LoadPlaylist } from '../protocol/sidecar-api.ts';
import { describeOutput, type SidecarConfig } from './config.ts';
import { createEngine } from './engines/create-engine.ts';
import type { Engine } from './engines/engine.ts';
import { EventLog } from './event-log.ts';
import { liveDir } from './hls.ts';
import { Sequencer, StateConflictError } from './sequencer.ts';

export interface SidecarAppOptions {
  /** Replaces the engine ENGINE names (tests). */
  engine?: Engine;
  logger?: Logger;
  /** @defaultValue true — also append events to MEDIA_DIR/live/<channel>/events.jsonl */
  eventsFile?: boolean;
}

export interface SidecarApp {
  server: Server;
  log: EventLog;
  sequencer: Sequencer;
  /** Starts the engine, then listens; resolves with the bound port. */
  start(): Promise<number>;
  /** Stops playout (current item TRUNCATED), the engine and the server, each even if another fails. */
  stop(): Promise<void>;
}

/** @defaultValue largest accepted request body (a 10,000-item playlist fits) */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody['error'],
  ) {
    super(body.message);
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function zodError(error: z.ZodError): HttpError {
  const issue = error.issues[0];
  const field = issue.path.join('.');
  return new HttpError(400, { code: 'BAD_REQUEST', field, message: `${field || 'body'}: ${issue.message}` });
}

export function buildSidecarApp(config: SidecarConfig, options: SidecarAppOptions = {}): SidecarApp {
  const log = new EventLog({
    file: options.eventsFile === false ? undefined : join(liveDir(config.mediaDir, config.channelId), 'events.jsonl'),
  });
  // What the engine reports outside a clip's life (a lost server, a refused command): event log and /status.
  const engineErrors: { at: string; message: string }[] = [];
  const report = {
    error(message: string) {
      engineErrors.push({ at: new Date().toISOString(), message });
      if (engineErrors.length > 20) engineErrors.shift();
      log.append({ kind: 'ERROR', message });
    },
  };
  const engine = options.engine ?? createEngine(config, { report, logger: options.logger });
  const sequencer = new Sequencer({ engine, log, mediaDir: config.mediaDir, channelId: config.channelId });
  const secretDigest = digest(config.secret);
  const logger = options.logger;

  // Hashing both sides gives equal lengths, so the comparison time says nothing about the secret.
  const authorized = (req: IncomingMessage) => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    return timingSafeEqual(digest(token), secretDigest);
  };

  const status = () => {
    const s = sequencer.status();
    const errors = [...s.errors, ...engineErrors].sort((a, b) => a.at.localeCompare(b.at)).slice(-20);
    return { channelId: config.channelId, engine: engine.name, ...s, errors };
  };

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw new HttpError(413, { code: 'BAD_REQUEST', message: 'body: too large' });
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HttpError(400, { code: 'BAD_REQUEST', field: '', message: 'body: must be JSON' });
    }
  }

  async function missingMedia(playlist: LoadPlaylist): Promise<string[]> {
    const missing: string[] = [];
    await Promise.all(
      playlist.items.map(async (item) => {
        const file = join(config.mediaDir, item.mediaPath);
        const rel = relative(config.mediaDir, file);
        const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
        const ok = inside && (await stat(file).then((s) => s.isFile(), () => false));
        if (!ok) missing.push(item.itemId);
      }),
    );
    return playlist.items.map((i) => i.itemId).filter((id) => missing.includes(id));
  }

  async function loadPlaylist(req: IncomingMessage) {
    const parsed = LoadPlaylistSchema.safeParse(await readJson(req));
    if (!parsed.success) throw zodError(parsed.error);
    const playlist = parsed.data;
    if (playlist.startAt && playlist.startAt.offsetMs >= playlist.items[playlist.startAt.index].durationMs) {
      throw new HttpError(400, { code: 'BAD_REQUEST', field: 'startAt.offsetMs', message: "startAt.offsetMs: must be less than the item's durationMs" });
    }
    const missing = await missingMedia(playlist);
    if (missing.length > 0) {
      throw new HttpError(409, { code: 'MEDIA_MISSING', items: missing, message: `media missing on the playout volume for items: ${missing.join(', ')}` });
    }
    await sequencer.load(playlist);
    logger?.info({ playlistId: playlist.playlistId, items: playlist.items.length, loop: playlist.loop }, 'playlist loaded');
    return status();
  }

  async function events(req: IncomingMessage, url: URL, res: ServerResponse) {
    const q = EventsQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!q.success) throw zodError(q.error);
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const page = await log.wait(q.data.after, Math.min(q.data.waitMs, MAX_EVENTS_WAIT_MS), abort.signal);
    // Made when the poll returns, so the status is at least as new as the events.
    return { epoch: log.epoch, ...page, status: status() } satisfies EventsPage;
  }

  const transport = {
    pause: () => sequencer.pause(),
    resume: () => sequencer.resume(),
    skip: () => sequencer.skip(),
    stop: () => sequencer.stop(),
  } as const;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const url = new URL(req.url ?? '/', 'http://sidecar');
    const path = url.pathname;
    // The channel id lets a starter tell its own sidecar from another process on the port.
    if (path === '/healthz' && req.method === 'GET') return { ok: true, channelId: config.channelId };
    if (!authorized(req)) throw new HttpError(401, { code: 'UNAUTHENTICATED', message: 'missing or wrong bearer token' });
    const method = req.method ?? 'GET';
    if (path === '/status' && method === 'GET') return status();
    if (path === '/events' && method === 'GET') return events(req, url, res);
    if (path === '/playlist' && method === 'POST') return loadPlaylist(req);
    const command = path.startsWith('/transport/') ? path.slice('/transport/'.length) : '';
    if (method === 'POST' && Object.hasOwn(transport, command)) {
      await transport[command as keyof typeof transport]();
      logger?.info({ command }, 'transport');
      return status();
    }
    throw new HttpError(404, { code: 'NOT_FOUND', message: `no route ${method} ${path}` });
  }

  const server = createServer((req, res) => {
    route(req, res).then(
      (body) => send(res, 200, body),
      (err: unknown) => {
        if (err instanceof HttpError) return send(res, err.status, { error: err.body });
        if (err instanceof StateConflictError) return send(res, 409, { error: { code: 'CONFLICT', message: err.message } });
        logger?.error({ err }, 'request failed');
        send(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
      },
    );
  });
  // Bounded answers: nothing waits longer than the long-poll cap plus slack.
  server.requestTimeout = MAX_EVENTS_WAIT_MS + 5_000;
  server.headersTimeout = 10_000;

  return {
    server,
    log,
    sequencer,
    async start() {
      await engine.start();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => resolve());
      });
      const port = (server.address() as AddressInfo).port;
      logger?.info({ channelId: config.channelId, engine: engine.name, videoFormat: config.videoMode.name, output: describeOutput(config.output), port }, 'sidecar listening');
      return port;
    },
    async stop() {
      const steps = [
        () => sequencer.close(),
        () => engine.close(),
        () => log.close(),
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ];
      for (const step of steps) {
        try {
          await step();
        } catch (err) {
          logger?.error({ err }, 'sidecar stop step failed');
        }
      }
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
