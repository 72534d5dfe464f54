// Persisted operations (PERSISTED_OPERATIONS_FILE, off by default): a production front end sends
// the SHA-256 of a document the operators approved instead of the document, so nobody else can
// run queries the shop's pages never send (issue 18). Over HTTP and SSE, Yoga's plugin does it;
// graphql-ws does not go through Yoga's onParams, so ws.ts asks resolvePersistedOperation() the
// same question. Admins are excepted: they may do everything anyway, and GraphiQL and operators'
// scripts send documents.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { type GraphQLError, type GraphQLSchema, parse, validate } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';

/** sha256 (hex) → document. */
export type PersistedOperations = ReadonlyMap<string, string>;

export const PERSISTED_QUERY_REQUIRED = 'PERSISTED_QUERY_REQUIRED';
export const PERSISTED_QUERY_NOT_FOUND = 'PERSISTED_QUERY_NOT_FOUND';

/** The key of a document in the allowlist: the SHA-256 (hex) of its exact text. */
export function hashDocument(document: string): string {
  return createHash('sha256').update(document, 'utf8').digest('hex');
}

/**
 * Reads and checks the allowlist: a JSON object { "<sha256 of the document>": "<document>" }
 * whose every document is valid against `schema`. Throws naming the file and the entry at fault,
 * so a stale list stops start-up instead of failing the front end's requests one by one.
 */
export async function loadPersistedOperations(file: string, schema: GraphQLSchema): Promise<PersistedOperations> {
  const problem = (what: string) =>
    new Error(
      `PERSISTED_OPERATIONS_FILE (${file}): ${what}. Build it with: npm run operations:persist -- <folder of .graphql files> --out ${file}`,
    );
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw problem(`cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (error) {
    throw problem(`is not JSON (${(error as Error).message})`);
  }
  if (list === null || typeof list !== 'object' || Array.isArray(list)) {
    throw problem('must be a JSON object of { "<sha256>": "<document>" }');
  }
  const operations = new Map<string, string>();
  for (const [hash, document] of Object.entries(list)) {
    if (typeof document !== 'string') throw problem(`the value of "${hash}" is not a string (a GraphQL document)`);
    if (hash !== hashDocument(document)) {
      throw problem(`"${hash}" is not the SHA-256 of its document (that is ${hashDocument(document)})`);
    }
    const errors = checkDocument(document, schema);
    if (errors) throw problem(`the document of "${hash}" does not run on this schema: ${errors}`);
    operations.set(hash, document);
  }
  if (operations.size === 0) throw problem('lists no operation');
  return operations;
}

/** Why `document` cannot run on `schema`, or undefined when it can. */
export function checkDocument(document: string, schema: GraphQLSchema): string | undefined {
  try {
    const errors = validate(schema, parse(document));
    return errors.length > 0 ? errors.map((e) => e.message).join('; ') : undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function required(): GraphQLError {
  return createGraphQLError(
    'This server runs persisted operations only (PERSISTED_OPERATIONS_FILE): send extensions.persistedQuery = { version: 1, sha256Hash: "<SHA-256 of the document>" } instead of the document. Only an admin may send a document.',
    { extensions: { code: PERSISTED_QUERY_REQUIRED, http: { status: 400 } } },
  );
}

function notFound(hash: string): GraphQLError {
  return createGraphQLError(
    `No persisted operation has the hash "${hash.slice(0, 64)}": the operation is not in this server's allowlist (PERSISTED_OPERATIONS_FILE).`,
    { extensions: { code: PERSISTED_QUERY_NOT_FOUND, http: { status: 400 } } },
  );
}

/** The Apollo-style key: extensions.persistedQuery = { version: 1, sha256Hash }. */
function hashOf(extensions: unknown): string | null {
  const persisted = (extensions as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } } | null)
    ?.persistedQuery;
  return persisted?.version === 1 && typeof persisted.sha256Hash === 'string' ? persisted.sha256Hash : null;
}

export type PersistedOperationsPolicy = {
  operations: PersistedOperations;
  /** Whether the request's credential is an admin's (who may send any document). */
  isAdmin(request: Request): Promise<boolean>;
  onRefused(): void;
};

/** Yoga's plugin with our errors: a document only from an admin, a hash only from the list. */
export function usePersistedOperationsAllowlist(policy: PersistedOperationsPolicy): Plugin {
  const refuse = () => {
    policy.onRefused();
    return required();
  };
  return usePersistedOperations({
    getPersistedOperation: (hash) => policy.operations.get(hash) ?? null,
    extractPersistedOperationId: (params) => hashOf(params.extensions),
    allowArbitraryOperations: (request) => policy.isAdmin(request),
    customErrors: {
      persistedQueryOnly: refuse,
      keyNotFound: refuse,
      notFound: ({ params }) => {
        policy.onRefused();
        return notFound(hashOf(params.extensions) ?? '');
      },
    },
  });
}

/**
 * The same rule for a graphql-ws subscribe message (whose `query` must be a string: a persisted
 * operation sends "" and the hash in extensions): the document to run, or the refusal.
 */
export function resolvePersistedOperation(
  operations: PersistedOperations,
  payload: { query: string; extensions?: Record<string, unknown> | null },
  isAdmin: boolean,
): { query: string } | { error: GraphQLError } {
  if (payload.query) return isAdmin ? { query: payload.query } : { error: required() };
  const hash = hashOf(payload.extensions);
  if (hash === null) return { error: required() };
  const query = operations.get(hash);
  return query === undefined ? { error: notFound(hash) } : { query };
}
