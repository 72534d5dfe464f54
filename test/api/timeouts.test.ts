// Time limits and pool pressure: a query that runs too long is cancelled with QUERY_TIMEOUT and
// its connection goes back to the pool; when every connection for queries is taken, the next
// query is answered BUSY (with retryAfterSeconds) instead of waiting; and ingest and subscription
// delivery keep working meanwhile, on their own pool. A slow query is made by holding a lock on
// the table it reads from a second connection, so the server really waits in PostgreSQL.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NO_FEED_WRITES } from '../../src/feed/feed.js';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';
import { FROM_START } from '../helpers/streams.js';

const SALES = '{ sales(size: DAY, from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") { start revenue } }';

let locker: pg.Client | null = null;

/**
 * Holds an ACCESS EXCLUSIVE lock on sales_windows (what the sales query reads) until unlock().
 * Marked as writing no log or feed table, as it does not: an open transaction without the mark
 * would hold back every feed's horizon (invariant 5), and with it ingest's PROCESSED answers.
 */
async function lockSales(databaseUrl: string): Promise<void> {
  locker = new pg.Client({ connectionString: databaseUrl, application_name: NO_FEED_WRITES });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE sales_windows IN ACCESS EXCLUSIVE MODE');
}

async function unlock(): Promise<void> {
  const client = locker;
  locker = null;
  if (!client) return;
  await client.query('ROLLBACK');
  await client.end();
}

/** Waits until `count` queries of the read pool are waiting for a lock in PostgreSQL. */
async function untilReadsWaiting(databaseUrl: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (let attempt = 0; attempt < 500; attempt++) {
      const { rows } = await client.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'shopstream-read' AND wait_event_type = 'Lock'`,
      );
      if (rows[0].n >= count) return;
      await client.query('SELECT pg_sleep(0.01)');
    }
    throw new Error(`never saw ${count} read queries waiting for the lock`);
  } finally {
    await client.end();
  }
}

afterEach(unlock);
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

describe('statement timeout', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { STATEMENT_TIMEOUT_MS: '300', DB_READ_POOL_SIZE: '1' } });
  });

  it('a history query running past STATEMENT_TIMEOUT_MS is cancelled with QUERY_TIMEOUT, and its connection serves the next query', async () => {
    await lockSales(server.databaseUrl);
    const slow = await gql(server.url, SALES);
    expect(slow.errors?.[0]?.extensions?.code).toBe('QUERY_TIMEOUT');
    expect(slow.errors?.[0]?.message).toMatch(/STATEMENT_TIMEOUT_MS/);
    expect(JSON.stringify(slow)).not.toMatch(/canceling statement|SELECT/);
    await unlock();
    // One connection for queries: had the cancelled query kept it, this one would be BUSY.
    const next = await gql(server.url, SALES);
    expect(next.errors).toBeUndefined();
    expect(next.data?.sales).toEqual([]);
  });
});

describe('pool pressure', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: { STATEMENT_TIMEOUT_MS: '60000', DB_READ_POOL_SIZE: '1', POOL_WAIT_MS: '200' },
    });
  });

  it('with every connection for queries taken, a query is answered BUSY with retryAfterSeconds, while ingest and subscriptions go on', async () => {
    const sub = subscribe<{ userActivity: { eventId: string } }>(
      server.wsUrl,
      'subscription ($after: String) { userActivity(after: $after) { eventId } }',
      { after: FROM_START },
    );
    await lockSales(server.databaseUrl);
    const held = gql(server.url, SALES);
    await untilReadsWaiting(server.databaseUrl, 1);

    const busy = await gql(server.url, SALES);
    expect(busy.errors?.[0]?.extensions).toEqual({ code: 'BUSY', retryAfterSeconds: 1 });
    expect(busy.errors?.[0]?.message).toMatch(/POOL_WAIT_MS/);
    expect(await fetch(`${server.httpBase}/metrics`).then((r) => r.text())).toMatch(
      /^shopstream_limit_refusals_total\{limit="pool_wait"\} [1-9]/m,
    );

    // Ingest (answered once every processor applied it) and delivery use the other pool.
    const ingest = await gql(
      server.url,
      'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e, ack: PROCESSED) { accepted } }',
      { e: [{ eventId: 'while-busy', userId: 'u1', type: 'BROWSE', productId: 'p1' }] },
    );
    expect(ingest.errors).toBeUndefined();
    expect(ingest.data?.recordActivity.accepted).toBe(1);
    expect((await sub.next(10_000)).data?.userActivity.eventId).toBe('while-busy');

    await unlock();
    expect((await held).errors).toBeUndefined();
    expect((await gql(server.url, SALES)).errors).toBeUndefined();
    await sub.dispose();
  });
});
