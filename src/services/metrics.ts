import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one process, served on GET /metrics. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'onair_' });
  /** Counted when scraped, from what the WebSocket server reports (countWebsocketOperations). */
  let openWebsocketOperations = () => 0;
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
    websocketOperations: new Gauge({
      name: 'onair_websocket_operations',
      help: "GraphQL operations open on this process's WebSocket connections: subscriptions, and queries or mutations in flight.",
      registers: [registry],
      collect() {
        this.set(openWebsocketOperations());
      },
    }),
    /** The WebSocket server tells how to count its open operations (server/websocket.ts). */
    countWebsocketOperations(count: () => number): void {
      openWebsocketOperations = count;
    },
    websocketClosedByRecheck: new Counter({
      name: 'onair_websocket_revoked_total',
      help: 'WebSocket connections closed because their token no longer authenticates.',
      registers: [registry],
    }),
    channelAlarmsRaised: new Counter({
      name: 'onair_channel_alarms_raised_total',
      help: 'Channel alarms raised (not up before), by channel and alarm kind.',
      labelNames: ['channel', 'kind'] as const,
      registers: [registry],
    }),
    channelOutputReconnects: new Counter({
      name: 'onair_channel_output_reconnects_total',
      help: "Reconnections of a channel's output (SRT/RTMP receiver lost), as its sidecars count them.",
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
    channelFramesDropped: new Counter({
      name: 'onair_channel_frames_dropped_total',
      help: "Frames a channel's engine dropped to catch up with real time, as its sidecars count them.",
      labelNames: ['channel'] as const,
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
