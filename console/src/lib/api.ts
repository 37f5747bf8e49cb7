import { type Client, createClient } from 'graphql-ws';
import type { TypedDocumentString } from '../gql/graphql.ts';

/** An error the API answered with, with its `extensions.code` (UNAUTHENTICATED, FORBIDDEN, …). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** How the WebSocket stands: `down` once it dropped, until it is connected again. */
export type LinkState = 'connecting' | 'live' | 'down';

export interface ApiOptions {
  token: string;
  /** The link went down or came back; `reconnected` is true when it came back after a drop. */
  onLink(state: LinkState, reconnected: boolean): void;
  /** The token no longer signs in (revoked, expired, user removed): the session is over. */
  onSignedOut(reason: string): void;
}

type Sink<T> = { next(value: T): void; error?(error: ApiError): void };

// A connection that stopped answering shows no close event for minutes (a cable pulled, a
// laptop asleep): the client pings and, without a pong in this time, closes it itself.
const PING_EVERY_MS = 5_000;
const PONG_WITHIN_MS = 3_000;
/** Onair's close codes for a token that no longer signs in (none, bad: 4401; revoked: 4403). */
const SIGNED_OUT_CODES = [4401, 4403];

function firstError(errors: readonly { message: string; extensions?: Record<string, unknown> }[]): ApiError {
  const [first] = errors;
  return new ApiError(first.message, String(first.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
}

/**
 * onair's GraphQL API as the console uses it: queries and mutations over HTTP
 * (fetch, one request each), subscriptions over one WebSocket (graphql-ws) that
 * reconnects by itself and re-subscribes what was open.
 */
export class Api {
  private readonly ws: Client;
  private everConnected = false;
  private droppedSince = false;

  constructor(private readonly options: ApiOptions) {
    const url = new URL('/graphql', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let pongTimer: ReturnType<typeof setTimeout> | undefined;
    let socket: WebSocket | undefined;
    this.ws = createClient({
      url: url.href,
      connectionParams: { authorization: `Bearer ${options.token}` },
      lazy: false,
      keepAlive: PING_EVERY_MS,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: (event) => !SIGNED_OUT_CODES.includes((event as CloseEvent)?.code),
      // 0.5 s, 1 s, 2 s, then every 4 s (with jitter, so a restarted server is not hit at once by every desk).
      retryWait: (retries) =>
        new Promise((r) => setTimeout(r, Math.min(4_000, 500 * 2 ** retries) + Math.random() * 300)),
      onNonLazyError: () => {},
      on: {
        connecting: () => options.onLink(this.everConnected ? 'down' : 'connecting', false),
        connected: (s) => {
          socket = s as WebSocket;
          const reconnected = this.droppedSince;
          this.everConnected = true;
          this.droppedSince = false;
          options.onLink('live', reconnected);
        },
        ping: (received) => {
          if (received) return;
          pongTimer = setTimeout(() => {
            if (socket?.readyState === WebSocket.OPEN) socket.close(4408, 'no pong');
          }, PONG_WITHIN_MS);
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
        closed: (event) => {
          clearTimeout(pongTimer);
          const code = (event as CloseEvent | undefined)?.code;
          if (code !== undefined && SIGNED_OUT_CODES.includes(code)) {
            options.onSignedOut('Your API token no longer signs in. Sign in again.');
            return;
          }
          if (this.everConnected) this.droppedSince = true;
          options.onLink(this.everConnected ? 'down' : 'connecting', false);
        },
      },
    });
  }

  /** A query or mutation over HTTP; its first error is thrown as an ApiError. */
  async request<R, V>(document: TypedDocumentString<R, V>, variables?: V): Promise<R> {
    let response: Response;
    try {
      response = await fetch('/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${this.options.token}`,
        },
        body: JSON.stringify({ query: document.toString(), variables }),
      });
    } catch {
      throw new ApiError('onair did not answer', 'NETWORK');
    }
    const body = (await response.json().catch(() => null)) as {
      data?: R | null;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
    } | null;
    if (!body) throw new ApiError(`onair answered ${response.status}`, 'NETWORK');
    if (body.errors?.length) {
      const error = firstError(body.errors);
      if (error.code === 'UNAUTHENTICATED') this.options.onSignedOut('Your API token no longer signs in.');
      throw error;
    }
    return body.data as R;
  }

  /** A subscription over the WebSocket; kept across reconnects until the returned function ends it. */
  subscribe<R, V>(document: TypedDocumentString<R, V>, variables: V, sink: Sink<R>): () => void {
    return this.ws.subscribe<R>(
      { query: document.toString(), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.length) sink.error?.(firstError(result.errors));
          else if (result.data) sink.next(result.data);
        },
        error: (err) => {
          if (Array.isArray(err)) sink.error?.(firstError(err));
        },
        complete: () => {},
      },
    );
  }

  /** Ends the WebSocket and every subscription on it. */
  close(): void {
    void this.ws.dispose();
  }
}
