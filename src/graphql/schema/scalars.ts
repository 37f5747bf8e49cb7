import { GraphQLError, Kind } from 'graphql';
import { builder } from '../builder.ts';
import { isoTime } from '../../domain/iso-time.ts';

function parseDate(value: unknown): Date {
  if (typeof value === 'string') {
    // RFC 3339 with an explicit offset: a local time without zone is ambiguous on air.
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) {
      const date = new Date(value);
      if (!Number.isNaN(date.getTime())) return date;
    }
  }
  throw new GraphQLError('DateTime must be an RFC 3339 date-time with a time zone, e.g. 2026-01-31T18:00:00Z', {
    extensions: { code: 'BAD_USER_INPUT' },
  });
}

builder.scalarType('DateTime', {
  serialize: (value) => isoTime(value instanceof Date || typeof value === 'number' ? value : new Date(value as string)),
  parseValue: parseDate,
  parseLiteral: (ast) => parseDate(ast.kind === Kind.STRING ? ast.value : undefined),
});
