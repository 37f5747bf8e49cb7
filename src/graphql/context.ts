import type { Principal } from '../auth/principal.ts';
import type { TokenUsageRecorder } from '../auth/token-usage.ts';
import type { Db } from '../services/db.ts';
import type { Logger } from '../services/logger.ts';
import type { Services } from '../services/index.ts';
import { authenticate } from '../auth/authenticate.ts';
import type { ResultSink } from './subscription-execution.ts';

/** What every resolver gets, for HTTP and WebSocket alike. */
export interface Context {
  db: Db;
  log: Logger;
  services: Services;
  /** Null for a request without credentials. */
  principal: Principal | null;
  /** The credentials it was resolved from: a subscription re-resolves them for every event it delivers. */
  authorization?: string | null;
  /** A subscription over WebSocket: where its results are written (graphql/subscription-execution.ts). */
  resultSink?: ResultSink;
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
