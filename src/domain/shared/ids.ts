import { badInput } from '../../errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** IDs are the rows' UUIDs; anything else is BAD_USER_INPUT naming the field. */
export function parseId(field: string, value: string): string {
  if (!UUID.test(value)) throw badInput(field, 'not a valid ID');
  return value.toLowerCase();
}

export function parseOptionalId(field: string, value: string | null | undefined): string | null | undefined {
  return value === null || value === undefined ? value : parseId(field, value);
}
