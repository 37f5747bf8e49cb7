import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { GraphQLError, Kind, getOperationAST, parse, type DocumentNode, type ValidationRule } from 'graphql';
import type { Logger } from '../services/logger.ts';
import type { Metrics } from '../services/metrics.ts';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { ErrorCode } from '../errors.ts';
import { buildContext, type Context, type ContextDeps } from '../graphql/context.ts';
import { queryCostRule } from '../graphql/query-cost.ts';
import { useReleaseRequestCaches } from '../graphql/request-caches.ts';
import { useSharedSubscriptionExecution } from '../graphql/subscription-execution.ts';
import { schema } from '../graphql/schema/index.ts';

/** armor's rejections carry no code; the contract wants one on every error. */
const markRejected = [(_ctx: unknown, error: GraphQLError) => ensureCode([error], 'GRAPHQL_VALIDATION_FAILED')];

/**
 * Limits against abusive documents; generous for real operator and integration queries.
 * armor's cost counts `first` arguments but not plain lists: onair's own rule
 * (graphql/query-cost.ts) takes its place.
 */
const ARMOR = {
  maxDepth: { n: 12, onReject: markRejected },
  maxAliases: { n: 20, onReject: markRejected },
  maxTokens: { n: 5000, onReject: markRejected },
  maxDirectives: { n: 50, onReject: markRejected },
  costLimit: { enabled: false },
  blockFieldSuggestion: { enabled: true },
};

/**
 * A body over MAX_BODY_BYTES (app.ts let it in, up to MAX_IMPORT_BODY_BYTES, for a caller with a
 * valid token) may carry one thing: a mutation that selects importBxfSchedule alone. Anything
 * else is refused before it is validated or run, as app.ts refuses any other large body.
 */
function useLargeBodyForImportOnly(maxBody: number): Plugin {
  return {
    onParams: ({ params, request, setResult }) => {
      if (Number(request.headers.get('content-length') ?? 0) <= maxBody) return;
      let importOnly = false;
      try {
        const doc = parse(params.query ?? '', { maxTokens: 5000 });
        const op = getOperationAST(doc, params.operationName);
        importOnly =
          doc.definitions.length === 1 &&
          op?.operation === 'mutation' &&
          op.selectionSet.selections.every((s) => s.kind === Kind.FIELD && s.name.value === 'importBxfSchedule');
      } catch {
        // Not a document: refused below.
      }
      if (!importOnly)
        setResult({
          errors: [
            new GraphQLError(`request body larger than ${maxBody} bytes: only importBxfSchedule may send more`, {
              extensions: { code: ErrorCode.BAD_USER_INPUT, http: { status: 413 } },
            }),
          ],
        });
    },
  };
}

/** Introspection refused as a validation error (`INTROSPECTION=false`, production's default); `__typename` stays. */
const noIntrospection: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value === '__schema' || node.name.value === '__type') {
      context.reportError(
        new GraphQLError('introspection is turned off on this server (INTROSPECTION=false)', {
          nodes: node,
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
        }),
      );
    }
  },
});

/** onair's own validation rules: the query cost, and introspection when it is off. */
function useValidationRules(rules: ValidationRule[]): Plugin {
  return {
    onValidate: ({ addValidationRule }) => {
      for (const rule of rules) addValidationRule(rule);
    },
  };
}

/**
 * A response larger than MAX_RESPONSE_BYTES is replaced by an error: the cost
 * rule estimates, this bounds what one request can send whatever the data.
 * Yoga gives a JSON response its length when it makes it (nothing is serialized twice).
 */
function useResponseSizeCap(maxBytes: number, log: Logger): Plugin {
  return {
    onResponse: ({ response, setResponse, fetchAPI }) => {
      const length = Number(response.headers.get('content-length'));
      const type = response.headers.get('content-type') ?? '';
      if (!(length > maxBytes) || !type.includes('json')) return;
      log.warn({ bytes: length, maxBytes }, 'GraphQL response over MAX_RESPONSE_BYTES refused');
      const body = JSON.stringify(tooLargeResult(length, maxBytes));
      setResponse(new fetchAPI.Response(body, { status: 200, headers: { 'content-type': type } }));
    },
  };
}

/** What a result above MAX_RESPONSE_BYTES becomes, over HTTP and WebSocket alike. */
export function tooLargeResult(bytes: number, maxBytes: number) {
  return {
    errors: [
      {
        message: `the response would be ${bytes} bytes, above the limit of ${maxBytes}: ask for fewer rows (first) or fields`,
        extensions: { code: ErrorCode.BAD_USER_INPUT, bytes, maxBytes },
      },
    ],
  };
}

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
        if ('errors' in result)
          ensureCode(result.errors?.filter((e) => !e.path) as GraphQLError[], ErrorCode.BAD_USER_INPUT);
      },
    }),
  };
}

/** After a mutation, Channel.engine is read afresh (see EngineReadCache.clear). */
function useFreshEngineAfterMutations(services: ContextDeps['services']): Plugin {
  return {
    onExecute: ({ args }) =>
      getOperationAST(args.document, args.operationName)?.operation === 'mutation'
        ? { onExecuteDone: () => services.engineReads.clear() }
        : undefined,
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
    operation.selectionSet.selections.every(
      (s) => s.kind === Kind.FIELD && (s.name.value === '__typename' || COMPILED_ROOT_FIELDS.has(s.name.value)),
    )
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
  // GraphiQL's page with its scripts and styles inline (@graphql-yoga/render-graphiql): yoga's
  // default loads them from a public CDN, and offline the page stays at "Loading…". Its 9 MB of
  // JavaScript are read on the first GET only (never with GraphiQL off), and the page rendered once.
  let graphiqlPage: Promise<string> | undefined;
  return createYoga<Record<string, never>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    // app.ts refuses a body over MAX_BODY_BYTES by its declared length, and one of undeclared
    // length, before yoga sees it; yoga's own limit would stream every body through a counter.
    maxRequestBodySize: false,
    graphiql: config.graphiql ? { title: 'onair' } : false,
    renderGraphiQL: (options) =>
      (graphiqlPage ??= import('@graphql-yoga/render-graphiql').then((m) => m.renderGraphiQL(options))),
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
      buildContext(
        deps,
        'authorization' in initial ? (initial.authorization as string) : initial.request.headers.get('authorization'),
      ),
    maskedErrors: { maskError: errorMasker(log) },
    // Credentials go in the Authorization header, so a page of another origin needs CORS to
    // send them: only the origins of CORS_ORIGINS get an answer that allows it.
    cors: (request) => {
      const origin = request.headers.get('origin');
      if (!origin || !config.corsOrigins.includes(origin)) return false;
      return {
        origin,
        credentials: true,
        methods: ['GET', 'POST'],
        allowedHeaders: ['authorization', 'content-type'],
        maxAge: 600,
      };
    },
    plugins: [
      useLargeBodyForImportOnly(config.maxBodyBytes),
      EnvelopArmorPlugin(ARMOR),
      useValidationRules([
        queryCostRule({ maxCost: config.maxQueryCost }),
        ...(config.introspection ? [] : [noIntrospection]),
      ]),
      useResponseSizeCap(config.maxResponseBytes, log),
      useErrorCodes(),
      useReleaseRequestCaches(),
      useOperationMetrics(deps.services.metrics),
      useFreshEngineAfterMutations(deps.services),
      useSharedSubscriptionExecution(),
      useGraphQlJit({}, { enableIf: (args) => compiledExecution(args.document, args.operationName) }),
    ],
  });
}
