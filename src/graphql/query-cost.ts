import {
  GraphQLError,
  Kind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  isObjectType,
  isInterfaceType,
  type FieldNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from 'graphql';
import { AS_RUN_MAX_PAGE } from '../domain/as-run/as-run.ts';
import { MAX_ASSETS_PAGE } from '../domain/media/assets.ts';

/**
 * The cost of a document, computed before it runs: how many objects it can
 * make the server load. Every object counts 1 (scalars count nothing: their
 * number is bounded by the document's own size, MAX tokens), and everything
 * under a list counts once per element the list may hold:
 * - a connection (a field with `first`) holds `first` elements; a `first`
 *   given by a variable counts as its maximum, so the check needs no variables;
 * - a plain list holds its estimate below, or DEFAULT_LIST_ESTIMATE.
 * Relation cycles (`playlist { items { playlist { items … } } }`) multiply at
 * every level, so they are refused after a level or two however small the
 * data; and the same list field may appear at most MAX_LIST_REPEAT times on one
 * path, whatever the estimates say (back-references are bounded on their own).
 */

/** A plain list's estimated size, by `Type.field`: what a busy installation holds, not a maximum. */
export const LIST_ESTIMATES: Readonly<Record<string, number>> = {
  'Query.channels': 20,
  'Query.projects': 10,
  'Query.nodes': 10,
  'Project.channels': 20,
  'Channel.playlists': 10,
  'Playlist.items': 50,
  'Mutation.reorderItems': 1,
  'User.memberships': 10,
  'User.apiTokens': 10,
  // A day of a busy channel: programmes and breaks, and the filler between them.
  'Schedule.events': 200,
  'Schedule.filler': 20,
  'ScheduleDay.events': 200,
  'ScheduleDay.segments': 500,
  'ScheduleDay.unplayable': 10,
};

/**
 * Fields that plan a schedule count this many objects on top of what they
 * return: planning a day walks the schedule from its first event, so a
 * document cannot ask for hundreds of days (aliases) at once. A console's
 * read of every channel's day and now/next stays well under the limit.
 */
export const FIELD_COSTS: Readonly<Record<string, number>> = {
  'Schedule.day': 800,
  'Schedule.nowAndNext': 200,
};

/** Any other list (one added later and not estimated above). @defaultValue 100 */
export const DEFAULT_LIST_ESTIMATE = 100;

/** The largest `first` of each paged field, counted when `first` is a variable. */
const MAX_FIRST: Readonly<Record<string, number>> = {
  'Query.asRun': AS_RUN_MAX_PAGE,
  'Channel.asRun': AS_RUN_MAX_PAGE,
  'Query.assets': MAX_ASSETS_PAGE,
};
const DEFAULT_MAX_FIRST = 1000;

/** How often one list field may nest inside itself on one path (Playlist.items … Playlist.items). */
export const MAX_LIST_REPEAT = 2;

export interface QueryCostOptions {
  /** Documents above this cost are refused before they run. @defaultValue 50000 */
  maxCost: number;
}

class Refused extends Error {
  constructor(readonly error: GraphQLError) {
    super(error.message);
  }
}

function validationError(message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', ...extensions } });
}

function intValue(node: ValueNode | undefined | null): number | null {
  if (!node) return null;
  if (node.kind === Kind.INT) return Number(node.value);
  return null;
}

/** How many elements `field` (of `parent`) may return per parent, and whether that count is a page. */
function elements(coordinate: string, def: GraphQLField<unknown, unknown>, node: FieldNode): number {
  const firstArg = def.args.find((a) => a.name === 'first');
  if (firstArg) {
    const given = node.arguments?.find((a) => a.name.value === 'first');
    if (!given)
      return typeof firstArg.defaultValue === 'number'
        ? firstArg.defaultValue
        : (MAX_FIRST[coordinate] ?? DEFAULT_MAX_FIRST);
    // A literal above the maximum is refused by the field's own validation; count it as given.
    return Math.max(1, intValue(given.value) ?? MAX_FIRST[coordinate] ?? DEFAULT_MAX_FIRST);
  }
  if (isListType(getNullableType(def.type))) return LIST_ESTIMATES[coordinate] ?? DEFAULT_LIST_ESTIMATE;
  return 1;
}

class CostWalker {
  /** Fragments being walked now (a cycle is reported by graphql-js's own NoFragmentCyclesRule). */
  private readonly walking = new Set<string>();

  constructor(private readonly context: ValidationContext) {}

  /**
   * The cost of a selection set on `type`. `page` is the enclosing connection's
   * page size, which its `edges` list holds; `path` counts the list fields above.
   */
  selectionSet(set: SelectionSetNode, type: GraphQLCompositeType, page: number, path: Map<string, number>): number {
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        cost += this.field(selection, type, page, path);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition
          ? this.context.getSchema().getType(selection.typeCondition.name.value)
          : type;
        if (on && isCompositeType(on)) cost += this.selectionSet(selection.selectionSet, on, page, path);
      } else {
        const name = selection.name.value;
        const fragment = this.context.getFragment(name);
        if (!fragment || this.walking.has(name)) continue;
        const on = this.context.getSchema().getType(fragment.typeCondition.name.value);
        if (!on || !isCompositeType(on)) continue;
        this.walking.add(name);
        try {
          cost += this.selectionSet(fragment.selectionSet, on, page, path);
        } finally {
          this.walking.delete(name);
        }
      }
    }
    return cost;
  }

  private field(node: FieldNode, parent: GraphQLCompositeType, page: number, path: Map<string, number>): number {
    // Introspection (__schema, __type) is bounded by the schema's own size.
    if (!node.selectionSet || node.name.value.startsWith('__') || !(isObjectType(parent) || isInterfaceType(parent)))
      return 0;
    const def = parent.getFields()[node.name.value];
    if (!def) return 0; // Unknown fields are reported by graphql-js's own rules.
    const coordinate = `${parent.name}.${def.name}`;
    const target = getNamedType(def.type);
    if (!isCompositeType(target)) return 0;
    const list = isListType(getNullableType(def.type));
    const paged = def.args.some((a) => a.name === 'first');
    let count = elements(coordinate, def, node);
    // The edges of a connection hold its page; the connection itself is one object.
    if (list && def.name === 'edges' && parent.name.endsWith('Connection')) count = page;
    const childPage = paged ? count : page;
    if (paged) count = 1;

    let childPath = path;
    if (list) {
      const seen = (path.get(coordinate) ?? 0) + 1;
      if (seen > MAX_LIST_REPEAT) {
        throw new Refused(
          validationError(
            `${coordinate} is nested inside itself ${seen} times; at most ${MAX_LIST_REPEAT} are allowed`,
            {
              field: coordinate,
            },
          ),
        );
      }
      childPath = new Map(path).set(coordinate, seen);
    }
    const own = 1 + (FIELD_COSTS[coordinate] ?? 0);
    return count * (own + this.selectionSet(node.selectionSet, target, childPage, childPath));
  }
}

/** The cost of each operation of the document (see the file's comment). */
export function operationCosts(context: ValidationContext): { name: string | null; cost: number }[] | GraphQLError {
  const walker = new CostWalker(context);
  const schema = context.getSchema();
  const out: { name: string | null; cost: number }[] = [];
  try {
    for (const def of context.getDocument().definitions) {
      if (def.kind !== Kind.OPERATION_DEFINITION) continue;
      const root = schema.getRootType(def.operation);
      if (!root) continue;
      out.push({ name: def.name?.value ?? null, cost: walker.selectionSet(def.selectionSet, root, 1, new Map()) });
    }
  } catch (err) {
    if (err instanceof Refused) return err.error;
    throw err;
  }
  return out;
}

/**
 * A validation rule: an operation whose cost is above `maxCost`, or that nests
 * a list field in itself too often, is refused before it runs, with
 * GRAPHQL_VALIDATION_FAILED and its cost in `extensions`.
 */
export function queryCostRule(options: QueryCostOptions): ValidationRule {
  return (context) => ({
    Document: {
      leave() {
        const costs = operationCosts(context);
        if (costs instanceof GraphQLError) {
          context.reportError(costs);
          return;
        }
        for (const { name, cost } of costs) {
          if (cost > options.maxCost) {
            context.reportError(
              validationError(
                `${name ? `operation ${name}` : 'the operation'} costs ${cost}, above the limit of ${options.maxCost}: every object counts once per element of the lists above it; ask for fewer levels or a smaller first`,
                { cost, maxCost: options.maxCost },
              ),
            );
          }
        }
      },
    },
  });
}
