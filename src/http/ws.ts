// graphql-ws (the graphql-transport-ws protocol) on the same server and path as HTTP, executed
// through Yoga's envelop so both transports share the schema, context, validation, limits and
// masking. Authentication happens once, in connection_init; a socket whose API key is revoked or
// whose token expires is closed (4403) at the next credential check. This file is the one place
// for the glue's loose types.
//
// Subscriptions to a feed (userActivity, stockWarnings, salesUpdates) are delivered by push
// (push-hub.ts): graphql-ws keeps the protocol, the hub writes the items. Others (stockLevels,
// recommendations) are pulled through graphql-ws as before.
import type { Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { GraphQLError } from 'graphql';
import { WebSocketServer } from 'ws';
import type { ConnectionCaps, Lease } from '../auth/connection-caps.js';
import { type Authenticator, Unauthenticated, type Viewer } from '../auth/viewer.js';
import type { Config } from '../config.js';
import { databaseUnavailable } from '../core/errors.js';
import type { Logger } from '../log.js';
import { closeReason, type Extra, serveGraphQLWs } from './graphql-ws-server.js';
import type { Metrics } from './metrics.js';
import { isOriginAllowed } from './origin.js';
import { type PersistedOperations, resolvePersistedOperation } from './persisted-operations.js';
import { createPushHub, type MaskErrors } from './push-hub.js';
import { takePushable } from './shared-execution.js';
import type { GraphQLHandler } from './yoga.js';

type EnvelopedRoot = {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
};

/** Close codes, documented in the README. */
export const CLOSE = { FORBIDDEN: 4403, TOO_MANY_CONNECTIONS: 4429, GOING_AWAY: 1001, TRY_AGAIN_LATER: 1013 } as const;

type Connection = { viewer: Viewer; operations: number; lease: Lease };

export type WebSocketOptions = {
  yoga: GraphQLHandler;
  auth: Authenticator;
  /** Ids of the given API keys that are still live (one query for all open sockets). */
  liveKeys(ids: string[]): Promise<Set<string>>;
  limits: Config['limits'];
  allowedOrigins: Config['http']['allowedOrigins'];
  metrics: Metrics;
  log: Logger;
  /** Set (PERSISTED_OPERATIONS_FILE): only these documents run, except for admins. */
  persistedOperations?: PersistedOperations;
  /** Connections per credential: this process's count, or the cluster's with REDIS_URL. */
  connectionCaps: ConnectionCaps;
};

export function attachWebSocket(server: Server, options: WebSocketOptions) {
  const { yoga, limits, metrics, log } = options;
  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    // A larger frame closes the socket with 1009 before it is buffered whole.
    maxPayload: limits.maxWsMessageBytes,
    // Refused before the upgrade (HTTP 403): a page of another site must not subscribe with the
    // browser's credentials or the open mode.
    verifyClient: (
      { origin, req }: { origin?: string; req: { headers: { host?: string } } },
      answer: (ok: boolean, status?: number, message?: string) => void,
    ) => {
      if (isOriginAllowed(origin, req.headers.host, options.allowedOrigins)) return answer(true);
      metrics.limitRefusals.inc({ limit: 'origin' });
      answer(false, 403, 'Forbidden origin');
    },
  });
  const connections = new Map<Extra['socket'], Connection>();
  const hub = createPushHub({ maskErrors: yogaMasking(yoga) });
  let operations = 0;
  let whenIdle: (() => void) | null = null;

  const refuse = (ctx: { extra: Extra }, code: number, reason: string, limit?: string) => {
    if (limit) metrics.limitRefusals.inc({ limit });
    ctx.extra.socket.close(code, closeReason(reason));
    return false;
  };
  wss.on('connection', (socket) => {
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.limitRefusals.inc({ limit: 'ws_message_size' });
    });
  });

  const disposable = serveGraphQLWs(
    {
      connectionInitWaitTimeout: limits.connectionInitTimeoutMs,
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onOperation: (ctx, id, _payload, args, result) => {
        const pushable = takePushable(args.contextValue);
        if (!pushable || !isAsyncIterator(result)) return;
        // The client completed while this was being set up: graphql-ws drops what we return.
        if (!(id in ctx.subscriptions)) return void result.return?.(undefined);
        return hub.attach(ctx.extra.socket, id, pushable, result);
      },
      onConnect: async (ctx) => {
        if (connections.size >= limits.maxWsConnections) {
          return refuse(ctx, CLOSE.TOO_MANY_CONNECTIONS, 'too many connections to this server', 'ws_connections');
        }
        let viewer: Viewer;
        try {
          const authorization = ctx.connectionParams?.authorization;
          viewer = await options.auth.authenticate(typeof authorization === 'string' ? authorization : null);
        } catch (error) {
          // The credential lookup met a database outage: the client should come back, not see 4500.
          if (databaseUnavailable(error)) {
            return refuse(ctx, CLOSE.TRY_AGAIN_LATER, 'the database is unavailable; connect again shortly');
          }
          if (!(error instanceof Unauthenticated)) throw error;
          metrics.authRefusals.inc({ reason: 'invalid_credential' });
          return refuse(ctx, CLOSE.FORBIDDEN, error.message);
        }
        const lease = await options.connectionCaps.acquire(viewer.credential);
        if (!lease) {
          return refuse(
            ctx,
            CLOSE.TOO_MANY_CONNECTIONS,
            'too many connections for this credential',
            'ws_connections_per_credential',
          );
        }
        // The socket may have closed while the lease was taken: give it back at once.
        if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) {
          lease.release();
          return false;
        }
        connections.set(ctx.extra.socket, { viewer, operations: 0, lease });
        metrics.websocketConnections.set(connections.size);
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const connection = connections.get(ctx.extra.socket);
        if (!connection)
          return [new GraphQLError('the connection is not authenticated', { extensions: { code: 'UNAUTHENTICATED' } })];
        if (connection.operations >= limits.maxSubscriptionsPerConnection) {
          metrics.limitRefusals.inc({ limit: 'subscriptions_per_connection' });
          return [
            new GraphQLError(`at most ${limits.maxSubscriptionsPerConnection} operations may run on one connection`, {
              extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' },
            }),
          ];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          viewer: connection.viewer,
        });
        let query = payload.query;
        if (options.persistedOperations) {
          const resolved = resolvePersistedOperation(
            options.persistedOperations,
            payload,
            connection.viewer.role === 'admin',
          );
          if ('error' in resolved) {
            metrics.limitRefusals.inc({ limit: 'persisted_operations' });
            return [resolved.error];
          }
          query = resolved.query;
        }
        let document: ReturnType<typeof parse>;
        try {
          document = parse(query);
        } catch (error) {
          return [error as GraphQLError];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        connection.operations++;
        operations++;
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
      },
      onComplete: (ctx) => {
        const connection = connections.get(ctx.extra.socket);
        if (connection) connection.operations--;
        operations--;
        if (operations === 0) whenIdle?.();
      },
      onClose: (ctx, code, reason) => {
        if (code === 4408) metrics.limitRefusals.inc({ limit: 'connection_init_timeout' });
        const connection = connections.get(ctx.extra.socket);
        if (connection) {
          connections.delete(ctx.extra.socket);
          connection.lease.release();
          metrics.websocketConnections.set(connections.size);
        }
        log.debug({ code, reason }, 'websocket closed');
      },
    },
    wss,
    log,
  );

  // A revoked key or an expired token must not keep a socket that was opened with it.
  let checking = false;
  const sweep = setInterval(async () => {
    if (checking || connections.size === 0) return;
    checking = true;
    try {
      const keyIds = [...new Set([...connections.values()].flatMap((c) => (c.viewer.keyId ? [c.viewer.keyId] : [])))];
      const live = await options.liveKeys(keyIds);
      const now = new Date();
      for (const [socket, connection] of connections) {
        const reason = options.auth.stillValid(connection.viewer, now, live);
        if (reason) {
          metrics.authRefusals.inc({ reason: 'credential_ended' });
          socket.close(CLOSE.FORBIDDEN, closeReason(reason));
        }
      }
    } catch (error) {
      log.warn({ err: error }, 'credential check failed; will retry');
    } finally {
      checking = false;
    }
  }, limits.credentialCheckMs);
  sweep.unref();

  return {
    /** Resolves when every operation has sent its `complete` (or after `timeoutMs`). */
    async operationsDone(timeoutMs: number): Promise<void> {
      if (operations <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        whenIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
    /** Closes every socket (1001, going away) and the WebSocket server. */
    async close() {
      clearInterval(sweep);
      await disposable.dispose();
    },
  };
}

function isAsyncIterator(value: unknown): value is AsyncIterator<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as AsyncIterator<unknown>).next === 'function';
}

/** Yoga's own error masking (maskedErrors: maskError, isDev, and its logging of what it masks). */
function yogaMasking(yoga: GraphQLHandler): MaskErrors {
  const options = (yoga as unknown as { maskedErrorsOpts: YogaMaskedErrors | null }).maskedErrorsOpts;
  if (!options) return (errors) => errors;
  const message = options.errorMessage ?? 'Unexpected error.';
  return (errors) => errors.map((error) => options.maskError(error, message) as GraphQLError);
}

type YogaMaskedErrors = { errorMessage?: string; maskError: (error: unknown, message: string) => Error };
