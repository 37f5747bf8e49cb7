import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { GqlResult } from './server.ts';

/** One subscription's messages, as a client sees them. */
export interface Collected<T = any> {
  /** Every `next` payload, in order. */
  results: GqlResult<T>[];
  /** Set once the server completed the subscription or ended it with an error. */
  ended: { error?: unknown } | null;
  /**
   * The first result (already received or still to come) that `match` accepts.
   * `poke` runs now and every `pokeEveryMs` while waiting: a control event
   * published until the subscriber shows it listens.
   */
  waitFor(
    match: (result: GqlResult<T>) => boolean,
    options?: { timeoutMs?: number; poke?: () => unknown; pokeEveryMs?: number },
  ): Promise<GqlResult<T>>;
  /** Resolves once the subscription has ended. */
  waitEnded(timeoutMs?: number): Promise<{ error?: unknown }>;
  stop(): void;
}

export interface WsConnection {
  client: Client;
  /** The close code, once the connection is closed. */
  closeCode: number | null;
  waitClosed(timeoutMs?: number): Promise<number>;
  subscribe<T = any>(query: string, variables?: Record<string, unknown>): Collected<T>;
  dispose(): Promise<void>;
}

export const wsUrlOf = (httpUrl: string) => httpUrl.replace(/^http/, 'ws');

/** Polls `check` until it returns something other than undefined, or fails after `timeoutMs`. */
async function poll<T>(
  check: () => T | undefined,
  timeoutMs: number,
  what: string,
  tick?: () => unknown,
  tickMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let nextTick = 0;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    if (tick && Date.now() >= nextTick) {
      nextTick = Date.now() + tickMs;
      await tick();
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A graphql-ws client (the `ws` package as its socket) that connects at once
 * and never retries, so that a test sees how the server ended it.
 */
export function connectWs(httpUrl: string, connectionParams?: Record<string, unknown>): WsConnection {
  let closeCode: number | null = null;
  const client = createClient({
    url: wsUrlOf(httpUrl),
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: false,
    retryAttempts: 0,
    shouldRetry: () => false,
    onNonLazyError: () => {},
    on: { closed: (event) => void (closeCode = (event as { code: number }).code) },
  });
  return {
    client,
    get closeCode() {
      return closeCode;
    },
    waitClosed: (timeoutMs = 5000) => poll(() => closeCode ?? undefined, timeoutMs, 'the connection to close'),
    subscribe<T>(query: string, variables?: Record<string, unknown>): Collected<T> {
      const collected: Collected<T> = {
        results: [],
        ended: null,
        waitFor: (match, options = {}) =>
          poll(
            () => collected.results.find(match),
            options.timeoutMs ?? 5000,
            `a matching message (received: ${JSON.stringify(collected.results).slice(0, 500)})`,
            options.poke,
            options.pokeEveryMs,
          ),
        waitEnded: (timeoutMs = 5000) => poll(() => collected.ended ?? undefined, timeoutMs, 'the subscription to end'),
        stop: () => unsubscribe(),
      };
      const unsubscribe = client.subscribe<T>(
        { query, variables },
        {
          next: (result) => void collected.results.push(result as GqlResult<T>),
          error: (error) => void (collected.ended = { error }),
          complete: () => void (collected.ended ??= {}),
        },
      );
      return collected;
    },
    dispose: async () => {
      await client.dispose();
    },
  };
}
