// GraphQL over HTTP (and subscriptions over SSE) with Yoga: masked errors, structured logs.
import type { GraphQLSchema } from 'graphql';
import { createYoga } from 'graphql-yoga';
import type { Logger } from '../log.js';
import type { GraphQLContext } from '../schema/context.js';
import { maskError } from '../schema/errors.js';

export type YogaOptions = {
  schema: GraphQLSchema;
  context: () => GraphQLContext;
  graphiql: boolean;
  production: boolean;
  log: Logger;
};

export function createGraphQLHandler(options: YogaOptions) {
  return createYoga<Record<string, unknown>, GraphQLContext>({
    schema: options.schema,
    graphqlEndpoint: '/graphql',
    context: options.context,
    graphiql: options.graphiql
      ? { title: 'Shopstream', subscriptionsProtocol: 'WS', defaultQuery: GRAPHIQL_QUERY }
      : false,
    landingPage: false,
    maskedErrors: { maskError, isDev: !options.production },
    logging: options.log,
  });
}

export type GraphQLHandler = ReturnType<typeof createGraphQLHandler>;

const GRAPHIQL_QUERY = `# Send a batch of activity, then follow it live in a second tab:
#   subscription { userActivity { cursor userId type productId occurredAt } }
mutation {
  recordActivity(events: [
    { eventId: "e-1", userId: "1", type: BROWSE, productId: "101" }
    { eventId: "e-2", userId: "1", type: PURCHASE, productId: "103", quantity: 1, unitPrice: "19.99" }
  ]) { accepted duplicates errors { index code message } }
}
`;
