import { z } from 'zod';

/** Shared input rules; messages complete "<field>: ..." (see builder's validationError). */
export const nameSchema = (max = 120) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

export const nonNegativeMs = z
  .number()
  .int()
  .min(0, 'must be 0 or more')
  .max(24 * 3600 * 1000 * 7, 'is too large');

/** True when a Prisma error is a unique violation (P2002), optionally on a column. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === 'P2002';
}

/** True when a Prisma error is a foreign key violation (P2003). */
export function isForeignKeyViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === 'P2003';
}

/**
 * For update inputs: these fields may be left out but not given as null (the
 * validation plugin skips field validators for null, so the input type checks it).
 */
export const rejectNull = (...fields: string[]) =>
  z.looseObject(
    Object.fromEntries(
      fields.map((f) => [
        f,
        z
          .unknown()
          .refine((v) => v !== null, 'may be omitted but not null')
          .optional(),
      ]),
    ),
  );
