import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/services/db.ts';
import { createTestDatabase } from '../helpers/database.ts';

// Sql.queryGenericArrays: the hot as-run page is planned once per connection (its generic plan),
// while every other statement, Prisma's included, is planned as before.
let database: Database;
let drop: () => Promise<void>;
let url: string;

beforeAll(async () => {
  const created = await createTestDatabase();
  drop = created.drop;
  url = created.url;
  database = createDatabase({ url, poolSize: 2 });
});

afterAll(async () => {
  await database?.close();
  await drop?.();
});

describe('Sql.queryGenericArrays', () => {
  it('answers each call with its own parameters, from one prepared statement run with its generic plan', async () => {
    const text = 'SELECT n FROM generate_series(1, 10) AS g(n) WHERE n > $1::int ORDER BY n LIMIT $2';
    expect(await database.sql.queryGenericArrays(text, [7, 5])).toEqual([[8], [9], [10]]);
    expect(await database.sql.queryGenericArrays(text, [2, 2])).toEqual([[3], [4]]);
    expect(await database.sql.queryGenericArrays(text, [0, 1])).toEqual([[1]]);
    // Sequential calls reuse the pool's one idle connection, whose prepared statements are listed here.
    const [[prepared, generic, custom]] = await database.sql.queryGenericArrays(
      'SELECT count(*)::int, sum(generic_plans)::int, sum(custom_plans)::int FROM pg_prepared_statements WHERE statement LIKE $1',
      ['%generate_series%'],
    );
    expect({ prepared, generic, custom }).toEqual({ prepared: 1, generic: 3, custom: 0 });
  });

  it('leaves the other connections planning as PostgreSQL chooses', async () => {
    expect(await database.sql.queryGenericArrays("SELECT current_setting('plan_cache_mode')")).toEqual([
      ['force_generic_plan'],
    ]);
    expect(await database.sql.queryArrays("SELECT current_setting('plan_cache_mode')")).toEqual([['auto']]);
    expect(
      await database.db.$queryRawUnsafe<{ mode: string }[]>("SELECT current_setting('plan_cache_mode') AS mode"),
    ).toEqual([{ mode: 'auto' }]);
  });
});

describe('Database.warm', () => {
  it('opens the connections the pool keeps while idle, before any statement', async () => {
    const backends = async () =>
      (
        await database.sql.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()',
        )
      )[0].n;
    const before = await backends();
    const warmed = createDatabase({ url, poolSize: 5 });
    try {
      await warmed.warm();
      expect((await backends()) - before).toBe(2);
    } finally {
      await warmed.close();
    }
  });
});
