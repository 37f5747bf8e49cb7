import type { Principal } from '../auth/principal.ts';
import { ErrorCode, OnairError } from '../errors.ts';
import type { Context } from './context.ts';
import { MAX_UNREAD, type Mailbox } from './subscription-mailbox.ts';
import type { SubscriberPrincipals } from './subscription-principals.ts';

// An event is delivered to many subscribers at once (a thousand operators
// watching one channel), most of them with the same rights: the subscribers
// of the same stream (topic, keys and arguments) and the same rights form a
// group, and an event is checked once per group (are the principals fresh,
// what may these rights see of it), then handed to each member. What stays
// per subscriber is the hand-over itself, and the few messages held until its
// first one is out.

/** Events are numbered in the order they reach this replica, whatever their topic. */
let lastSeq = 0;

/** Numbers an event that just reached this replica. */
export const nextSeq = (): number => ++lastSeq;
/** The number of the last event that reached this replica. */
export const currentSeq = (): number => lastSeq;

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
export interface Member<T> {
  readonly ctx: Context;
  readonly mailbox: Mailbox<T>;
  readonly keep: ((value: T) => boolean) | undefined;
  /** Messages that came while its first one was loading; null once that is out. */
  held: T[] | null;
  /** The number of the first event it gets: none from before it subscribed, none twice when it changes groups. */
  from: number;
}

const isPromise = <V>(value: V | Promise<V>): value is Promise<V> => typeof (value as Promise<V>)?.then === 'function';

export function handTo<T>(member: Member<T>, value: T): void {
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
export class Group<E, T> {
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
    for (const value of values) {
      // The members of one operation get one execution of the value (see Lane).
      let key: string | null = null;
      let result: unknown;
      for (const member of this.members) {
        if (member.from > seq) continue;
        try {
          const mailbox = member.mailbox;
          const lane = mailbox.lane;
          if (member.held || !lane || mailbox.isClosed) {
            handTo(member, value);
            continue;
          }
          if (member.keep && !member.keep(value)) continue;
          if (lane.key !== key) {
            key = null;
            result = lane.execute(value);
            key = lane.key;
          }
          lane.deliver(result);
        } catch {
          // One subscriber's failure is its own; the others still get the event.
        }
      }
    }
  }

  private skip(err: unknown): void {
    // Rights that cannot be checked now (database unreachable) deliver nothing.
    this.ctx.log.warn({ err: (err as Error).message }, 'subscription: an event was not delivered');
  }
}
