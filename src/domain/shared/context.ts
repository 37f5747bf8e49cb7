import type { Principal } from '../../auth/principal.ts';
import type { Db } from '../../services/db.ts';
import type { Services } from '../../services/index.ts';

/**
 * What a domain function needs from its caller, whatever the transport: the
 * GraphQL context extends it (src/graphql/context.ts), so the domain never
 * depends on the API layer.
 */
export interface DomainContext {
  db: Db;
  services: Services;
  /** Null for a caller without credentials. */
  principal: Principal | null;
}
