// sales_window_orders only remembers which orderIds a window has counted, so that a late purchase
// of the same order counts it once. It is pruned in the sales processor's own transactions: rows
// of windows that ended more than SALES_ORDER_LATENESS_HOURS before the latest sale (event time)
// go, at most a bounded number per batch; recent ones stay, and a late purchase within the
// lateness still counts its order once.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRUNE_AT_LEAST } from '../../src/core/sales/aggregate.js';
import { gql } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const LATENESS_HOURS = 24;
const HOUR = 3_600_000;
const RECORD = `mutation ($events: [ActivityEventInput!]!) {
  recordActivity(events: $events, ack: PROCESSED) { accepted errors { index code } }
}`;
const SALES = `query ($from: DateTime!, $to: DateTime!) {
  sales(size: HOUR, from: $from, to: $to, currency: "USD") { start orders units revenue }
}`;

let server: TestServer;
let db: pg.Client;
let n = 0;

beforeAll(async () => {
  server = await startTestServer({ env: { SALES_ORDER_LATENESS_HOURS: String(LATENESS_HOURS) } });
  db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await disposeAll();
});

const purchase = (orderId: string, occurredAt: Date) => ({
  eventId: `e-${++n}`,
  userId: 'u1',
  type: 'PURCHASE',
  productId: 'p1',
  quantity: 1,
  unitPrice: '10.00',
  currency: 'USD',
  orderId,
  occurredAt: occurredAt.toISOString(),
});

async function record(events: unknown[]): Promise<void> {
  const result = await gql(server.url, RECORD, { events });
  expect(result.errors).toBeUndefined();
  expect(result.data?.recordActivity).toEqual({ accepted: events.length, errors: [] });
}

/** Rows as if kept from before: `count` orders of the HOUR window starting at `start`. */
async function seedOrders(prefix: string, start: Date, count: number): Promise<void> {
  await db.query(
    `INSERT INTO sales_window_orders (size, window_start, currency, order_id)
     SELECT 'HOUR', $1, 'USD', $2 || i FROM generate_series(1, $3) AS i`,
    [start.toISOString(), prefix, count],
  );
}

async function countOrders(prefix: string): Promise<number> {
  const { rows } = await db.query('SELECT count(*)::int AS n FROM sales_window_orders WHERE order_id LIKE $1', [
    `${prefix}%`,
  ]);
  return rows[0].n;
}

const hourStart = (ms: number) => new Date(Math.floor(ms / HOUR) * HOUR);

describe('pruning sales_window_orders', () => {
  it('removes the orderIds of windows that ended more than SALES_ORDER_LATENESS_HOURS before the latest sale, a bounded number per batch, and keeps recent ones', async () => {
    const now = Date.now();
    const old = hourStart(now - (LATENESS_HOURS + 3) * HOUR);
    const recent = hourStart(now - (LATENESS_HOURS - 3) * HOUR);
    await seedOrders('old-', old, PRUNE_AT_LEAST + 500);
    await seedOrders('recent-', recent, 10);

    // One purchase with an orderId adds 3 rows (MINUTE, HOUR, DAY), so its batch prunes up to PRUNE_AT_LEAST + 6.
    await record([purchase('fresh-1', new Date(now - HOUR))]);
    expect(await countOrders('old-')).toBe(500 - 6);
    expect(await countOrders('recent-')).toBe(10);
    expect(await countOrders('fresh-')).toBe(3);

    await record([purchase('fresh-2', new Date(now - HOUR))]);
    expect(await countOrders('old-')).toBe(0);
    expect(await countOrders('recent-')).toBe(10);
    expect(await countOrders('fresh-')).toBe(6);
  });

  it('a late purchase within the lateness, of an order already counted in its window, counts that order once', async () => {
    const occurred = new Date(Date.now() - (LATENESS_HOURS - 2) * HOUR);
    const start = hourStart(occurred.getTime());
    await record([purchase('late-order', occurred)]);
    // Another batch prunes in between: the order's rows must survive it.
    await record([purchase('other-order', new Date(Date.now() - HOUR))]);
    await record([purchase('late-order', new Date(occurred.getTime() + 1000))]);

    const result = await gql(server.url, SALES, {
      from: start.toISOString(),
      to: new Date(start.getTime() + HOUR).toISOString(),
    });
    expect(result.errors).toBeUndefined();
    expect(result.data?.sales).toEqual([{ start: start.toISOString(), orders: 1, units: 2, revenue: '20.00' }]);
  });
});
