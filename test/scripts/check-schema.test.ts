import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { compareWithContract, staleEntries } from '../../scripts/check-schema.ts';

const contract = parse(`
  enum Color { RED GREEN }
  type Thing { id: ID! name: String list(first: Int = 10, after: String): [Thing!]! }
  input NewThing @oneOf { a: String b: Int }
  union Any = Thing
  type Query { thing(id: ID!): Thing later: Thing }
`);

const check = (sdl: string, pending: string[] = []) => compareWithContract(contract, parse(sdl), new Set(pending));

describe('contract check', () => {
  const good = `
    enum Color { RED GREEN BLUE }
    type Thing { id: ID! name: String extra: Int list(first: Int = 10, after: String, last: Int): [Thing!]! }
    input NewThing @oneOf { a: String b: Int c: Boolean }
    union Any = Thing
    type Query { thing(id: ID!): Thing later: Thing }
  `;

  it('accepts a schema that adds optional things', () => {
    expect(check(good)).toEqual([]);
  });

  it('names every breaking difference', () => {
    const bad = `
      enum Color { RED }
      type Thing { id: ID name: String list(first: Int = 20, mode: Int!): [Thing!]! }
      input NewThing { a: String b: Int c: Boolean! }
      union Any = Query
      type Query { thing(id: ID!): Thing }
    `;
    expect(check(bad)).toEqual([
      'Color.GREEN: enum value missing',
      'Thing.id: type ID, the contract says ID!',
      'Thing.list(first): default 20, the contract says 10',
      'Thing.list(after): missing',
      'Thing.list(mode): added as required',
      'NewThing.c: added as required',
      'NewThing: directive @oneOf missing',
      'Any: union member Thing missing',
      'Query.later: missing',
    ]);
  });

  it('skips pending entries and reports those already served', () => {
    const withoutLater = good.replace('later: Thing', '');
    expect(check(withoutLater, ['Query.later'])).toEqual([]);
    expect(staleEntries(contract, parse(good), new Set(['Query.later']))).toEqual(['Query.later']);
    expect(staleEntries(contract, parse(withoutLater), new Set(['Query.later']))).toEqual([]);
  });
});
