import { useEngine, type Plugin } from '@envelop/core';
import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Principal } from '../auth/principal.ts';
import { isPushable, PUSH, type Pushable } from './subscription-mailbox.ts';
import type { Context, ResultSink } from './context.ts';

// One status change of a channel goes to every operator watching it: a
// thousand subscribers of the same document would execute the same selection
// on the same event a thousand times. Here an event's execution is shared by
// the subscribers that would get the same answer: same document, operation
// and variables, and the same rights (admin, roles per project). Each
// subscriber's stream still decides on its own, with its own rights of the
// moment, which events it gets (graphql/subscription-delivery.ts).
//
// This holds because resolvers under Subscription answer by rights, never by
// identity: none reads the caller's user or token id.

type Maybe<T> = T | Promise<T>;

const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;
const rightsKeys = new WeakMap<Principal, string>();
/** Results per event payload, by execution key; they go with the payload. */
const results = new WeakMap<object, Map<string, Maybe<ExecutionResult>>>();
/** The payload being delivered to its subscribers one after the other, and its results: no lookup for each. */
let lastPayload: object | null = null;
let lastByKey: Map<string, Maybe<ExecutionResult>> | undefined;

/**
 * One string per operation key, so that keys compared per subscriber compare
 * as one pointer; started over beyond a bound (it only saves time).
 */
const keys = new Map<string, string>();
function interned(key: string): string {
  const known = keys.get(key);
  if (known !== undefined) return known;
  if (keys.size >= 10_000) keys.clear();
  keys.set(key, key);
  return key;
}

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
    key = principal.isAdmin
      ? 'admin'
      : [...principal.roles]
          .map(([project, role]) => `${project}:${role}`)
          .sort()
          .join(',');
    rightsKeys.set(principal, key);
  }
  return key;
}

/**
 * Executes a subscription's events, sharing each result with the subscribers
 * of the same operation and rights. The key is rebuilt only when the
 * subscriber's principal changes (it is re-resolved per event, and cached), so
 * that the lookup per event hashes a string it has hashed before.
 */
function eventExecutor(args: ExecutionArgs, operationKey: string): (payload: unknown) => Maybe<ExecutionResult> {
  const context = args.contextValue as Context;
  let keyedFor: Principal | null | undefined;
  let key = '';
  return (payload) => {
    // Primitive payloads (an item id) are per subscriber anyway.
    if (typeof payload !== 'object' || payload === null) return execute({ ...args, rootValue: payload });
    if (context.principal !== keyedFor) {
      keyedFor = context.principal;
      key = `${operationKey}\u0000${rightsKey(keyedFor)}`;
    }
    let byKey = payload === lastPayload ? lastByKey : results.get(payload);
    if (!byKey) results.set(payload, (byKey = new Map()));
    lastPayload = payload;
    lastByKey = byKey;
    let result = byKey.get(key);
    if (result === undefined) {
      result = execute({ ...args, rootValue: payload });
      byKey.set(key, result);
    }
    return result;
  };
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

const isPromise = <V>(value: Maybe<V>): value is Promise<V> => typeof (value as Promise<V>)?.then === 'function';

/**
 * Events executed and handed to the sink as they arrive; what is returned
 * only tells the stream's end (after the last result is written) or its error.
 */
function pushTo(
  sink: ResultSink,
  stream: Pushable<unknown>,
  operationKey: string,
  executeEvent: (payload: unknown) => Maybe<ExecutionResult>,
): AsyncIterableIterator<ExecutionResult> {
  // Only an execution that waits on something (a nested load) makes the ones behind it wait.
  let pending: Promise<void> | null = null;
  let failed: unknown = null;
  const write = (result: ExecutionResult) => sink.next(result);
  const deliver = (result: Maybe<ExecutionResult>) => {
    if (failed) return;
    if (!pending && !isPromise(result)) return write(result);
    const after: Promise<void> = (pending ?? Promise.resolve())
      .then(() => result)
      .then(write)
      .catch((err: unknown) => {
        failed ??= err;
        void stream.return?.();
      })
      .finally(() => {
        if (pending === after) pending = null;
      });
    pending = after;
  };
  stream[PUSH]((event) => deliver(executeEvent(event)), {
    key: operationKey,
    execute: executeEvent,
    deliver: deliver as (result: unknown) => void,
  });
  const settled = async <R>(outcome: R): Promise<R> => {
    while (pending) await pending;
    if (failed) throw failed;
    return outcome;
  };
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    next: () =>
      stream
        .next()
        .then(settled as (r: IteratorResult<unknown>) => Promise<IteratorResult<ExecutionResult>>, (err: unknown) =>
          settled(null).then(() => Promise.reject(err)),
        ),
    return: () => {
      sink.close();
      return stream.return
        ? (stream.return() as Promise<IteratorResult<ExecutionResult>>)
        : Promise.resolve({ value: undefined, done: true });
    },
    throw: (error: unknown) => {
      sink.close();
      return (stream.throw ? stream.throw(error) : Promise.reject(error)) as Promise<IteratorResult<ExecutionResult>>;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/** graphql's subscribe, with each event's execution shared as above. */
export async function subscribeShared(
  args: ExecutionArgs,
): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const stream = await createSourceEventStream(args);
  if (!isAsyncIterable(stream)) return stream as ExecutionResult;
  const operationKey = interned(
    `${documentId(args.document)}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? null)}`,
  );
  const sink = (args.contextValue as Context).resultSink;
  const executeEvent = eventExecutor(args, operationKey);
  if (sink && isPushable(stream)) return pushTo(sink, stream, operationKey, executeEvent);
  const events = stream[Symbol.asyncIterator]();
  const mapped: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      const event = await events.next();
      return event.done ? { value: undefined, done: true } : { value: await executeEvent(event.value), done: false };
    },
    return: () =>
      (events.return ? events.return() : Promise.resolve({ value: undefined, done: true })) as Promise<
        IteratorResult<ExecutionResult>
      >,
    throw: (error: unknown) =>
      (events.throw ? events.throw(error) : Promise.reject(error)) as Promise<IteratorResult<ExecutionResult>>,
    [Symbol.asyncIterator]: () => mapped,
  };
  return mapped;
}

/** The envelop plugin that makes subscriptions (WebSocket and server-sent events) use subscribeShared. */
export function useSharedSubscriptionExecution(): Plugin {
  return useEngine({ subscribe: subscribeShared as never });
}
