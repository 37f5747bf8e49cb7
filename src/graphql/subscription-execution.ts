import { useEngine, type Plugin } from '@envelop/core';
import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Principal } from '../auth/principal.ts';
import type { Context } from './context.ts';

// One status change of a channel goes to every operator watching it: a
// thousand subscribers of the same document would execute the same selection
// on the same event a thousand times. Here an event's execution is shared by
// the subscribers that would get the same answer: same document, operation
// and variables, and the same rights (admin, roles per project). Each
// subscriber's stream still decides on its own, with its own rights of the
// moment, which events it gets (domain/subscription-delivery.ts).
//
// This holds because resolvers under Subscription answer by rights, never by
// identity: none reads the caller's user or token id.

type Maybe<T> = T | Promise<T>;

const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;
const rightsKeys = new WeakMap<Principal, string>();
/** Results per event payload, by execution key; they go with the payload. */
const results = new WeakMap<object, Map<string, Maybe<ExecutionResult>>>();

function documentId(document: DocumentNode): number {
  let id = documentIds.get(document);
  if (id === undefined) documentIds.set(document, (id = nextDocumentId++));
  return id;
}

/** What the answers depend on of a principal. */
export function rightsKey(principal: Principal | null): string {
  if (!principal) return '-';
  let key = rightsKeys.get(principal);
  if (key === undefined) {
    key = principal.isAdmin ? 'admin' : [...principal.roles].map(([project, role]) => `${project}:${role}`).sort().join(',');
    rightsKeys.set(principal, key);
  }
  return key;
}

function executeEvent(args: ExecutionArgs, payload: unknown, operationKey: string): Maybe<ExecutionResult> {
  // Primitive payloads (an item id) are per subscriber anyway.
  if (typeof payload !== 'object' || payload === null) return execute({ ...args, rootValue: payload });
  const key = `${operationKey}\u0000${rightsKey((args.contextValue as Context).principal)}`;
  let byKey = results.get(payload);
  if (!byKey) results.set(payload, (byKey = new Map()));
  let result = byKey.get(key);
  if (result === undefined) {
    result = execute({ ...args, rootValue: payload });
    byKey.set(key, result);
  }
  return result;
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/** graphql's subscribe, with each event's execution shared as above. */
export async function subscribeShared(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const stream = await createSourceEventStream(args);
  if (!isAsyncIterable(stream)) return stream as ExecutionResult;
  const operationKey = `${documentId(args.document)}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? null)}`;
  const events = stream[Symbol.asyncIterator]();
  const mapped: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      const event = await events.next();
      return event.done ? { value: undefined, done: true } : { value: await executeEvent(args, event.value, operationKey), done: false };
    },
    return: () => (events.return ? events.return() : Promise.resolve({ value: undefined, done: true })) as Promise<IteratorResult<ExecutionResult>>,
    throw: (error: unknown) => (events.throw ? events.throw(error) : Promise.reject(error)) as Promise<IteratorResult<ExecutionResult>>,
    [Symbol.asyncIterator]: () => mapped,
  };
  return mapped;
}

/** The envelop plugin that makes subscriptions (WebSocket and server-sent events) use subscribeShared. */
export function useSharedSubscriptionExecution(): Plugin {
  return useEngine({ subscribe: subscribeShared as never });
}
