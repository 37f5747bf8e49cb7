import { RequestCache } from '@pothos/plugin-scope-auth';
import { createYoga, type Plugin } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { builder } from '../../src/graphql/builder.ts';
import { useReleaseRequestCaches } from '../../src/graphql/request-caches.ts';
import { schema } from '../../src/graphql/schema/index.ts';

/**
 * Records, when each operation's result is in, the context it ran with and the
 * scope-auth cache it used (before useReleaseRequestCaches, which runs after it).
 */
function recordCaches(seen: { context: object; cache: RequestCache<never> }[]): Plugin {
  return {
    onExecute: ({ args }) => ({
      onExecuteDone: () => {
        const context = args.contextValue as object;
        seen.push({ context, cache: RequestCache.fromContext(context as never, builder as never) });
      },
    }),
  };
}

async function run(withRelease: boolean) {
  const seen: { context: object; cache: RequestCache<never> }[] = [];
  const yoga = createYoga({
    schema,
    context: () => ({ principal: null }),
    plugins: [recordCaches(seen), ...(withRelease ? [useReleaseRequestCaches()] : [])],
  });
  // A root field: its type's scopes are checked (and cached for the request) before anything else.
  const response = await yoga.fetch('http://onair.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ channel(id: "c") { id } }' }),
  });
  const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
  expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(seen).toHaveLength(1);
  const [{ context, cache }] = seen;
  return { used: cache, afterwards: RequestCache.fromContext(context as never, builder as never) };
}

describe("scope-auth's per-request cache", () => {
  it('is dropped once the operation is done, so the request can die young', async () => {
    const { used, afterwards } = await run(true);
    expect(afterwards).not.toBe(used);
  });

  it('is otherwise kept for as long as its context lives (the case the release exists for)', async () => {
    const { used, afterwards } = await run(false);
    expect(afterwards).toBe(used);
  });
});
