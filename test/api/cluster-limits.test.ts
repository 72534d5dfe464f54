// Limits across the cluster (REDIS_URL): the ingest rate per credential is one token bucket in
// Redis, shared by every process, so spreading batches over processes does not multiply it; and
// when Redis is gone, ingest stays available, limited per process meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, closeClient, gql, subscribe, wsClient } from '../helpers/clients.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type PrivateRedis, startRedis, stopAllRedis } from '../helpers/redis.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

let redis: PrivateRedis;
let database: TestDatabase;
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  [redis, database] = await Promise.all([startRedis(), createTestDatabase()]);
  const env = {
    REDIS_URL: redis.url,
    INGEST_EVENTS_PER_SECOND: '1',
    INGEST_BURST: '10',
    MAX_BATCH_SIZE: '10',
    MAX_WS_CONNECTIONS_PER_CREDENTIAL: '2',
  };
  a = await startTestServer({ databaseUrl: database.url, env });
  b = await startTestServer({ databaseUrl: database.url, env });
}, 30_000);

afterAll(async () => {
  await closeAllClients();
  await disposeAll();
  await stopAllRedis();
  await database?.drop();
});

const RECORD = 'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e, ack: STORED) { accepted } }';
const events = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => ({ eventId: `${prefix}-${i}`, userId: 'rate', type: 'BROWSE', productId: 'p' }));

describe('the ingest rate with REDIS_URL', () => {
  it('is one bucket per credential for the whole cluster', async () => {
    const first = await gql(a.url, RECORD, { e: events(10, 'cluster-a') });
    expect(first.data?.recordActivity.accepted).toBe(10);
    // Another process: its own bucket would still be full; the shared one is spent.
    const second = await gql(b.url, RECORD, { e: events(5, 'cluster-b') });
    expect(second.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/ingest rate exceeded.*retry in \d+ s/),
      extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) },
    });
    expect(second.data?.recordActivity ?? null).toBeNull();
  });

  it('counts WebSocket connections per credential across processes, and frees them on close', async () => {
    const connected = (client: ReturnType<typeof wsClient>) =>
      new Promise<void>((resolve) => client.on('connected', () => resolve()));
    const first = wsClient(a.wsUrl);
    const second = wsClient(b.wsUrl);
    const ready = [connected(first), connected(second)];
    // Subscriptions keep the lazy clients' sockets open.
    subscribe<any>(first, 'subscription { userActivity { cursor } }');
    subscribe<any>(second, 'subscription { userActivity { cursor } }');
    await Promise.all(ready);
    // One on each process: per process either would allow another; the cluster allows none.
    const third = wsClient(a.wsUrl);
    await expect(subscribe<any>(third, '{ __typename }').next()).rejects.toThrow(/4429/);
    await closeClient(second);
    // The closed connection's lease is given back (a condition: the close reaches b, then Redis).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const retry = wsClient(a.wsUrl);
      const outcome = await subscribe<any>(retry, '{ __typename }')
        .next()
        .then(
          (item) => item,
          (error: Error) => error,
        );
      await closeClient(retry);
      if (!(outcome instanceof Error)) {
        expect(outcome).toMatchObject({ data: { __typename: 'Query' } });
        break;
      }
      expect(outcome.message).toMatch(/4429/);
      if (Date.now() > deadline) throw new Error('the closed connection was never freed');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  it('falls back to a bucket per process while Redis is down, so ingest stays available', async () => {
    await redis.stop();
    // The shared bucket is out of reach: b's own bucket (untouched so far) takes the batch.
    const during = await gql(b.url, RECORD, { e: events(5, 'outage') });
    expect(during.errors).toBeUndefined();
    expect(during.data?.recordActivity.accepted).toBe(5);
  });
});
