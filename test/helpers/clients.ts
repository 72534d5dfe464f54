// Real clients: GraphQL over fetch, and the graphql-ws client over a real WebSocket. A
// subscription queues what arrives; tests await the next message with a deadline, never sleep.
import type { ExecutionResult } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

export type GraphQLResponse<T = Record<string, any>> = {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, any>; path?: string[] }>;
};

export async function gql<T = Record<string, any>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status'>;
  return { status: response.status, ...body };
}

export type Subscription<T> = {
  /** The next result, or a failure naming what was awaited when `timeoutMs` passes. */
  next(timeoutMs?: number): Promise<ExecutionResult<T>>;
  /** The next `count` results' data. */
  take(count: number, timeoutMs?: number): Promise<T[]>;
  /** Resolves when the server completes the subscription. */
  completed: Promise<void>;
  /** Results received and not yet taken. */
  pending(): number;
  dispose(): Promise<void>;
  client: Client;
};

const clients = new Set<Client>();

export function wsClient(wsUrl: string, connectionParams?: Record<string, unknown>): Client {
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
  clients.add(client);
  return client;
}

export function subscribe<T = Record<string, any>>(
  wsUrlOrClient: string | Client,
  query: string,
  variables?: Record<string, unknown>,
): Subscription<T> {
  const client = typeof wsUrlOrClient === 'string' ? wsClient(wsUrlOrClient) : wsUrlOrClient;
  const results: ExecutionResult<T>[] = [];
  const waiters: Array<() => void> = [];
  let failure: unknown = null;
  let resolveCompleted!: () => void;
  const completed = new Promise<void>((resolve) => {
    resolveCompleted = resolve;
  });
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        results.push(result as ExecutionResult<T>);
        wake();
      },
      error: (error) => {
        failure = error;
        wake();
        resolveCompleted();
      },
      complete: () => {
        resolveCompleted();
        wake();
      },
    },
  );
  let done = false;
  void completed.then(() => {
    done = true;
  });

  const next = async (timeoutMs = 10_000): Promise<ExecutionResult<T>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = results.shift();
      if (result) return result;
      if (failure) throw new Error(`subscription failed: ${describe(failure)}`);
      if (done) throw new Error('subscription completed while a result was awaited');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no subscription result within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };

  return {
    next,
    async take(count, timeoutMs = 10_000) {
      const out: T[] = [];
      while (out.length < count) {
        const result = await next(timeoutMs);
        if (result.errors) throw new Error(`subscription error: ${JSON.stringify(result.errors)}`);
        out.push(result.data as T);
      }
      return out;
    },
    completed,
    pending: () => results.length,
    async dispose() {
      unsubscribe();
      if (typeof wsUrlOrClient === 'string') await closeClient(client);
    },
    client,
  };
}

export async function closeClient(client: Client): Promise<void> {
  clients.delete(client);
  await client.dispose();
}

/** Closes every graphql-ws client a test opened. */
export async function closeAllClients(): Promise<void> {
  await Promise.all([...clients].map(closeClient));
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'code' in error) {
    const event = error as { code: number; reason?: string };
    return `socket closed with ${event.code} ${event.reason ?? ''}`;
  }
  return JSON.stringify(error);
}

/**
 * A subscription without a cursor starts "from now", and the client cannot see when the server
 * has set it up. Send markers until one arrives, then one last marker, and read up to it: after
 * that the subscription is live and nothing stale is left in its queue.
 */
export async function untilLive<T>(
  sub: Subscription<T>,
  sendMarker: (name: string) => Promise<unknown>,
  markerOf: (data: T) => string,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (attempt === 100) throw new Error('the subscription never went live');
    await sendMarker(`marker-${attempt}`);
    const result = await sub.next(250).catch(() => null);
    if (result) break;
  }
  await sendMarker('marker-last');
  for (;;) {
    const result = await sub.next();
    if (markerOf(result.data as T) === 'marker-last') return;
  }
}
