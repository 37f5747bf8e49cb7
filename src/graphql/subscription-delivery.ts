import { authenticateMany } from '../auth/authenticate.ts';
import type { Principal } from '../auth/principal.ts';
import type { PrincipalCache } from '../auth/principal-cache.ts';
import { ErrorCode, OnairError } from '../errors.ts';
import type { Context } from './context.ts';
import type { Services } from '../services/index.ts';
import type { PubSub, Topics } from '../services/pubsub.ts';

// How an event on the bus reaches each subscriber of this replica. An event is
// delivered to many subscribers at once (a thousand operators watching one
// channel), so the work done once per event is kept apart from the work done
// once per subscriber, and the latter stays small: a map lookup for the
// subscriber's rights, a check, a queue.

/**
 * Messages a subscriber may leave unread before its subscription ends: a
 * stalled client must not hold events for ever, nor slow the others.
 */
export const MAX_UNREAD = 256;

type Batch = { headers: Set<string>; answers: Promise<Map<string, Principal | null>> };
type Lookups = { inFlight: Map<string, Promise<Principal | null>>; batch: Batch | null };
const lookups = new WeakMap<PrincipalCache, Lookups>();

/**
 * The subscriber as its credentials resolve now; null once they no longer
 * authenticate (revoked token, deleted user). The principal cache answers
 * most calls. The others are collected until the running code yields and
 * answered together, in one statement: an event delivered to a thousand
 * operators whose cached principals have just expired costs one query.
 */
export function currentPrincipal(
  services: Pick<Services, 'sql' | 'principals'>,
  authorization: string | null,
): Promise<Principal | null> {
  if (!authorization) return Promise.resolve(null);
  const cached = services.principals.get(authorization);
  if (cached) return Promise.resolve(cached);
  let state = lookups.get(services.principals);
  if (!state) lookups.set(services.principals, (state = { inFlight: new Map(), batch: null }));
  const lookup = state;
  const known = lookup.inFlight.get(authorization);
  if (known) return known;
  if (!lookup.batch) {
    const headers = new Set<string>();
    const answers = Promise.resolve().then(() => {
      lookup.batch = null;
      return authenticateMany(services.sql, [...headers], services.principals);
    });
    lookup.batch = { headers, answers };
  }
  lookup.batch.headers.add(authorization);
  const answer = lookup.batch.answers
    .then((found) => found.get(authorization) ?? null)
    .finally(() => lookup.inFlight.delete(authorization));
  lookup.inFlight.set(authorization, answer);
  return answer;
}

type Listener<E> = (event: E) => void;

/** The event a topic carries (its key, if any, comes first). */
export type EventOf<K extends keyof Topics> = Topics[K] extends [...unknown[], infer E] ? E : never;
type Source = { listeners: Set<Listener<never>>; stop(): void };

const sources = new WeakMap<PubSub, Map<string, Source>>();

/**
 * Calls `listener` with every event of a bus topic (and key) until the
 * returned function is called. A replica holds one subscription on the bus per
 * topic and key, whatever the number of its subscribers; it is taken at once
 * (events published from now on arrive) and dropped with its last listener.
 */
export function listen<K extends keyof Topics>(
  pubsub: PubSub,
  topic: K,
  key: string | null,
  listener: Listener<EventOf<K>>,
): () => void {
  let byTopic = sources.get(pubsub);
  if (!byTopic) sources.set(pubsub, (byTopic = new Map()));
  const name = key === null ? topic : `${topic}:${key}`;
  let source = byTopic.get(name);
  if (!source) {
    const events = (
      key === null
        ? (pubsub.subscribe as (t: K) => AsyncIterable<unknown>)(topic)
        : pubsub.subscribe(topic as 'engineStatus', key)
    )[Symbol.asyncIterator]();
    const listeners = new Set<Listener<never>>();
    const created: Source = { listeners, stop: () => void events.return?.() };
    source = created;
    byTopic.set(name, created);
    const forget = () => {
      if (byTopic.get(name) === created) byTopic.delete(name);
    };
    const pump = (result: IteratorResult<unknown>) => {
      if (result.done) return forget();
      for (const l of listeners) {
        try {
          (l as Listener<unknown>)(result.value);
        } catch {
          // One subscriber's failure is its own; the others still get the event.
        }
      }
      if (byTopic.get(name) === created) events.next().then(pump, forget);
    };
    // The first pull subscribes on the bus, now.
    events.next().then(pump, forget);
  }
  source.listeners.add(listener as Listener<never>);
  const taken = source;
  return () => {
    taken.listeners.delete(listener as Listener<never>);
    if (taken.listeners.size === 0 && byTopic.get(name) === taken) {
      byTopic.delete(name);
      taken.stop();
    }
  };
}

/**
 * A stream that can hand its values over as they come, synchronously, instead
 * of one pull (and its promises) at a time: what a transport that writes each
 * message at once uses (graphql/subscription-execution.ts). Once taken, the
 * stream's iterator only tells its end: done, or the error it failed with.
 */
export const PUSH = Symbol('onair.push');

export interface Pushable<T> extends AsyncIterableIterator<T> {
  [PUSH](consumer: (value: T) => void): void;
}

export const isPushable = <T>(stream: AsyncIterable<T>): stream is Pushable<T> =>
  typeof (stream as Partial<Pushable<T>>)[PUSH] === 'function';

/** A subscription's messages not yet taken by the transport; an async iterator of them. */
class Mailbox<T> implements Pushable<T> {
  private readonly queue: T[] = [];
  private waiting: { resolve(r: IteratorResult<T>): void; reject(err: unknown): void } | null = null;
  private closed = false;
  private failure: unknown = null;
  private consumer: ((value: T) => void) | null = null;

  constructor(private readonly onClose: () => void) {}

  [PUSH](consumer: (value: T) => void): void {
    this.consumer = consumer;
    for (const value of this.queue.splice(0)) consumer(value);
  }

  put(value: T): void {
    if (this.closed) return;
    if (this.consumer) {
      this.consumer(value);
      return;
    }
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = null;
      waiting.resolve({ value, done: false });
      return;
    }
    this.queue.push(value);
    if (this.queue.length > MAX_UNREAD) {
      this.fail(
        new OnairError(
          ErrorCode.INTERNAL_SERVER_ERROR,
          `the subscriber fell ${MAX_UNREAD} messages behind: subscribe again`,
        ),
      );
    }
  }

  /** Ends the stream after what is queued; with an error, at once. */
  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = error;
    this.queue.length = 0;
    this.close();
  }

  end(): void {
    if (this.closed) return;
    this.close();
  }

  private close() {
    this.closed = true;
    this.onClose();
    const waiting = this.waiting;
    this.waiting = null;
    if (!waiting) return;
    if (this.failure) {
      waiting.reject(this.failure);
      this.failure = null;
    } else {
      waiting.resolve({ value: undefined, done: true });
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length && !this.consumer) return Promise.resolve({ value: this.queue.shift() as T, done: false });
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      return Promise.reject(failure);
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.queue.length = 0;
    this.failure = null;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(err: unknown): Promise<IteratorResult<T>> {
    return this.return().then(() => Promise.reject(err));
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

export interface Delivery<E, T> {
  /** What the subscriber receives of an event given its rights now: nothing, one message or several. */
  accept(event: E, principal: Principal): T[] | Promise<T[]>;
  /** The first message, before any event (engineStatus: the current state). */
  first?: () => Promise<T>;
}

const isPromise = <V>(value: V | Promise<V>): value is Promise<V> => typeof (value as Promise<V>)?.then === 'function';

/**
 * One subscriber's stream of a bus topic. Every event is checked at delivery
 * against the subscriber's rights as they are then (re-resolved from its
 * credentials: a removed membership stops the project's events, a revoked
 * token ends the stream). Events are handled in order; a check that needs
 * the database holds the ones behind it.
 */
export function deliver<K extends keyof Topics, T>(
  ctx: Context,
  topic: K,
  /** The topic's keys to listen to (null: a topic without keys). */
  keys: readonly (string | null)[],
  delivery: Delivery<EventOf<K>, T>,
): AsyncIterable<T> {
  type E = EventOf<K>;
  const { services } = ctx;
  const authorization = ctx.authorization ?? null;
  const inbox: E[] = [];
  // Held until the first message is out.
  let busy = delivery.first !== undefined;
  const mailbox: Mailbox<T> = new Mailbox<T>(() => {
    for (const stop of stops) stop();
  });

  const handle = (event: E, principal: Principal | null): void | Promise<void> => {
    if (principal === null)
      return mailbox.fail(new OnairError(ErrorCode.UNAUTHENTICATED, 'the token no longer authenticates'));
    // Nested fields of the message resolve with the rights just checked.
    ctx.principal = principal;
    const values = delivery.accept(event, principal);
    if (!isPromise(values)) {
      for (const value of values) mailbox.put(value);
      return;
    }
    return values.then((list) => {
      for (const value of list) mailbox.put(value);
    });
  };

  const skip = (err: unknown) => {
    // Rights that cannot be checked now (database unreachable) deliver nothing.
    ctx.log.warn({ err: (err as Error).message }, 'subscription: an event was not delivered');
  };

  const drain = (): void => {
    busy = true;
    while (inbox.length && !mailbox.isClosed) {
      const event = inbox.shift() as E;
      const cached = authorization ? services.principals.get(authorization) : undefined;
      let outcome: void | Promise<void>;
      try {
        outcome = cached
          ? handle(event, cached)
          : currentPrincipal(services, authorization).then((p) => handle(event, p));
      } catch (err) {
        skip(err);
        continue;
      }
      if (isPromise(outcome)) {
        outcome.catch(skip).then(drain);
        return;
      }
    }
    busy = false;
  };

  const onEvent = (event: E) => {
    inbox.push(event);
    // Events wait here only while a check needs the database: one that cannot keep up is dropped.
    if (inbox.length > MAX_UNREAD)
      mailbox.fail(
        new OnairError(
          ErrorCode.INTERNAL_SERVER_ERROR,
          'events arrive faster than they can be checked: subscribe again',
        ),
      );
    else if (!busy) drain();
  };
  const stops = keys.map((key) => listen(services.pubsub, topic, key, onEvent));

  if (delivery.first) {
    delivery.first().then(
      (value) => {
        mailbox.put(value);
        drain();
      },
      (err: unknown) => mailbox.fail(err),
    );
  }
  return mailbox;
}

/** Work done once per event for all its subscribers (parsing, dates). */
export function perEvent<E extends object, V>(derive: (event: E) => V): (event: E) => V {
  const done = new WeakMap<E, V>();
  return (event) => {
    let value = done.get(event);
    if (value === undefined) done.set(event, (value = derive(event)));
    return value;
  };
}
