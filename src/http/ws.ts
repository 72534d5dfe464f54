// graphql-ws (the graphql-transport-ws protocol) on the same server and path as HTTP, executed
// through Yoga's envelop so both transports share the schema, context, validation and masking.
// This file is the one place for the glue's loose types.
import type { Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Logger } from '../log.js';
import type { GraphQLHandler } from './yoga.js';

type EnvelopedRoot = {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
};

export function attachWebSocket(server: Server, yoga: GraphQLHandler, log: Logger) {
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  let operations = 0;
  let whenIdle: (() => void) | null = null;

  const disposable = useServer(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
        });
        let document: ReturnType<typeof parse>;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error as never];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
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
      onComplete: () => {
        operations--;
        if (operations === 0) whenIdle?.();
      },
      onClose: (_ctx, code, reason) => log.debug({ code, reason }, 'websocket closed'),
    },
    wss,
  );

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
    close: () => disposable.dispose(),
  };
}
