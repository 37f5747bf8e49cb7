import type { Principal } from '../auth/principal.ts';
import { ErrorCode, OnairError } from '../errors.ts';
import type { Context } from './context.ts';
import type { PubSub, Topics } from '../services/pubsub.ts';
import { Mailbox } from './subscription-mailbox.ts';
import { currentSeq, Group, handTo, nextSeq, type Delivery, type Member } from './subscription-groups.ts';
import { rightsKey } from './subscription-execution.ts';
import { subscriberPrincipals } from './subscription-principals.ts';

// How an event on the bus reaches each subscriber of this replica: one
// subscription on the bus per topic and key (listen), and the subscribers of
// the same stream and rights served as a group (graphql/subscription-groups.ts).

/** An event, and its number (nextSeq). */
type Listener<E> = (event: E, seq: number) => void;

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
      const seq = nextSeq();
      for (const l of listeners) {
        try {
          (l as Listener<unknown>)(result.value, seq);
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

const groups = new WeakMap<PubSub, Map<string, Group<unknown, unknown>>>();

/**
 * One subscriber's stream of a bus topic. Every event is checked against the
 * subscriber's rights as they are when it is delivered (its principal re-read
 * at most AUTH_CACHE_MS before: a removed membership stops the project's
 * events, a revoked token ends the stream), once for all the subscribers of
 * the same stream and rights.
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
  const registry = subscriberPrincipals(services);
  let byName = groups.get(services.pubsub);
  if (!byName) groups.set(services.pubsub, (byName = new Map()));
  const named = byName;
  const stream = `${topic}\u0000${keys.join('\u0001')}\u0000${delivery.group}`;

  let group: Group<E, T> | null = null;
  let unwatch = () => {};
  const member: Member<T> = {
    ctx,
    keep: delivery.keep,
    held: delivery.first ? [] : null,
    from: currentSeq() + 1,
    mailbox: new Mailbox<T>(() => {
      group?.leave(member);
      group = null;
      unwatch();
    }),
  };
  const unauthenticated = () =>
    member.mailbox.fail(new OnairError(ErrorCode.UNAUTHENTICATED, 'the token no longer authenticates'));

  /** Into the group of these rights (made on first use). */
  const enter = (principal: Principal) => {
    // Nested fields of the messages resolve with these rights.
    ctx.principal = principal;
    const name = `${stream}\u0000${rightsKey(principal)}`;
    let found = named.get(name) as Group<E, T> | undefined;
    if (!found) {
      const made: Group<E, T> = new Group<E, T>(
        principal,
        delivery,
        registry,
        ctx,
        (listener) => keys.map((key) => listen(services.pubsub, topic, key, listener)),
        () => {
          if (named.get(name) === (made as unknown)) named.delete(name);
        },
      );
      named.set(name, made as unknown as Group<unknown, unknown>);
      found = made;
    }
    if (found === group) return;
    const before = group;
    group = found;
    if (before) member.from = before.next;
    found.join(member);
    if (before) {
      found.adopt(before);
      before.leave(member);
    }
  };

  const authorization = ctx.authorization ?? null;
  if (!authorization || !ctx.principal) {
    unauthenticated();
    return member.mailbox;
  }
  const [principal, stop] = registry.watch(authorization, ctx.principal, (now) => {
    if (now === null) unauthenticated();
    else if (!member.mailbox.isClosed) enter(now);
  });
  unwatch = stop;
  if (principal === null) unauthenticated();
  else enter(principal);

  if (delivery.first) {
    delivery.first().then(
      (value) => {
        const held = member.held ?? [];
        member.held = null;
        member.mailbox.put(value);
        for (const later of held) handTo(member, later);
      },
      (err: unknown) => member.mailbox.fail(err),
    );
  }
  return member.mailbox;
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
