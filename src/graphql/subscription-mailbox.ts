import { ErrorCode, OnairError } from '../errors.ts';

// One subscriber's messages between the event bus and its transport. Over
// WebSocket the transport takes them as they come (PUSH); over server-sent
// events it pulls them one at a time, and a subscriber that stops pulling is
// ended once MAX_UNREAD wait for it.

/**
 * Messages a subscriber may leave unread before its subscription ends: a
 * stalled client must not hold events for ever, nor slow the others.
 */
export const MAX_UNREAD = 256;

/**
 * A stream that can hand its values over as they come, synchronously, instead
 * of one pull (and its promises) at a time: what a transport that writes each
 * message at once uses (graphql/subscription-execution.ts). Once taken, the
 * stream's iterator only tells its end: done, or the error it failed with.
 */
export const PUSH = Symbol('onair.push');

export interface Pushable<T> extends AsyncIterableIterator<T> {
  [PUSH](consumer: (value: T) => void, lane?: Lane<T>): void;
}

/**
 * What `consumer` does, in two steps, for a transport that executes each value
 * and writes the result: whoever delivers a value to many subscribers with the
 * same rights (graphql/subscription-groups.ts) executes it once for all those
 * with the same `key` and hands each the result.
 */
export interface Lane<T> {
  /** Subscribers with the same rights and key get the same result of a value. */
  readonly key: string;
  execute(value: T): unknown;
  /** Takes the result of `execute` (this subscriber's or another's with the same key). */
  deliver(result: unknown): void;
}

export const isPushable = <T>(stream: AsyncIterable<T>): stream is Pushable<T> =>
  typeof (stream as Partial<Pushable<T>>)[PUSH] === 'function';

/** A subscription's messages not yet taken by the transport; an async iterator of them. */
export class Mailbox<T> implements Pushable<T> {
  private readonly queue: T[] = [];
  private waiting: { resolve(r: IteratorResult<T>): void; reject(err: unknown): void } | null = null;
  private closed = false;
  private failure: unknown = null;
  private consumer: ((value: T) => void) | null = null;
  /** Set with the consumer, when the transport gave one. */
  lane: Lane<T> | null = null;

  constructor(private readonly onClose: () => void) {}

  [PUSH](consumer: (value: T) => void, lane?: Lane<T>): void {
    this.consumer = consumer;
    this.lane = lane ?? null;
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
