import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../prisma/generated/client/client.ts';

export type Db = PrismaClient;
export type { Prisma } from '../../prisma/generated/client/client.ts';

export interface DbOptions {
  url: string;
  /** @defaultValue 10 */
  poolSize?: number;
  /** Called once per SQL statement sent (tests count statements with it). */
  onQuery?: (sql: string) => void;
}

export function createDb({ url, poolSize = 10, onQuery }: DbOptions): Db {
  const adapter = new PrismaPg({ connectionString: url, max: poolSize });
  const db = new PrismaClient({
    adapter,
    log: onQuery ? [{ emit: 'event', level: 'query' }] : [],
  });
  if (onQuery) db.$on('query' as never, (e: { query: string }) => onQuery(e.query));
  return db;
}
