import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one process, served on GET /metrics. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'onair_' });
  return {
    registry,
    graphqlOperations: new Counter({
      name: 'onair_graphql_operations_total',
      help: 'GraphQL operations executed, by operation type and outcome.',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
    graphqlDuration: new Histogram({
      name: 'onair_graphql_duration_seconds',
      help: 'Time to execute a GraphQL operation (after parsing and validation).',
      labelNames: ['type'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    websocketConnections: new Gauge({
      name: 'onair_websocket_connections',
      help: 'Authenticated GraphQL WebSocket connections open on this process.',
      registers: [registry],
    }),
    websocketClosedByRecheck: new Counter({
      name: 'onair_websocket_revoked_total',
      help: 'WebSocket connections closed because their token no longer authenticates.',
      registers: [registry],
    }),
    websocketClosedBehind: new Counter({
      name: 'onair_websocket_behind_total',
      help: 'WebSocket connections closed because their client stopped reading (WS_MAX_BUFFERED_BYTES).',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
