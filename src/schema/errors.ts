// The one mapping from errors to what clients see. The core's expected errors keep their
// message and code (extensions.code); anything unexpected is masked, so no stack trace or SQL
// leaves the server, and is logged by Yoga.
import { GraphQLError } from 'graphql';
import { CoreError, databaseUnavailable, unstorableText } from '../core/errors.js';

export function maskError(error: unknown, message: string, isDev = false): Error {
  const original = error instanceof GraphQLError ? (error.originalError ?? null) : error;
  // A lost database connection is not a bug: the client is told to retry (UNAVAILABLE). A NUL in
  // a query's argument is refused by PostgreSQL: the client's to fix (BAD_USER_INPUT).
  const fromDatabase =
    original instanceof CoreError ? null : (databaseUnavailable(original) ?? unstorableText(original));
  if (fromDatabase) {
    return new GraphQLError(fromDatabase.message, {
      nodes: error instanceof GraphQLError ? error.nodes : undefined,
      path: error instanceof GraphQLError ? error.path : undefined,
      extensions: fromDatabase.extensions,
    });
  }
  const core = original instanceof CoreError ? original : null;
  if (core) {
    // graphql-js copied the core error's message and extensions (code) when it wrapped it;
    // returning the same object also tells Yoga that this error is expected (not logged).
    return error instanceof GraphQLError ? error : new GraphQLError(core.message, { extensions: core.extensions });
  }
  // Parse/validation errors and errors raised on purpose as GraphQLErrors are the client's to see.
  if (error instanceof GraphQLError && (original === null || original instanceof GraphQLError)) return error;
  return new GraphQLError(message, {
    nodes: error instanceof GraphQLError ? error.nodes : undefined,
    path: error instanceof GraphQLError ? error.path : undefined,
    extensions: {
      code: 'INTERNAL_SERVER_ERROR',
      ...(isDev && original instanceof Error ? { originalError: { message: original.message } } : {}),
    },
  });
}
