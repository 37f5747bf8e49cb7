import type { Principal } from '../auth/principal.ts';
import { ErrorCode, OnairError } from '../errors.ts';
import type { Context } from './context.ts';
import type { PubSub, Topics } from '../services/pubsub.ts';
import { Mailbox, MAX_UNREAD } from './subscription-mailbox.ts';
import { rightsKey } from './subscription-execution.ts';
import { subscriberPrincipals, type SubscriberPrincipals } from './subscription-principals.ts';

// How an event on the bus reaches each subscriber of this replica. An event is
// delivered to many subscribers at once (a thousand operators watching one
// channel), most of them with the same rights: subscribers of the same stream
// (topic, keys and arguments) and the same rights form a group, and an event
// is checked once per group (are the principals fresh, what may these rights
// see of it), then handed to each member. What stays per subscriber is the
// hand-over itself, and the few messages held until its first one is out.

/** An event, and its number: events are numbered in the order they reach this replica, whatever their topic. */
type Listener<E> = (event: E, seq: number) => void;
let lastSeq = 0;

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
      const seq = ++lastSeq;
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

export interface Delivery<E, T> {
  /**
   * What a subscriber with these rights receives of an event: nothing, one
   * message or several. It may depend on the event, the rights and what
   * `group` names, nothing else: it runs once for every subscriber of a group.
   */
  accept(event: E, principal: Principal): T[] | Promise<T[]>;
  /** What `accept` depends on besides the event and the rights (the stream's arguments). */
  group: string;
  /** The first message, before any event (engineStatus: the current state). */
  first?: () => Promise<T>;
  /** Per subscriber, after `accept`: false drops the message (engineStatus: one its first message showed). */
  keep?: (value: T) => boolean;
}

/** One subscriber of a group. */
interface Member<T> {
  readonly ctx: Context;
  readonly mailbox: Mailbox<T>;
  readonly keep: ((value: T) => boolean) | undefined;
  /** Messages that came while its first one was loading; null once that is out. */
  held: T[] | null;
  /** The number of the first event it gets: none from before it subscribed, none twice when it changes groups. */
  from: number;
}

const isPromise = <V>(value: V | Promise<V>): value is Promise<V> => typeof (value as Promise<V>)?.then === 'function';

function handTo<T>(member: Member<T>, value: T): void {
  if (member.held) {
    member.held.push(value);
    if (member.held.length > MAX_UNREAD)
      member.mailbox.fail(
        new OnairError(
          ErrorCode.INTERNAL_SERVER_ERROR,
          'events arrived faster than the first message: subscribe again',
        ),
      );
    return;
  }
  if (member.keep && !member.keep(value)) return;
  member.mailbox.put(value);
}

/**
 * The subscribers of one stream with the same rights. Events are handled in
 * order; a check that needs the database (principals to re-read, an `accept`
 * that reads) holds the ones behind it.
 */
class Group<E, T> {
  readonly members = new Set<Member<T>>();
  private readonly inbox: E[] = [];
  private readonly seqs: number[] = [];
  /** The number of the last event handled (delivered or dropped). */
  private handled = lastSeq;
  /** Events up to this number came before the group: it has them only from members' former groups. */
  private readonly createdAt = lastSeq;
  /** The number of the last event taken from a member's former group. */
  private adoptedTo = 0;
  private busy = false;
  private readonly stops: (() => void)[];

  constructor(
    /** A principal with the group's rights (any member's). */
    private readonly principal: Principal,
    private readonly delivery: Delivery<E, T>,
    private readonly registry: SubscriberPrincipals,
    private readonly ctx: Context,
    listenTo: (listener: (event: E, seq: number) => void) => (() => void)[],
    private readonly onEmpty: () => void,
  ) {
    this.stops = listenTo((event, seq) => this.onEvent(event, seq));
  }

  join(member: Member<T>): void {
    this.members.add(member);
  }

  /** The number of the next event its members have not had from it. */
  get next(): number {
    return this.handled + 1;
  }

  leave(member: Member<T>): void {
    if (!this.members.delete(member) || this.members.size > 0) return;
    for (const stop of this.stops) stop();
    this.inbox.length = 0;
    this.seqs.length = 0;
    this.onEmpty();
  }

  /**
   * A member comes from another group of the same stream (its rights changed):
   * the events that group received and has not handled yet, and this one never
   * received (it did not exist yet), are this group's to handle too.
   */
  adopt(from: Group<E, T>): void {
    // Once it has handled events of its own, older ones would come out of order.
    if (this.handled > this.createdAt) return;
    let at = 0;
    while (at < this.seqs.length && this.seqs[at] <= this.createdAt) at++;
    const events: E[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < from.seqs.length; i++) {
      const seq = from.seqs[i];
      if (seq <= this.adoptedTo || seq > this.createdAt) continue;
      events.push(from.inbox[i]);
      seqs.push(seq);
      this.adoptedTo = seq;
    }
    if (seqs.length === 0) return;
    this.inbox.splice(at, 0, ...events);
    this.seqs.splice(at, 0, ...seqs);
    if (!this.busy) this.drain();
  }

  private onEvent(event: E, seq: number): void {
    this.inbox.push(event);
    this.seqs.push(seq);
    // Events wait here only while a check needs the database: a group that cannot keep up is dropped.
    if (this.inbox.length > MAX_UNREAD) {
      const error = new OnairError(
        ErrorCode.INTERNAL_SERVER_ERROR,
        'events arrive faster than they can be checked: subscribe again',
      );
      for (const member of [...this.members]) member.mailbox.fail(error);
    } else if (!this.busy) this.drain();
  }

  private readonly drain = (): void => {
    this.busy = true;
    while (this.inbox.length && this.members.size) {
      if (!this.registry.fresh()) {
        // The members' principals are re-read before this event is checked (a revoked token gets nothing more).
        this.registry.refresh().then(this.drain, (err: unknown) => {
          this.handled = this.seqs.shift() ?? this.handled;
          this.inbox.shift();
          this.skip(err);
          this.drain();
        });
        return;
      }
      const event = this.inbox.shift() as E;
      const seq = this.seqs.shift() as number;
      let values: T[] | Promise<T[]>;
      try {
        values = this.delivery.accept(event, this.principal);
      } catch (err) {
        this.handled = seq;
        this.skip(err);
        continue;
      }
      if (isPromise(values)) {
        values
          .then(
            (list) => this.dispatch(list, seq),
            (err: unknown) => {
              this.handled = seq;
              this.skip(err);
            },
          )
          .then(this.drain);
        return;
      }
      this.dispatch(values, seq);
    }
    this.busy = false;
  };

  private dispatch(values: T[], seq: number): void {
    this.handled = seq;
    for (const value of values)
      for (const member of this.members) {
        if (member.from > seq) continue;
        try {
          handTo(member, value);
        } catch {
          // One subscriber's failure is its own; the others still get the event.
        }
      }
  }

  private skip(err: unknown): void {
    // Rights that cannot be checked now (database unreachable) deliver nothing.
    this.ctx.log.warn({ err: (err as Error).message }, 'subscription: an event was not delivered');
  }
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
    from: lastSeq + 1,
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
