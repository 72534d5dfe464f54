// GraphQL over HTTP (and subscriptions over SSE) with Yoga: authentication into the context,
// query limits (graphql-armor), batching limit, optional introspection, masked errors, logs.
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { type GraphQLError, type GraphQLSchema, NoSchemaIntrospectionCustomRule } from 'graphql';
import { createGraphQLError, createYoga, type Plugin } from 'graphql-yoga';
import type { RateLimiter } from '../auth/rate-limit.js';
import { type Authenticator, Unauthenticated, type Viewer } from '../auth/viewer.js';
import type { Config } from '../config.js';
import type { Core } from '../core/core.js';
import type { Logger } from '../log.js';
import type { GraphQLContext } from '../schema/context.js';
import { maskError } from '../schema/errors.js';
import { useCompiledIngest } from './compiled-ingest.js';
import { renderGraphiQL } from './graphiql.js';
import type { Metrics } from './metrics.js';
import { type PersistedOperations, usePersistedOperationsAllowlist } from './persisted-operations.js';
import { useQueryCostLimit } from './query-cost.js';
import { useSharedSubscriptionExecution } from './shared-execution.js';

export type YogaOptions = {
  schema: GraphQLSchema;
  core: Core;
  auth: Authenticator;
  rateLimiter: RateLimiter;
  metrics: Metrics;
  config: Pick<Config, 'http' | 'limits' | 'introspection' | 'production'>;
  log: Logger;
  /**
   * Tracing's plugins (tracing.ts), first but for the compiled ingest (which opens no span), so
   * that its request span wraps everything; none when off.
   */
  tracingPlugins?: Plugin[];
  /** Set (PERSISTED_OPERATIONS_FILE): only these documents run, except for admins. */
  persistedOperations?: PersistedOperations;
};

/** What the WebSocket layer passes in: the viewer it authenticated at connection_init. */
export type ServerContext = { viewer?: Viewer };

export function createGraphQLHandler(options: YogaOptions) {
  const { config, metrics } = options;
  const refused = (limit: string) => () => metrics.limitRefusals.inc({ limit });
  // graphql-armor calls its refusals "Syntax Error" and gives them no code: ours have both right.
  const refuse = (limit: string, code: string, setting: string) => (_: unknown, error: GraphQLError) => {
    metrics.limitRefusals.inc({ limit });
    throw createGraphQLError(`${error.message.replace(/^Syntax Error: /, '').replace(/\.$/, '')} (${setting})`, {
      extensions: { code },
    });
  };
  return createYoga<ServerContext, GraphQLContext>({
    schema: options.schema,
    graphqlEndpoint: '/graphql',
    // The body's size is checked before Yoga (routes.ts: a POST needs a Content-Length within
    // MAX_BODY_BYTES, and Node's parser reads no more than it declares). Yoga's own limit piped
    // every body through a byte-counting stream, about 30 µs of each one-event mutation.
    maxRequestBodySize: false,
    context: async ({ request, viewer }) => {
      let who = viewer;
      if (!who) {
        try {
          who = await options.auth.authenticate(request.headers.get('authorization'));
        } catch (error) {
          if (!(error instanceof Unauthenticated)) throw error;
          metrics.authRefusals.inc({ reason: 'invalid_credential' });
          throw createGraphQLError(error.message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
        }
      }
      const current = who;
      return {
        core: options.core,
        viewer: current,
        async admitIngest(events: number) {
          const result = await options.rateLimiter.take(current.credential, events);
          if (result.ok) return;
          metrics.limitRefusals.inc({ limit: 'ingest_rate' });
          throw createGraphQLError(
            `ingest rate exceeded for this credential (${config.limits.ingestEventsPerSecond} events/s, burst ${config.limits.ingestBurst}); retry in ${result.retryAfterSeconds} s`,
            { extensions: { code: 'RATE_LIMITED', retryAfterSeconds: result.retryAfterSeconds } },
          );
        },
      };
    },
    graphiql: config.http.graphiql
      ? { title: 'Shopstream', endpoint: '/graphql', subscriptionsProtocol: 'WS', defaultQuery: GRAPHIQL_QUERY }
      : false,
    renderGraphiQL,
    landingPage: false,
    batching: { limit: config.limits.maxBatchOperations },
    maskedErrors: { maskError, isDev: !config.production },
    logging: options.log,
    plugins: [
      // Before tracing: its onExecute wraps the execute function this one sets, so spans nest.
      useCompiledIngest(),
      ...(options.tracingPlugins ?? []),
      ...(options.persistedOperations
        ? [
            usePersistedOperationsAllowlist({
              operations: options.persistedOperations,
              isAdmin: async (request) => {
                try {
                  return (await options.auth.authenticate(request.headers.get('authorization'))).role === 'admin';
                } catch (error) {
                  if (error instanceof Unauthenticated) return false;
                  throw error;
                }
              },
              onRefused: refused('persisted_operations'),
            }),
          ]
        : []),
      EnvelopArmorPlugin({
        maxDepth: {
          n: config.limits.maxQueryDepth,
          onReject: [refuse('query_depth', 'QUERY_TOO_DEEP', 'MAX_QUERY_DEPTH')],
        },
        maxAliases: {
          n: config.limits.maxAliases,
          onReject: [refuse('query_aliases', 'TOO_MANY_ALIASES', 'MAX_ALIASES')],
        },
        maxTokens: { n: config.limits.maxTokens, onReject: [refuse('query_tokens', 'TOO_MANY_TOKENS', 'MAX_TOKENS')] },
        maxDirectives: { n: 50, onReject: [refuse('query_directives', 'TOO_MANY_DIRECTIVES', 'at most 50')] },
        // Costed when the operation runs, with its variables (query-cost.ts), not at validation.
        costLimit: { enabled: false },
        // Suggestions ("did you mean …") reveal the schema when introspection is off.
        blockFieldSuggestion: { enabled: !config.introspection },
      }),
      useQueryCostLimit(config.limits.maxQueryCost, refused('query_cost')),
      checkBatches(config.limits.maxBatchOperations, refused('batch_operations')),
      ...(config.introspection ? [] : [disableIntrospection()]),
      metrics.graphqlPlugin,
      useSharedSubscriptionExecution(),
    ],
  });
}

export type GraphQLHandler = ReturnType<typeof createGraphQLHandler>;

/**
 * A batch (a JSON array of operations) holds 1 to `limit` of them, or is refused as a whole with
 * 400. Without this, an empty array is answered with an empty array, and Yoga's own limit (still
 * there behind this one) answers 413, which says the body is too large when it is not.
 */
function checkBatches(limit: number, onRefused: () => void): Plugin {
  const badRequest = (message: string) =>
    createGraphQLError(message, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
  return {
    onRequestParse: () => ({
      onRequestParseDone({ requestParserResult }) {
        if (!Array.isArray(requestParserResult)) return;
        if (requestParserResult.length === 0) {
          throw badRequest(
            `the request is an empty batch ([]): send one operation as a JSON object, or an array of 1 to ${limit} operations`,
          );
        }
        if (requestParserResult.length > limit) {
          onRefused();
          throw badRequest(
            `Batching is limited to ${limit} operations per request (MAX_BATCH_OPERATIONS); this one has ${requestParserResult.length}: split it`,
          );
        }
      },
    }),
  };
}

function disableIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

const GRAPHIQL_QUERY = `# Send a batch of activity, then follow it live in a second tab:
#   subscription { userActivity { cursor userId type productId occurredAt } }
mutation {
  recordActivity(events: [
    { eventId: "e-1", userId: "1", type: BROWSE, productId: "101" }
    { eventId: "e-2", userId: "1", type: PURCHASE, productId: "103", quantity: 1, unitPrice: "19.99" }
  ]) { accepted duplicates errors { index code message } }
}
`;
