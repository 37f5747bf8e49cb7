import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { authenticate } from '../../auth/authenticate.ts';
import type { Principal } from '../../auth/principal.ts';
import type { TokenUsageRecorder } from '../../auth/token-usage.ts';
import { requirePrincipal } from '../../domain/access/access.ts';
import { asRunScope, parseAsRunArgs } from '../../domain/as-run/as-run.ts';
import { bxfDocument, csvDocument } from '../../domain/as-run/export/documents.ts';
import { parseRfc3339 } from '../../domain/shared/iso-time.ts';
import { ErrorCode, OnairError, badInput } from '../../errors.ts';
import type { Services } from '../../services/index.ts';

export interface AsRunExportDeps {
  services: Services;
  /** Records the token's use, as a GraphQL request does. */
  tokenUsage?: TokenUsageRecorder;
}

const ROUTE = '/asrun/export';

const dateTimeParam = z
  .string()
  // A '+' offset sent unencoded arrives as a space, and no date-time holds one.
  .transform((value) => value.replaceAll(' ', '+'))
  .transform((value, ctx) => {
    const date = parseRfc3339(value);
    if (!date)
      ctx.addIssue({
        code: 'custom',
        message: 'must be an RFC 3339 date-time with a time zone, e.g. 2026-01-31T18:00:00Z',
      });
    return date ?? z.NEVER;
  });

const exportParams = z.strictObject({
  channelId: z
    .guid({ error: 'not a valid ID' })
    .transform((id) => id.toLowerCase())
    .optional(),
  from: dateTimeParam.optional(),
  to: dateTimeParam.optional(),
  format: z.enum(['csv', 'bxf'], { error: 'must be csv or bxf' }).default('csv'),
});

export type AsRunExportParams = z.infer<typeof exportParams>;

/**
 * The query string as BAD_USER_INPUT naming the parameter: a parameter given
 * twice or unknown (a misspelt `form=` must not silently export everything),
 * a malformed value, or a window whose `to` is not after its `from`.
 */
export function parseExportParams(search: URLSearchParams): AsRunExportParams {
  const raw: Record<string, string> = Object.create(null);
  for (const [key, value] of search) {
    if (Object.hasOwn(raw, key)) throw badInput(key, 'must be given once');
    raw[key] = value;
  }
  const parsed = exportParams.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue.code === 'unrecognized_keys') {
      throw badInput(issue.keys[0], 'is not a parameter of this route (channelId, from, to, format)');
    }
    throw badInput(String(issue.path[0]), issue.message);
  }
  parseAsRunArgs({ from: parsed.data.from, to: parsed.data.to });
  return parsed.data;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
};

/**
 * GET /asrun/export?channelId=&from=&to=&format=csv|bxf: the as-run log of a
 * channel, or of every channel the caller may see, oldest first, as RFC 4180
 * CSV or a SMPTE ST 2021 BXF as-run message. The same Bearer token and access
 * rules as Query.asRun. Streamed in batches at the pace the client reads.
 * Returns false for any other path.
 */
export async function handleAsRunExport(
  req: IncomingMessage,
  res: ServerResponse,
  deps: AsRunExportDeps,
): Promise<boolean> {
  const url = req.url ?? '/';
  const mark = url.indexOf('?');
  if ((mark === -1 ? url : url.slice(0, mark)) !== ROUTE) return false;
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendError(res, 405, 'method not allowed: use GET', ErrorCode.BAD_USER_INPUT);
      return true;
    }
    const { services } = deps;
    const authorization = req.headers.authorization ?? null;
    const principal = requirePrincipal(await authenticate(services.sql, authorization, services.principals));
    const params = parseExportParams(new URLSearchParams(mark === -1 ? '' : url.slice(mark + 1)));
    const scope = await asRunScope({ db: services.db, services, principal }, params.channelId);
    deps.tokenUsage?.touch(principal.tokenId);
    const window = { from: params.from, to: params.to };
    const headers = {
      'content-type': params.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/xml; charset=utf-8',
      'content-disposition': `attachment; filename="${fileName(params)}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    };
    if (req.method === 'HEAD') {
      res.writeHead(200, headers).end();
      return true;
    }
    const document =
      params.format === 'csv'
        ? csvDocument(services.sql, scope, window)
        : bxfDocument(services.sql, scope, window, {
            id: randomUUID(),
            dateTime: new Date(),
            userName: await userNameOf(services, principal),
          });
    await stream(res, deps, headers, document);
  } catch (err) {
    if (!(err instanceof OnairError)) throw err;
    const code = err.extensions.code as ErrorCode;
    const status = STATUS_OF[code];
    if (!status) throw err;
    sendError(res, status, err.message, code, err.extensions.field as string | undefined);
  }
  return true;
}

/** e.g. asrun-<channel id>-20260101T000000Z-20260102T000000Z.csv; "all" without a channel. */
function fileName(params: AsRunExportParams): string {
  const stamp = (date: Date) =>
    date
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}Z$/, 'Z');
  const parts = ['asrun', params.channelId ?? 'all'];
  if (params.from) parts.push(stamp(params.from));
  if (params.to) parts.push(stamp(params.to));
  return `${parts.join('-')}.${params.format === 'csv' ? 'csv' : 'xml'}`;
}

async function userNameOf(services: Services, principal: Principal): Promise<string> {
  const user = await services.db.user.findUnique({ where: { id: principal.userId }, select: { name: true } });
  return user?.name ?? principal.userId;
}

/**
 * Writes the document chunk by chunk, reading the next batch only once the
 * previous one is handed to the socket ('drain' after a full buffer), and
 * stops reading when the client goes away. A failure before the first chunk
 * propagates (an error status); after it, the response is cut off (destroyed,
 * so the client sees an incomplete transfer rather than a short file that
 * looks complete) and logged.
 */
async function stream(
  res: ServerResponse,
  deps: AsRunExportDeps,
  headers: Record<string, string>,
  document: AsyncGenerator<string>,
) {
  let gone = false;
  res.once('close', () => {
    gone = true;
  });
  try {
    const first = await document.next();
    res.writeHead(200, headers);
    try {
      for (let step = first; !step.done; step = await document.next()) {
        if (!(await writeChunk(res, step.value, () => gone))) return;
      }
      res.end();
    } catch (err) {
      deps.services.log.error({ err }, 'as-run export failed after it started; response cut off');
      res.destroy();
    }
  } finally {
    // Ends the reading if the loop left early; nothing is held between batches.
    await document.return(undefined);
  }
}

/** True once the chunk is accepted (at once, or after 'drain'); false if the client is gone. */
function writeChunk(res: ServerResponse, chunk: string, gone: () => boolean): Promise<boolean> {
  if (gone() || res.destroyed) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (accepted: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(accepted);
    };
    const onDrain = () => settle(true);
    const onClose = () => settle(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/** The GraphQL error shape, as the API's other HTTP answers use it. */
function sendError(res: ServerResponse, status: number, message: string, code: ErrorCode, field?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  };
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  res.writeHead(status, headers);
  res.end(JSON.stringify({ errors: [{ message, extensions: field ? { code, field } : { code } }] }));
}
