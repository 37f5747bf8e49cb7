import type { ExecutionResult } from 'graphql';
import type { TokenUsageRecorder } from '../auth/token-usage.ts';
import type { DomainContext } from '../domain/shared/context.ts';
import type { Logger } from '../services/logger.ts';
import type { Services } from '../services/index.ts';
import { authenticate } from '../auth/authenticate.ts';

/** What every resolver gets, for HTTP and WebSocket alike: the domain's context and the transport's parts. */
export interface Context extends DomainContext {
  log: Logger;
  /** The credentials it was resolved from: a subscription re-resolves them for every event it delivers. */
  authorization?: string | null;
  /** A subscription over WebSocket: where its results are written (graphql/subscription-execution.ts). */
  resultSink?: ResultSink;
}

/**
 * Where a transport that writes each message at once takes a subscription's
 * results (the WebSocket server: server/websocket.ts), bypassing the chain of
 * async iterators between the event and the socket. Results come in order.
 * Declared here, not beside its use in subscription-execution.ts, so that the
 * context imports nothing that imports it back.
 */
export interface ResultSink {
  next(result: ExecutionResult): void;
  /** The subscription ended: nothing more is written. */
  close(): void;
}

export interface ContextDeps {
  services: Services;
  tokenUsage: TokenUsageRecorder;
}

/** One factory for every transport: resolves the caller from an Authorization value. */
export async function buildContext(deps: ContextDeps, authorization: string | null | undefined): Promise<Context> {
  const { services } = deps;
  const principal = await authenticate(services.sql, authorization, services.principals);
  if (principal) deps.tokenUsage.touch(principal.tokenId);
  return { db: services.db, log: services.log, services, principal, authorization: authorization ?? null };
}
