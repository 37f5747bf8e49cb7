import { GraphQLError } from 'graphql';

/** The contract's error codes (extensions.code). */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  CONFLICT: 'CONFLICT',
  SIDECAR_UNAVAILABLE: 'SIDECAR_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The one error class resolvers throw; yoga passes it through unmasked. */
export class OnairError extends GraphQLError {
  constructor(code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extra } });
    this.name = 'OnairError';
  }
}

export const notFound = (what: string) => new OnairError(ErrorCode.NOT_FOUND, `${what} not found`);
export const forbidden = (why: string) => new OnairError(ErrorCode.FORBIDDEN, why);
export const conflict = (why: string, extra: Record<string, unknown> = {}) =>
  new OnairError(ErrorCode.CONFLICT, why, extra);
/** `field` is the input path, e.g. `input.output.srt.url`. */
export const badInput = (field: string, why: string) =>
  new OnairError(ErrorCode.BAD_USER_INPUT, `${field}: ${why}`, { field });

/**
 * The failures of an outside service (media store, copy, orchestrator): a kind
 * from the service's own closed table, for code to act on, and a message
 * written for operators. Never a GraphQL error by itself: the domain decides
 * what the caller sees.
 */
export class KindedError<K extends string> extends Error {
  constructor(
    readonly kind: K,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
