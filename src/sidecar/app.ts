import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, isAbsolute } from 'node:path';
import type { Logger } from 'pino';
import type { z } from 'zod';
import {
  EventsQuerySchema,
  LoadPlaylistSchema,
  MAX_EVENTS_WAIT_MS,
  TakeScheduleEventSchema,
  UpdatePlaylistSchema,
  type ErrorBody,
  type EventsPage,
  type PlaylistItem,
} from '../protocol/sidecar-api.ts';
import { Alarms } from './alarms.ts';
import { HEALTH_PROOF_ALGORITHM, HealthNonceSchema, healthProofMessage } from '../protocol/sidecar-env.ts';
import { describeOutput, type SidecarConfig } from './config.ts';
import { createEngine } from './engines/create-engine.ts';
import type { Engine, EngineReporter } from './engines/engine.ts';
import { EventLog } from './event-log.ts';
import { liveDir } from './hls.ts';
import { Sequencer, StateConflictError } from './sequencer.ts';
import { ScheduleSchema } from '../schedule/model.ts';
import type { RunnerClock } from './schedule/clock.ts';
import { ScheduleRunner } from './schedule/runner.ts';
import { ScheduleStore } from './schedule/store.ts';

export interface SidecarAppOptions {
  /** Replaces the engine ENGINE names (tests). */
  engine?: Engine;
  logger?: Logger;
  /** @defaultValue true — also append events to MEDIA_DIR/live/<channel>/events.jsonl */
  eventsFile?: boolean;
  /** The schedule runner's clock and timers (tests). @defaultValue the system clock */
  clock?: RunnerClock;
  /** @defaultValue true — keep the schedule in MEDIA_DIR/live/<channel>/schedule.json: a restart joins it in progress */
  scheduleFile?: boolean;
}

export interface SidecarApp {
  server: Server;
  log: EventLog;
  sequencer: Sequencer;
  schedule: ScheduleRunner;
  /** Starts the engine, then listens; resolves with the bound port. */
  start(): Promise<number>;
  /** Stops playout (current item TRUNCATED), the engine and the server, each even if another fails. */
  stop(): Promise<void>;
}

/** @defaultValue largest accepted request body (a 10,000-item playlist fits) */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** @defaultValue largest accepted schedule (ScheduleSchema allows 50,000 events, about 13 MB as JSON) */
const MAX_SCHEDULE_BYTES = 32 * 1024 * 1024;

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
  const alarms = new Alarms(log);
  const report: EngineReporter = {
    error(message: string) {
      engineErrors.push({ at: new Date().toISOString(), message });
      if (engineErrors.length > 20) engineErrors.shift();
      log.append({ kind: 'ERROR', message });
    },
    raise: (kind, message) => alarms.raise(kind, message),
    clear: (kind) => alarms.clear(kind),
    count: (name, n) => alarms.count(name, n),
  };
  const engine = options.engine ?? createEngine(config, { report, logger: options.logger });
  const sequencer: Sequencer = new Sequencer({
    engine,
    log,
    mediaDir: config.mediaDir,
    channelId: config.channelId,
    alarms,
    // A suspended schedule comes back when the manual playlist ends, rather than leave black.
    onListEnd: () => void runner.manualEnded(),
  });
  const scheduleStore = new ScheduleStore(
    options.scheduleFile === false ? null : join(liveDir(config.mediaDir, config.channelId), 'schedule.json'),
  );
  const runner: ScheduleRunner = new ScheduleRunner({
    persist: (kept) => scheduleStore.save(kept),
    engine,
    log,
    alarms,
    mediaDir: config.mediaDir,
    videoFormat: config.videoMode.name,
    clock: options.clock,
    manual: {
      active: () => sequencer.playoutState === 'PLAYING' || sequencer.playoutState === 'PAUSED',
      handBack: (atMs) => sequencer.handBack(atMs),
      handedBack: (atMs) => sequencer.handedBack(atMs),
    },
  });
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
    const scheduled = runner.status();
    // While the schedule airs, what plays is the schedule's; while suspended, the manual playlist's.
    const airing =
      scheduled && runner.running
        ? {
            state: runner.playing ? ('PLAYING' as const) : s.state,
            playlistId: scheduled.playlistId,
            loop: false,
            current: scheduled.current,
            next: scheduled.next,
          }
        : {};
    return {
      channelId: config.channelId,
      engine: engine.name,
      ...s,
      ...airing,
      errors,
      ...(scheduled ? { schedule: scheduled.schedule } : {}),
    };
  };

  async function readJson(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw new HttpError(413, { code: 'BAD_REQUEST', message: 'body: too large' });
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HttpError(400, { code: 'BAD_REQUEST', field: '', message: 'body: must be JSON' });
    }
  }

  async function missingMedia(playlist: { items: PlaylistItem[] }): Promise<string[]> {
    const missing: string[] = [];
    await Promise.all(
      playlist.items.map(async (item) => {
        const file = join(config.mediaDir, item.mediaPath);
        const rel = relative(config.mediaDir, file);
        const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
        const ok =
          inside &&
          (await stat(file).then(
            (s) => s.isFile(),
            () => false,
          ));
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
      throw new HttpError(400, {
        code: 'BAD_REQUEST',
        field: 'startAt.offsetMs',
        message: "startAt.offsetMs: must be less than the item's durationMs",
      });
    }
    const missing = await missingMedia(playlist);
    if (missing.length > 0) {
      throw new HttpError(409, {
        code: 'MEDIA_MISSING',
        items: missing,
        message: `media missing on the playout volume for items: ${missing.join(', ')}`,
      });
    }
    // Manual play over a schedule suspends it (docs/schedule.md, precedence).
    await runner.suspend();
    await sequencer.load(playlist);
    logger?.info(
      { playlistId: playlist.playlistId, items: playlist.items.length, loop: playlist.loop },
      'playlist loaded',
    );
    return status();
  }

  /** PUT /playlist: an edit of the playlist on air, applied from the next item (Sequencer.update). */
  async function updatePlaylist(req: IncomingMessage) {
    const parsed = UpdatePlaylistSchema.safeParse(await readJson(req));
    if (!parsed.success) throw zodError(parsed.error);
    const edit = parsed.data;
    const missing = await missingMedia(edit);
    if (missing.length > 0) {
      throw new HttpError(409, {
        code: 'MEDIA_MISSING',
        items: missing,
        message: `media missing on the playout volume for items: ${missing.join(', ')}`,
      });
    }
    await sequencer.update(edit);
    logger?.info(
      { playlistId: edit.playlistId, items: edit.items.length, version: edit.version },
      'playlist on air edited',
    );
    return status();
  }

  /** PUT /schedule: the channel's schedule (a newer version applies from the next segment boundary). */
  async function putSchedule(req: IncomingMessage) {
    const parsed = ScheduleSchema.safeParse(await readJson(req, MAX_SCHEDULE_BYTES));
    if (!parsed.success) throw zodError(parsed.error);
    const schedule = parsed.data;
    if (schedule.videoFormat !== config.videoMode.name) {
      throw new HttpError(400, {
        code: 'BAD_REQUEST',
        field: 'videoFormat',
        message: `videoFormat: must be the channel's (${config.videoMode.name})`,
      });
    }
    const ack = await runner.apply(schedule);
    logger?.info({ version: ack.version, events: schedule.events.length }, 'schedule applied');
    return ack;
  }

  async function takeScheduleEvent(req: IncomingMessage) {
    const parsed = TakeScheduleEventSchema.safeParse(await readJson(req));
    if (!parsed.success) throw zodError(parsed.error);
    await runner.take(parsed.data.eventId);
    logger?.info({ eventId: parsed.data.eventId }, 'schedule event taken');
    return status();
  }

  async function events(_req: IncomingMessage, url: URL, res: ServerResponse) {
    const q = EventsQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!q.success) throw zodError(q.error);
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const page = await log.wait(q.data.after, Math.min(q.data.waitMs, MAX_EVENTS_WAIT_MS), abort.signal);
    // Made when the poll returns, so the status is at least as new as the events.
    return { epoch: log.epoch, ...page, status: status() } satisfies EventsPage;
  }

  function health(url: URL) {
    const nonce = url.searchParams.get('nonce');
    if (nonce === null) return { ok: true, channelId: config.channelId };
    const parsed = HealthNonceSchema.safeParse(nonce);
    if (!parsed.success)
      throw new HttpError(400, {
        code: 'BAD_REQUEST',
        field: 'nonce',
        message: `nonce: ${parsed.error.issues[0].message}`,
      });
    const proof = createHmac(HEALTH_PROOF_ALGORITHM, config.secret)
      .update(healthProofMessage(config.channelId, nonce))
      .digest('hex');
    return { ok: true, channelId: config.channelId, proof };
  }

  const transport = {
    pause: () => sequencer.pause(),
    resume: () => sequencer.resume(),
    // With the schedule airing, a skip cuts its event on air and moves up what follows it (docs/schedule.md).
    skip: () => (runner.running ? runner.skip() : sequencer.skip()),
    stop: () => sequencer.stop(),
  } as const;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const url = new URL(req.url ?? '/', 'http://sidecar');
    const path = url.pathname;
    // The channel id, and with ?nonce= the proof of the spawn secret, let the control plane
    // tell its own sidecar from another program on the port before it sends anything secret.
    if (path === '/healthz' && req.method === 'GET') return health(url);
    if (!authorized(req))
      throw new HttpError(401, { code: 'UNAUTHENTICATED', message: 'missing or wrong bearer token' });
    const method = req.method ?? 'GET';
    if (path === '/status' && method === 'GET') return status();
    if (path === '/events' && method === 'GET') return events(req, url, res);
    if (path === '/playlist' && method === 'POST') return loadPlaylist(req);
    if (path === '/playlist' && method === 'PUT') return updatePlaylist(req);
    if (path === '/schedule' && method === 'PUT') return putSchedule(req);
    if (path === '/schedule' && method === 'DELETE') return runner.detach().then(status);
    if (path === '/schedule/take' && method === 'POST') return takeScheduleEvent(req);
    if (path === '/schedule/resume' && method === 'POST') return runner.resume().then(status);
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
        if (err instanceof StateConflictError)
          return send(res, 409, {
            error: { code: err.code, message: err.message, ...(err.eventId && { eventId: err.eventId }) },
          });
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
    schedule: runner,
    async start() {
      await engine.start();
      // A schedule kept by the previous run: join it where the clock is, before the control plane calls.
      const kept = await scheduleStore.load();
      if (kept?.schedule.videoFormat === config.videoMode.name) {
        await runner.apply(kept.schedule, kept);
        logger?.info({ version: kept.schedule.version }, 'schedule resumed from the volume, joined in progress');
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => resolve());
      });
      const port = (server.address() as AddressInfo).port;
      logger?.info(
        {
          channelId: config.channelId,
          engine: engine.name,
          videoFormat: config.videoMode.name,
          output: describeOutput(config.output),
          port,
        },
        'sidecar listening',
      );
      return port;
    },
    async stop() {
      const steps = [
        () => runner.close(),
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
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
