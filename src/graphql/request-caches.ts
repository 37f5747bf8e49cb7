import { RequestCache } from '@pothos/plugin-scope-auth';
import type { Plugin } from 'graphql-yoga';

/**
 * Drops the scope-auth plugin's per-request cache as soon as an operation's
 * result is in.
 *
 * The cache lives in a WeakMap keyed by the request's context, and its value
 * holds that context: yoga's request and response objects and everything the
 * operation touched. V8's young-generation collector keeps a WeakMap value
 * alive for as long as its entry exists, dead key or not, and only a full
 * collection clears the entry. So every operation's graph outlived it, was
 * copied by the next scavenge, promoted by the one after, and each scavenge
 * on onair's thread copied about a megabyte: 2.5–3 ms at 250 operator actions
 * a second, a pause every request in flight waited through. Deleting the
 * entry lets the operation's objects die young (scavenges back to about
 * 1 ms; `npm run bench -- transport` prints them).
 */
export function useReleaseRequestCaches(): Plugin {
  return {
    onExecute: ({ args }) => ({
      onExecuteDone: ({ result }) => {
        // A streamed result (@defer, @stream) is still running: its cache stays until the full collection.
        if (!(Symbol.asyncIterator in Object(result))) RequestCache.clearForContext(args.contextValue as object);
      },
    }),
  };
}
