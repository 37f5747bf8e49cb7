import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { GraphQLError, Kind, getOperationAST, type DocumentNode } from 'graphql';
import type { Logger } from '../services/logger.ts';
import type { Metrics } from '../services/metrics.ts';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { ErrorCode } from '../errors.ts';
import { buildContext, type Context, type ContextDeps } from '../graphql/context.ts';
import { useReleaseRequestCaches } from '../graphql/request-caches.ts';
import { useSharedSubscriptionExecution } from '../graphql/subscription-execution.ts';
import { schema } from '../graphql/schema/index.ts';

/** armor's rejections carry no code; the contract wants one on every error. */
const markRejected = [(_ctx: unknown, error: GraphQLError) => ensureCode([error], 'GRAPHQL_VALIDATION_FAILED')];

/** Limits against abusive documents; generous for real operator and integration queries. */
const ARMOR = {
  maxDepth: { n: 12, onReject: markRejected },
  maxAliases: { n: 20, onReject: markRejected },
  maxTokens: { n: 5000, onReject: markRejected },
  maxDirectives: { n: 50, onReject: markRejected },
  costLimit: { maxCost: 20000, onReject: markRejected },
  blockFieldSuggestion: { enabled: true },
};

/** Gives `code` to an error that has none (the contract wants one on every error). */
function ensureCode(errors: readonly GraphQLError[] | undefined, code: string): void {
  for (const error of errors ?? []) {
    if (!error.extensions?.code) (error.extensions as Record<string, unknown>).code = code;
  }
}

/**
 * GraphQL's variable coercion errors ("Value X does not exist in enum Y") have
 * no code and no path; the contract calls them BAD_USER_INPUT.
 */
function useErrorCodes(): Plugin {
  return {
    onExecute: () => ({
      onExecuteDone: ({ result }) => {
        if ('errors' in result) ensureCode(result.errors?.filter((e) => !e.path) as GraphQLError[], ErrorCode.BAD_USER_INPUT);
      },
    }),
  };
}

function useOperationMetrics(metrics: Metrics): Plugin {
  return {
    onExecute: ({ args }) => {
      const type = getOperationAST(args.document, args.operationName)?.operation ?? 'unknown';
      const stop = metrics.graphqlDuration.startTimer({ type });
      return {
        onExecuteDone: ({ result }) => {
          stop();
          const failed = 'errors' in result && result.errors?.length;
          metrics.graphqlOperations.inc({ type, outcome: failed ? 'error' : 'ok' });
        },
      };
    },
  };
}

/**
 * Root fields whose operations run compiled (graphql-jit: the document is
 * compiled once, then each request runs plain JavaScript instead of graphql-js's
 * walk of every field of every row). Only fields that load their own relations:
 * plugin-prisma plans nested loads on graphql-js's execution paths, which
 * compiled execution does not reproduce, so other reads would fall back to
 * a statement per level. Query.asRun is the read integrations page through.
 */
const COMPILED_ROOT_FIELDS = new Set(['asRun']);

function compiledExecution(document: DocumentNode, operationName: string | null | undefined): boolean {
  const operation = getOperationAST(document, operationName);
  return (
    operation?.operation === 'query' &&
    operation.selectionSet.selections.every((s) => s.kind === Kind.FIELD && (s.name.value === '__typename' || COMPILED_ROOT_FIELDS.has(s.name.value)))
  );
}

/**
 * What a caller sees of an error: GraphQLErrors (OnairError, validation) pass;
 * anything else is logged and masked. Also used for results the WebSocket
 * server writes itself (websocket.ts).
 */
export function errorMasker(log: Logger): (error: unknown, message?: string) => GraphQLError {
  return (error, message = 'Unexpected error.') => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) return error;
    log.error({ err: original }, 'unexpected error');
    return new GraphQLError(message === 'Unexpected error.' ? 'internal server error' : message, {
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    });
  };
}

export type Yoga = YogaServerInstance<Record<string, never>, Context>;

export function createGraphqlHandler(deps: ContextDeps): Yoga {
  const { log, config } = deps.services;
  return createYoga<Record<string, never>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    // app.ts refuses a body over MAX_BODY_BYTES by its declared length, and one of undeclared
    // length, before yoga sees it; yoga's own limit would stream every body through a counter.
    maxRequestBodySize: false,
    graphiql: config.graphiql ? { title: 'onair' } : false,
    landingPage: false,
    logging: {
      debug: (...args) => log.debug(args.map(String).join(' ')),
      info: (...args) => log.info(args.map(String).join(' ')),
      warn: (...args) => log.warn(args.map(String).join(' ')),
      // Errors returned to the caller are not the server's errors: they are logged at debug.
      error: (...args) =>
        args[0] instanceof GraphQLError ? log.debug(String(args[0])) : log.error(args.map(String).join(' ')),
    },
    // HTTP: the Authorization header; a WebSocket operation: its connection's credentials (websocket.ts).
    context: (initial) =>
      buildContext(deps, 'authorization' in initial ? (initial.authorization as string) : initial.request.headers.get('authorization')),
    maskedErrors: { maskError: errorMasker(log) },
    plugins: [
      EnvelopArmorPlugin(ARMOR),
      useErrorCodes(),
      useReleaseRequestCaches(),
      useOperationMetrics(deps.services.metrics),
      useSharedSubscriptionExecution(),
      useGraphQlJit({}, { enableIf: (args) => compiledExecution(args.document, args.operationName) }),
    ],
  });
}
