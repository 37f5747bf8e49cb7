import type { AddressInfo } from 'node:net';
import { buildApp, type App } from '../../src/server/app.ts';
import { createServices, type Services } from '../../src/services/index.ts';
import { createTestDatabase } from './database.ts';
import { gqlRequest, testConfig, type GqlResult } from './server.ts';

/** One API server of a replica set. */
export interface Replica {
  url: string;
  services: Services;
  app: App;
  gql<T = any>(token: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
}

export interface Replicas {
  replicas: Replica[];
  close(): Promise<void>;
}

/**
 * `n` API servers as production runs them: each with its own services
 * (database pool, Redis connections, principal cache), sharing one fresh
 * database and one installation name, so that only Redis carries events
 * from one to another.
 */
export async function startReplicas(n: number, env: Record<string, string> = {}): Promise<Replicas> {
  const database = await createTestDatabase();
  const config = testConfig(database.url, env);
  const replicas: Replica[] = [];
  for (let i = 0; i < n; i++) {
    const services = createServices(config);
    const app = buildApp(services, { tokenUsageIntervalMs: 200 });
    await new Promise<void>((resolve) => app.server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql`;
    replicas.push({ url, services, app, gql: (token, query, variables) => gqlRequest(url, token, query, variables) });
  }
  return {
    replicas,
    async close() {
      await Promise.allSettled(replicas.map((r) => r.app.close()));
      await Promise.allSettled(replicas.map((r) => r.services.close()));
      await database.drop();
    },
  };
}
