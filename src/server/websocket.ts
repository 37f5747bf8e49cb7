import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { currentPrincipal } from '../graphql/subscription-principals.ts';
import { ErrorCode } from '../errors.ts';
import type { Context, ContextDeps } from '../graphql/context.ts';
import type { ResultSink } from '../graphql/context.ts';
import { errorMasker, tooLargeResult, type Yoga } from './yoga.ts';

/** Close codes of a connection onair ends itself (graphql-ws's own otherwise). */
export const WsCloseCode = {
  /** connection_init without valid credentials. */
  UNAUTHORIZED: 4401,
  /** The connection's token stopped authenticating (revoked, user deleted). */
  FORBIDDEN: 4403,
  /** The server is shutting down: reconnect (to another replica). */
  GOING_AWAY: 1001,
  /** The client stopped reading: more than WS_MAX_BUFFERED_BYTES waited for it. */
  TRY_AGAIN_LATER: 1013,
  /** The token already holds WS_MAX_CONNECTIONS_PER_TOKEN connections on this replica. */
  TOO_MANY_CONNECTIONS: 4429,
} as const;

export interface GraphqlWebSocket {
  readonly server: WebSocketServer;
  /** Ends every connection (clients reconnect elsewhere) and stops accepting new ones. */
  close(): Promise<void>;
}

/** What onair keeps on a graphql-ws connection. */
interface Connection {
  [key: PropertyKey]: unknown;
  authorization?: string;
}

type Enveloped = ReturnType<Yoga['getEnveloped']>;

/** How long clients get to answer the close at shutdown before their sockets are cut. */
const CLOSE_GRACE_MS = 1000;

/**
 * The credentials of connection_init: `{ authorization: "Bearer <token>" }`
 * (the contract), or `{ token: "<token>" }` for clients that cannot build the header.
 */
export function authorizationFrom(params: Readonly<Record<string, unknown>> | undefined): string | null {
  const header = params?.authorization ?? params?.Authorization;
  if (typeof header === 'string' && header) return header;
  if (typeof params?.token === 'string' && params.token) return `Bearer ${params.token}`;
  return null;
}

type Masker = ReturnType<typeof errorMasker>;

/**
 * The payload of a `next` message, serialized once for every subscriber that
 * got the same result (subscribers of one document with the same rights share
 * an event's execution: graphql/subscription-execution.ts).
 */
const payloads = new WeakMap<ExecutionResult, string>();

function payloadOf(result: ExecutionResult, mask: Masker, maxBytes: number): string {
  let json = payloads.get(result);
  if (json === undefined) {
    const visible = result.errors?.length ? { ...result, errors: result.errors.map((error) => mask(error)) } : result;
    json = JSON.stringify(visible);
    const bytes = json.length > maxBytes / 3 ? Buffer.byteLength(json) : json.length;
    if (bytes > maxBytes) json = JSON.stringify(tooLargeResult(bytes, maxBytes));
    payloads.set(result, json);
  }
  return json;
}

/**
 * A WebSocket text frame (RFC 6455 §5.2: FIN, opcode 1, unmasked as a server
 * sends it) holding `text`.
 */
function textFrame(text: string): { frame: Buffer; header: number } {
  const length = Buffer.byteLength(text);
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81;
  if (length < 126) frame[1] = length;
  else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, header);
  return { frame, header };
}

/**
 * The `next` message of a result as a whole frame, encoded and framed once per
 * operation id: clients mostly number their operations alike, so a thousand
 * sockets get the same bytes, and no socket pays for encoding or framing them.
 */
const messages = new WeakMap<ExecutionResult, Map<string, { frame: Buffer; header: number }>>();

/** The result being written to its subscribers' sockets one after the other, and its messages: no lookup for each. */
let lastResult: ExecutionResult | null = null;
let lastById: Map<string, { frame: Buffer; header: number }> | undefined;

function messageOf(result: ExecutionResult, id: string, mask: Masker, maxBytes: number) {
  let byId = result === lastResult ? lastById : messages.get(result);
  if (!byId) messages.set(result, (byId = new Map()));
  lastResult = result;
  lastById = byId;
  let message = byId.get(id);
  if (message === undefined) {
    message = textFrame(`{"id":${JSON.stringify(id)},"type":"next","payload":${payloadOf(result, mask, maxBytes)}}`);
    byId.set(id, message);
  }
  return message;
}

/** graphql-transport-ws speaks in text frames: a Buffer given to `ws` goes out as one, not as binary. */
const TEXT = { binary: false } as const;

/**
 * The socket under each connection, as the upgrade handed it to `ws`. Without
 * an extension (no permessage-deflate: the server offers none) `ws` writes each
 * frame to it at once and in order, so a frame made beforehand can be written
 * to it the same way; bufferedAmount still counts what waits.
 */
const rawSockets = new WeakMap<WebSocket, Duplex>();

/**
 * A subscription's results written to its socket as graphql-transport-ws
 * `next` messages, at once: a status change goes out to a thousand sockets
 * without a thousand chains of promises, serializations and frames.
 * graphql-ws keeps the rest of the protocol (errors, complete, ping).
 */
function socketSink(
  socket: WebSocket,
  /** graphql-ws's open subscriptions of the connection: a completed one gets nothing more. */
  subscriptions: Record<string, unknown>,
  id: string,
  mask: Masker,
  maxBufferedBytes: number,
  maxResponseBytes: number,
  onBehind: () => void,
): ResultSink {
  const raw = socket.extensions === '' ? rawSockets.get(socket) : undefined;
  let open = true;
  return {
    next(result) {
      if (!open || !(id in subscriptions) || socket.readyState !== socket.OPEN) return;
      const message = messageOf(result, id, mask, maxResponseBytes);
      if (raw?.writable) raw.write(message.frame);
      else socket.send(message.frame.subarray(message.header), TEXT);
      if (socket.bufferedAmount > maxBufferedBytes) {
        open = false;
        onBehind();
        socket.close(WsCloseCode.TRY_AGAIN_LATER, 'Too far behind');
      }
    },
    close() {
      open = false;
    },
  };
}

function withCode(errors: readonly GraphQLError[], code: string): GraphQLError[] {
  for (const error of errors) if (!error.extensions.code) (error.extensions as Record<string, unknown>).code = code;
  return [...errors];
}

/**
 * GraphQL over WebSocket (graphql-transport-ws) on /graphql of the HTTP
 * server, through yoga's envelope: the same schema, plugins, limits, error
 * masking and context factory as HTTP. A connection authenticates once with
 * its connectionParams and is re-checked every SUBSCRIPTION_AUTH_CHECK_MS;
 * each event is checked again when it is delivered (graphql/subscription-delivery.ts).
 */
export function attachGraphqlWebSocket(server: Server, yoga: Yoga, deps: ContextDeps): GraphqlWebSocket {
  const { services } = deps;
  const { log, config } = services;
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxBodyBytes });
  const mask = errorMasker(log);
  /** Authenticated connections: their credentials, and graphql-ws's open operations of each. */
  const connections = new Map<
    WebSocket,
    { authorization: string; tokenId: string; operations: Record<string, unknown> }
  >();
  /** Open connections per API token (WS_MAX_CONNECTIONS_PER_TOKEN). */
  const perToken = new Map<string, number>();
  services.metrics.countWebsocketOperations(() => {
    let open = 0;
    for (const { operations } of connections.values()) open += Object.keys(operations).length;
    return open;
  });

  // A revoked token ends its connections within this period on every replica.
  // All connections are checked at once: the tokens not in the principal
  // cache are looked up together, in one statement.
  const recheck = setInterval(() => {
    const checks = [...connections].map(([socket, { authorization }]) =>
      currentPrincipal(services, authorization).then((now) => {
        if (now === null && socket.readyState === socket.OPEN) {
          services.metrics.websocketClosedByRecheck.inc();
          socket.close(WsCloseCode.FORBIDDEN, 'Forbidden');
        }
      }),
    );
    void Promise.allSettled(checks).then((results) => {
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) log.warn({ err: String(failed.reason) }, 'websocket: could not re-check connections');
    });
  }, config.subscriptionAuthCheckMs);
  recheck.unref();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://onair').pathname !== '/graphql') {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      rawSockets.set(ws, socket);
      wss.emit('connection', ws, req);
    });
  };
  server.on('upgrade', onUpgrade);

  const graphqlWs = useServer<Record<string, unknown>, Connection>(
    {
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),

      onConnect: async (ctx) => {
        const { socket } = ctx.extra;
        const authorization = authorizationFrom(ctx.connectionParams);
        const principal = authorization ? await currentPrincipal(services, authorization) : null;
        if (!principal) {
          // graphql-ws would close with 4403; no or bad credentials are 4401, as HTTP's 401.
          socket.close(WsCloseCode.UNAUTHORIZED, 'Unauthorized');
          return false;
        }
        if (socket.readyState !== socket.OPEN) return false;
        // Counted and taken in one step (no await in between), so racing connections cannot all pass.
        const open = perToken.get(principal.tokenId) ?? 0;
        if (open >= config.wsMaxConnectionsPerToken) {
          socket.close(
            WsCloseCode.TOO_MANY_CONNECTIONS,
            `Too many connections for this token (at most ${config.wsMaxConnectionsPerToken})`,
          );
          return false;
        }
        perToken.set(principal.tokenId, open + 1);
        deps.tokenUsage.touch(principal.tokenId);
        ctx.extra.authorization = authorization as string;
        connections.set(socket, {
          authorization: authorization as string,
          tokenId: principal.tokenId,
          operations: ctx.subscriptions,
        });
        services.metrics.websocketConnections.inc();
        return true;
      },

      // A query's or mutation's result (subscriptions write through socketSink): measured as
      // graphql-ws will send it, and replaced when it is above MAX_RESPONSE_BYTES.
      onNext: (_ctx, _id, _payload, _args, result) => {
        const length = JSON.stringify(result).length;
        if (length <= config.maxResponseBytes / 3) return undefined;
        const bytes = Buffer.byteLength(JSON.stringify(result));
        return bytes > config.maxResponseBytes ? tooLargeResult(bytes, config.maxResponseBytes) : undefined;
      },

      onClose: (ctx) => {
        const connection = connections.get(ctx.extra.socket);
        if (!connection) return;
        connections.delete(ctx.extra.socket);
        const open = (perToken.get(connection.tokenId) ?? 1) - 1;
        if (open > 0) perToken.set(connection.tokenId, open);
        else perToken.delete(connection.tokenId);
        services.metrics.websocketConnections.dec();
      },

      onSubscribe: async (ctx, id, params) => {
        // graphql-ws has already counted this operation among the connection's.
        if (Object.keys(ctx.subscriptions).length > config.wsMaxOperationsPerConnection) {
          return [
            new GraphQLError(
              `too many operations open on this connection (at most ${config.wsMaxOperationsPerConnection}): complete some first`,
              {
                extensions: { code: ErrorCode.BAD_USER_INPUT, maxOperations: config.wsMaxOperationsPerConnection },
              },
            ),
          ];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          // Read by the context factory (yoga.ts) in place of the HTTP header.
          authorization: ctx.extra.authorization,
        } as unknown as Parameters<Yoga['getEnveloped']>[0]);
        let document: ReturnType<typeof parse>;
        try {
          document = parse(params.query);
        } catch (err) {
          if (err instanceof GraphQLError) return withCode([err], 'GRAPHQL_PARSE_FAILED');
          throw err;
        }
        let errors: readonly GraphQLError[];
        try {
          errors = validate(schema, document);
        } catch (err) {
          // armor's limits throw their rejection: it is this operation's error, not the connection's.
          if (err instanceof GraphQLError) return withCode([err], 'GRAPHQL_VALIDATION_FAILED');
          throw err;
        }
        if (errors.length) return withCode(errors, 'GRAPHQL_VALIDATION_FAILED');
        let contextValue: Context;
        try {
          contextValue = (await contextFactory()) as unknown as Context;
        } catch (err) {
          // The token was revoked since connection_init: the re-check closes the socket.
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        contextValue.resultSink = socketSink(
          ctx.extra.socket,
          ctx.subscriptions,
          id,
          mask,
          config.wsMaxBufferedBytes,
          config.maxResponseBytes,
          () => services.metrics.websocketClosedBehind.inc(),
        );
        return {
          schema,
          document,
          operationName: params.operationName,
          variableValues: params.variables,
          contextValue,
          rootValue: { execute, subscribe },
        } satisfies ExecutionArgs;
      },
    },
    wss,
  );

  return {
    server: wss,
    async close() {
      server.off('upgrade', onUpgrade);
      clearInterval(recheck);
      const cut = setTimeout(() => {
        for (const client of wss.clients) client.terminate();
      }, CLOSE_GRACE_MS);
      try {
        await graphqlWs.dispose();
      } finally {
        clearTimeout(cut);
      }
    },
  };
}
