// Executes a subscription's selection once per event for every group of subscribers that would
// get the same result, instead of once per subscriber. A thousand dashboards on the same stream
// used to run the same resolvers a thousand times per event; now the first subscriber to reach an
// event executes it and the others reuse that result.
//
// Two subscribers are in the same group when they sent the same document (Yoga's parser cache
// hands out one DocumentNode per query text), the same operation name and variables, and are the
// same kind of viewer (role and user id: the only context a resolver below the root may read).
// The cache is a WeakMap keyed by the event object, which the feed's tailer shares between all
// live subscribers of a table; when the event is gone, so are its results. Replayed items are read
// per subscriber, so they are simply executed per subscriber, as before.
//
// A subscription whose source is a feed that can push (follow.ts) is also offered to the WebSocket
// push hub (push-hub.ts) through takePushable(): the hub then executes once per group and event
// itself and writes the frames, and the iterator returned here is never pulled.
//
// Per event, the selection runs as a function compiled once per document and operation by
// graphql-jit (the subscribe step itself stays graphql-js's): a subscriber's own stream (a
// shopper's activity) is executed once per event and subscriber, and graphql-js's interpreter
// cost about 9 µs of the ~55 µs each such delivery took. A document graphql-jit cannot compile
// runs on graphql-js's execute, as before.
import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  GraphQLError,
} from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';
import { isPushableFeed, type PushableFeed } from '../feed/follow.js';
import type { GraphQLContext } from '../schema/context.js';

type Executed = ExecutionResult | Promise<ExecutionResult>;

/** A subscription the push hub may serve: its feed, its group, and how to execute one event. */
export type Pushable = {
  feed: PushableFeed<object>;
  /** Equal for subscribers that get the same result for the same event (see groupOf). */
  group: string;
  execute(payload: unknown): Executed;
};

/** By context: one per operation (the WebSocket layer builds a context per subscribe). */
const pushables = new WeakMap<object, Pushable>();

/** The pushable subscription just subscribed with `context`, if any; it is handed out once. */
export function takePushable(context: unknown): Pushable | undefined {
  if (typeof context !== 'object' || context === null) return undefined;
  const pushable = pushables.get(context);
  pushables.delete(context);
  return pushable;
}

export function useSharedSubscriptionExecution(): Plugin {
  const documentIds = new WeakMap<DocumentNode, number>();
  let nextDocumentId = 0;
  const results = new WeakMap<object, Map<string, Executed>>();

  const groupOf = (args: ExecutionArgs): string => {
    let id = documentIds.get(args.document);
    if (id === undefined) {
      id = nextDocumentId++;
      documentIds.set(args.document, id);
    }
    const viewer = (args.contextValue as Partial<GraphQLContext> | undefined)?.viewer;
    const who = viewer ? `${viewer.role}\u0000${viewer.userId ?? ''}\u0000${viewer.open}` : '';
    return `${id}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? {})}\u0000${who}`;
  };

  const executeShared = (run: (payload: unknown) => Executed, group: string, payload: unknown): Executed => {
    if (typeof payload !== 'object' || payload === null) return run(payload);
    let byGroup = results.get(payload);
    if (!byGroup) {
      byGroup = new Map();
      results.set(payload, byGroup);
    }
    let result = byGroup.get(group);
    if (!result) {
      const executed = run(payload);
      result = executed instanceof Promise ? executed.then(serializedOnce) : serializedOnce(executed);
      byGroup.set(group, result);
    }
    return result;
  };

  const subscribe = async (args: ExecutionArgs) => {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    const group = groupOf(args);
    const context = args.contextValue;
    const run = executorOf(args);
    if (isPushableFeed(source) && typeof context === 'object' && context !== null) {
      // The hub caches per group and event itself; executing directly spares the WeakMap.
      pushables.set(context, { feed: source, group, execute: run });
    }
    return mapEvents(source, (payload) => executeShared(run, group, payload));
  };

  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(subscribe as never);
    },
  };
}

/**
 * SSE: Yoga serializes a result with its `stringify` when it has one, so the subscribers of a
 * group that share this result share one JSON.stringify per event. Non-enumerable, so that a copy
 * (Yoga's masking of errors) is serialized afresh, and never part of the JSON.
 */
function serializedOnce(result: ExecutionResult): ExecutionResult {
  let json: string | null = null;
  Object.defineProperty(result, 'stringify', {
    value: (value: unknown) => {
      if (value !== result) return JSON.stringify(value);
      json ??= JSON.stringify(value);
      return json;
    },
  });
  return result;
}

/**
 * Executes the operation with one event as root: the selection compiled by graphql-jit, or
 * graphql-js's execute where it declined. The arguments object is built once and reused
 * (execute reads it before it returns or awaits), so no copy is made per event.
 */
function executorOf(args: ExecutionArgs): (payload: unknown) => Executed {
  const compiled = compiledFor(args);
  if (compiled) {
    const { contextValue, variableValues } = args;
    return (payload) => {
      try {
        return compiled.query(payload, contextValue, variableValues ?? {}) as Executed;
      } catch (error) {
        return { errors: [asGraphQLError(error)] };
      }
    };
  }
  const eventArgs: ExecutionArgs = { ...args };
  return (payload) => {
    eventArgs.rootValue = payload;
    try {
      return execute(eventArgs);
    } catch (error) {
      // A resolver that throws outside graphql's own error handling still ends as a result.
      return { errors: [asGraphQLError(error)] };
    }
  };
}

/**
 * `compute` memoised per operation: by document (Yoga's parser cache hands out one DocumentNode per
 * query text, and a WeakMap lets it go with the document) and operation name.
 */
export function perOperation<T>(compute: (args: ExecutionArgs) => T): (args: ExecutionArgs) => T {
  const byDocument = new WeakMap<DocumentNode, Map<string, T>>();
  return (args) => {
    let byOperation = byDocument.get(args.document);
    if (!byOperation) {
      byOperation = new Map();
      byDocument.set(args.document, byOperation);
    }
    const name = args.operationName ?? '';
    if (byOperation.has(name)) return byOperation.get(name) as T;
    const value = compute(args);
    byOperation.set(name, value);
    return value;
  };
}

/** The operation compiled by graphql-jit, once; null where graphql-jit declined. */
export const compiledFor = perOperation((args): CompiledQuery | null => {
  // Stacks of resolver errors are never shown (errors are masked), so they are not captured.
  const result = compileQuery(args.schema, args.document, args.operationName ?? undefined, {
    disablingCapturingStackErrors: true,
  });
  return isCompiledQuery(result) ? result : null;
});

/** Each event of `source` mapped through `map`; return() and throw() reach the source (unsubscribe). */
function mapEvents(
  source: AsyncIterable<unknown>,
  map: (payload: unknown) => Executed,
): AsyncIterableIterator<ExecutionResult> {
  const iterator = source[Symbol.asyncIterator]();
  return {
    async next() {
      const step = await iterator.next();
      if (step.done) return { value: undefined, done: true };
      try {
        const result = map(step.value);
        // Most events execute synchronously; awaiting a plain value would cost a microtask each.
        return { value: result instanceof Promise ? await result : result, done: false };
      } catch (error) {
        // A resolver that throws outside graphql's own error handling still ends as a result.
        return { value: { errors: [asGraphQLError(error)] }, done: false };
      }
    },
    async return() {
      await iterator.return?.();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      await iterator.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

function asGraphQLError(error: unknown): GraphQLError {
  return error instanceof GraphQLError
    ? error
    : new GraphQLError((error as Error)?.message ?? String(error), { originalError: error as Error });
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
