// Typed GraphQL for Shopstream's clients: gql.tada infers each document's result and variables from
// schema.graphql inside the type checker (via graphql-env.d.ts), so there is no per-query codegen.

import { initGraphQLTada, type ResultOf, type TadaDocumentNode, type VariablesOf } from 'gql.tada';
import { print } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { introspection } from './graphql-env.js';

export const graphql = initGraphQLTada<{
  introspection: introspection;
  // Both travel as strings: DateTime as ISO-8601, Money as a decimal ("19.99"), never a float.
  scalars: { DateTime: string; Money: string };
}>();

export type { ResultOf, VariablesOf };

/** A GraphQL error as the server sends it: `extensions.code` says what went wrong. */
export class GraphQLRequestError extends Error {
  constructor(
    readonly errors: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }>,
    readonly status?: number,
  ) {
    super(errors.map((e) => `${e.message}${e.extensions?.code ? ` (${e.extensions.code})` : ''}`).join('; '));
  }
}

export type Connection = {
  /** http://host:port/graphql */
  url: string;
  /** An API key (`npm run keys -- create …`) or a JWT; leave it out in open development mode. */
  credential?: string;
};

/** Sends a query or mutation over HTTP and returns its typed data, or throws its errors. */
export async function request<Result, Variables>(
  { url, credential }: Connection,
  document: TadaDocumentNode<Result, Variables>,
  variables: Variables,
): Promise<Result> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(credential ? { authorization: `Bearer ${credential}` } : {}),
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: Result | null; errors?: GraphQLRequestError['errors'] };
  if (body.errors?.length || !body.data) throw new GraphQLRequestError(body.errors ?? [], response.status);
  return body.data;
}

/** One WebSocket (graphql-transport-ws protocol) for every subscription of a program. */
export function connect({ url, credential }: Connection): Client {
  return createClient({
    url: url.replace(/^http/, 'ws'),
    // Browsers have a WebSocket; Node 20 needs the `ws` package.
    webSocketImpl: WebSocket,
    connectionParams: credential ? { authorization: `Bearer ${credential}` } : {},
  });
}

/** Follows a subscription: yields each item's typed data; a server error ends it with a throw. */
export async function* follow<Result, Variables>(
  client: Client,
  document: TadaDocumentNode<Result, Variables>,
  variables: Variables,
): AsyncGenerator<Result> {
  const results = client.iterate<Result>({
    query: print(document),
    variables: variables as Record<string, unknown>,
  });
  for await (const result of results) {
    if (result.errors?.length || !result.data) throw new GraphQLRequestError(result.errors ?? []);
    yield result.data;
  }
}
