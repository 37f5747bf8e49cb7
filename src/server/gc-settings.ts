import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for the API process, applied once at start-up, before it serves.
 *
 * No allocation-site pretenuring: under a burst (operators acting all at once,
 * a client paging back to back), most of a request's objects are still in
 * flight at each young-generation collection, so V8 decides that the places
 * allocating them make long-lived objects and from then on allocates them in
 * the old generation. They are not: each dies with its request, but from the
 * old generation it keeps whatever young objects it points at alive through
 * every scavenge until the next full collection. In half the runs of
 * `npm run bench -- transport`, after such a burst, every scavenge at 250
 * actions/s copied and promoted about a megabyte (2.9–3.2 ms pauses, against
 * 1.0–1.2 ms without pretenuring). The long-lived objects of this process are
 * made at start-up, where pretenuring gains nothing either.
 */
export function applyGcSettings(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
