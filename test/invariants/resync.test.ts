// Invariant 6: bursts never crash the server, and a subscriber that stops reading is ended with
// RESYNC_REQUIRED and its last cursor, from which it resumes without losing anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const QUEUE_LIMIT = 200;
/** Enough items to fill the kernel's socket buffers (about 4 MB here) behind a client that stopped reading. */
const TOTAL = 40_000;
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ env: { SUBSCRIBER_QUEUE_LIMIT: String(QUEUE_LIMIT) } });
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

const FOLLOW = `subscription ($userId: ID, $after: String) { userActivity(userId: $userId, after: $after) { cursor productId } }`;

async function send(userId: string, count: number, { batchSize = 500, parallel = 2, from = 0 } = {}) {
  const batches = Array.from({ length: Math.ceil(count / batchSize) }, (_, b) =>
    Array.from({ length: Math.min(batchSize, count - b * batchSize) }, (_, i) => {
      const n = from + b * batchSize + i;
      return { eventId: `${userId}-${n}`, userId, type: 'BROWSE', productId: String(n) };
    }),
  );
  for (let i = 0; i < batches.length; i += parallel) {
    const results = await Promise.all(
      batches.slice(i, i + parallel).map((events) =>
        gql(server.url, 'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e) { accepted } }', {
          e: events,
        }),
      ),
    );
    for (const result of results) expect(result.errors).toBeUndefined();
  }
}

/** Follows with the graphql-ws client, resuming after RESYNC_REQUIRED, until `count` items arrived. */
async function collect(userId: string, count: number, after?: string) {
  const seen: string[] = [];
  let cursor = after;
  let resyncs = 0;
  while (seen.length < count) {
    const sub = subscribe<any>(server.wsUrl, FOLLOW, { userId, after: cursor });
    try {
      while (seen.length < count) {
        const result = await sub.next(30_000);
        if (result.errors) {
          expect(result.errors[0]?.extensions).toMatchObject({ code: 'RESYNC_REQUIRED' });
          cursor = result.errors[0]?.extensions?.cursor as string;
          resyncs++;
          break;
        }
        seen.push(result.data.userActivity.productId);
        cursor = result.data.userActivity.cursor;
      }
    } finally {
      await sub.dispose();
    }
  }
  return { seen, resyncs };
}

describe('bounded subscribers', () => {
  it('a burst of 20,000 events with a subscriber attached leaves the server up and the subscriber complete', async () => {
    const user = 'burst';
    const start = await gql(
      server.url,
      `mutation { recordActivity(events: [{ eventId: "burst-start", userId: "${user}", type: BROWSE, productId: "start" }]) { accepted } }`,
    );
    expect(start.data?.recordActivity.accepted).toBe(1);
    const page = await gql(server.url, `{ userActivity(userId: "${user}") { pageInfo { endCursor } } }`);
    const collecting = collect(user, 20_000, page.data?.userActivity.pageInfo.endCursor);
    await send(user, 20_000);
    const { seen } = await collecting;
    // Two batches commit concurrently, so feed order is batch commit order: compare as sets, no repeats.
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
    const health = await fetch(`${server.httpBase}/health`);
    expect(health.status).toBe(200);
  }, 180_000);

  it('a subscriber that stops reading is ended with RESYNC_REQUIRED and resumes from its cursor losing nothing', async () => {
    const user = 'stalled';
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const messages: any[] = [];
    let onMessage = () => {};
    socket.on('message', (data) => {
      messages.push(JSON.parse(String(data)));
      onMessage();
    });
    const waitFor = (predicate: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out; got ${JSON.stringify(messages.slice(-2))}`)),
          60_000,
        );
        const check = () => {
          if (predicate()) {
            clearTimeout(timer);
            onMessage = () => {};
            resolve();
          }
        };
        onMessage = check;
        check();
      });
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await waitFor(() => messages.some((m) => m.type === 'connection_ack'));
    socket.send(
      JSON.stringify({ id: '1', type: 'subscribe', payload: { query: FOLLOW, variables: { userId: user } } }),
    );
    // Proves the subscription is live before the client stops reading.
    await send(user, 1);
    await waitFor(() => messages.some((m) => m.type === 'next'));
    const raw = (socket as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause();
    await send(user, TOTAL - 1, { batchSize: 1000, from: 1 });
    raw.resume();
    await waitFor(() => messages.some((m) => m.type === 'complete'));
    socket.close();

    const items = messages.filter((m) => m.type === 'next' && m.payload.data).map((m) => m.payload.data.userActivity);
    const ending = messages.filter((m) => m.type === 'next' && m.payload.errors).at(-1);
    expect(ending?.payload.errors[0]).toMatchObject({
      message: expect.stringContaining(`more than ${QUEUE_LIMIT} items behind`),
      extensions: { code: 'RESYNC_REQUIRED', cursor: items.at(-1).cursor },
    });
    expect(items.length).toBeLessThan(TOTAL);

    const { seen } = await collect(user, TOTAL - items.length, ending.payload.errors[0].extensions.cursor);
    const all = [...items.map((i: any) => Number(i.productId)), ...seen.map(Number)];
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
  }, 180_000);
});
