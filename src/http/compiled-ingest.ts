// The ingest mutations (record*) run as functions compiled once per document by graphql-jit,
// instead of through graphql-js's interpreter. Their variables are the batch itself, up to
// thousands of input objects, and coercing them was the largest cost of an ingest request in the
// server (profile of 500-event batches: graphql-js's coerceInputValue and the executor's
// snapshot of the coerced values took a third of the server's CPU, the validation and the log
// INSERT less than a tenth); graphql-jit compiles the coercion for these input types.
//
// A batch whose variables do not coerce is run again by the usual executor, which runs no
// resolver either and answers with graphql-js's messages, which name the variable and the path
// (`… at "events[0].quantity"`). Other operations are not touched.
import type { DocumentNode, ExecutionArgs, ExecutionResult, OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { INGEST_MUTATIONS } from '../schema/ingest.js';
import { compiledFor, perOperation } from './shared-execution.js';

export function useCompiledIngest(): Plugin {
  /** Whether the operation is only ingest mutations. */
  const isIngest = perOperation((args) => onlyIngestMutations(args.document, args.operationName ?? null));

  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (!isIngest(args)) return;
      const compiled = compiledFor(args);
      if (!compiled) return;
      setExecuteFn(async (executionArgs: ExecutionArgs) => {
        const result = (await compiled.query(
          executionArgs.rootValue,
          executionArgs.contextValue,
          executionArgs.variableValues ?? {},
        )) as ExecutionResult;
        // No data at all: the variables did not coerce, and no resolver ran.
        if (!('data' in result)) return executeFn(executionArgs);
        return result;
      });
    },
  };
}

/** The operation is a mutation whose every root field is an ingest mutation (no fragments, no directives). */
function onlyIngestMutations(document: DocumentNode, operationName: string | null): boolean {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
  const operation =
    operationName === null
      ? operations.length === 1
        ? operations[0]
        : undefined
      : operations.find((o) => o.name?.value === operationName);
  if (operation?.operation !== 'mutation') return false;
  return operation.selectionSet.selections.every(
    (s) => s.kind === 'Field' && INGEST_MUTATIONS.has(s.name.value) && (s.directives?.length ?? 0) === 0,
  );
}
