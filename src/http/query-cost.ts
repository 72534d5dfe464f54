// The query cost limit (MAX_QUERY_COST), checked when an operation runs, with its variables:
// `first: 500` costs the same written as a literal or passed as `$first`. graphql-armor's cost
// rule runs at validation, where variables are unknown, so it costed literals only (and called a
// refusal a "Syntax Error").
//
// The cost estimates how many values the operation resolves: each field costs 1 for every time
// it resolves. A list field's page size (`first`, `last` or `limit`: from a literal, a variable,
// or the largest page when left out or larger) multiplies what is under it; on a connection (an object
// with a page size), it multiplies the lists inside it (`edges`, `nodes`), not `pageInfo`.
// Lists without a page size argument count as one element. Introspection fields are free.
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  getArgumentValues,
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  isCompositeType,
  isInterfaceType,
  isLeafType,
  isListType,
  isObjectType,
  Kind,
  type SelectionSetNode,
  typeFromAST,
} from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { MAX_PAGE_SIZE } from '../core/paging.js';

const PAGE_SIZE_ARGUMENTS = ['first', 'last', 'limit'];

export type CostInput = {
  schema: GraphQLSchema;
  document: DocumentNode;
  operationName?: string | null;
  variableValues?: Record<string, unknown> | null;
};

/** The operation's cost, or null when its variables are invalid (execution reports those). */
export function operationCost({ schema, document, operationName, variableValues }: CostInput): number | null {
  const operation = getOperationAST(document, operationName);
  const root = operation && schema.getRootType(operation.operation);
  if (!operation || !root) return 0;
  // Only the variables a page size can come from: coercing an ingest batch's 500 input objects
  // here too would double the cost of the coercion that execution does anyway.
  const scalars = (operation.variableDefinitions ?? []).filter((definition) => {
    const type = typeFromAST(schema, definition.type);
    return type !== undefined && isLeafType(getNullableType(type));
  });
  const coerced = getVariableValues(schema, scalars, variableValues ?? {});
  if (coerced.errors) return null;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const variables = coerced.coerced;

  const selectionsCost = (
    set: SelectionSetNode,
    parent: GraphQLNamedType,
    times: number,
    listSize: number | undefined,
  ): number => {
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        cost += fieldCost(selection, parent, times, listSize);
      } else {
        const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments.get(selection.name.value);
        if (!fragment) continue;
        const condition = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : parent;
        cost += selectionsCost(fragment.selectionSet, condition ?? parent, times, listSize);
      }
    }
    return cost;
  };

  const fieldCost = (node: FieldNode, parent: GraphQLNamedType, times: number, listSize: number | undefined) => {
    if (node.name.value.startsWith('__')) return 0;
    const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[node.name.value] : undefined;
    if (!field) return 0;
    const type = getNamedType(field.type);
    if (!node.selectionSet || !isCompositeType(type)) return times;
    const size = pageSize(field, node, variables);
    if (isListType(getNullableType(field.type))) {
      return times + selectionsCost(node.selectionSet, type, times * (size ?? listSize ?? 1), undefined);
    }
    return times + selectionsCost(node.selectionSet, type, times, size);
  };

  return selectionsCost(operation.selectionSet, root, 1, undefined);
}

/**
 * The field's page size, if it takes one: the argument's value, else the largest page. A value
 * over the largest page counts as the largest: the resolver refuses it with a clearer message
 * ("first must be a whole number from 1 to 500") than a cost would be.
 */
function pageSize(
  field: GraphQLField<unknown, unknown>,
  node: FieldNode,
  variables: Record<string, unknown>,
): number | undefined {
  const name = PAGE_SIZE_ARGUMENTS.find((arg) => field.args.some((a) => a.name === arg));
  if (!name) return undefined;
  let value: unknown;
  try {
    value = getArgumentValues(field, node, variables)[name];
  } catch {
    value = undefined; // a wrong argument is execution's to report
  }
  return typeof value === 'number' && Number.isFinite(value)
    ? Math.min(Math.max(1, value), MAX_PAGE_SIZE)
    : MAX_PAGE_SIZE;
}

/** Refuses an operation over `maxCost` with QUERY_TOO_COSTLY, before it runs (HTTP and WebSocket). */
export function useQueryCostLimit(maxCost: number, onRefused: () => void): Plugin {
  const check = (args: CostInput) => {
    const cost = operationCost(args);
    if (cost === null || cost <= maxCost) return null;
    onRefused();
    return {
      errors: [
        createGraphQLError(
          `this operation costs ${cost}; the limit is ${maxCost} (MAX_QUERY_COST). Ask for smaller pages (first, limit) or fewer fields, or split it`,
          { extensions: { code: 'QUERY_TOO_COSTLY', cost, maxCost } },
        ),
      ],
    };
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refusal = check(args);
      if (refusal) setResultAndStopExecution(refusal);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refusal = check(args);
      if (refusal) setResultAndStopExecution(refusal);
    },
  };
}
