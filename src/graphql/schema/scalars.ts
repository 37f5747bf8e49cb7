import { GraphQLError, Kind } from 'graphql';
import { builder } from '../builder.ts';
import { isoTime, parseRfc3339 } from '../../domain/shared/iso-time.ts';

function parseDate(value: unknown): Date {
  const date = typeof value === 'string' ? parseRfc3339(value) : null;
  if (date) return date;
  throw new GraphQLError('DateTime must be an RFC 3339 date-time with a time zone, e.g. 2026-01-31T18:00:00Z', {
    extensions: { code: 'BAD_USER_INPUT' },
  });
}

builder.scalarType('DateTime', {
  serialize: (value) => isoTime(value instanceof Date || typeof value === 'number' ? value : new Date(value as string)),
  parseValue: parseDate,
  parseLiteral: (ast) => parseDate(ast.kind === Kind.STRING ? ast.value : undefined),
});
