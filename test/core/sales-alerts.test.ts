// Sales alerts against a real database (src/core/sales/alerts.ts), on simulated traffic: three
// weeks of a shop with a daily rhythm (Poisson orders per hour from a seeded generator, browses
// all along), then a day that is normal, or that has a drop or a spike injected. The events are
// written to the log with SQL and applied as the runner does (apply and checkpoint in one
// transaction), so nothing depends on timing.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { activityLog } from '../../src/core/activity/log.js';
import { createPgLogReader } from '../../src/core/processing/log.js';
import type { Entry } from '../../src/core/processing/runner.js';
import { createSalesAlertsProcessor, SALES_ALERTS } from '../../src/core/sales/alerts.js';
import { readSalesAlertPage, type SalesAlert } from '../../src/core/sales/alerts-feed.js';
import {
  comparisonHours,
  judgeCount,
  judgeRevenue,
  median,
  medianMinor,
  verdictOf,
} from '../../src/core/sales/alerts-rules.js';
import { createShopCalendar } from '../../src/core/sales/window.js';
import { withTransaction } from '../../src/db/transaction.js';
import { type Position, START } from '../../src/feed/cursor.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const settings = loadConfig({}).salesAlerts;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A Monday, 00:00 UTC. */
const T0 = Date.parse('2026-01-05T00:00:00Z');
const HISTORY_DAYS = 21;
const PRODUCTS = Array.from({ length: 12 }, (_, i) => `p${i + 1}`);

type Event = {
  type: 'BROWSE' | 'PURCHASE';
  at: number;
  product: string;
  quantity: number;
  priceMinor: bigint;
  currency: string;
  orderId: string | null;
};

/** mulberry32: a small seeded generator, so every run simulates the same traffic. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function poisson(rand: () => number, lambda: number): number {
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rand();
  while (p > limit) {
    k++;
    p *= rand();
  }
  return k;
}

/** Orders expected in an hour of the day: quiet at night (≈1), busy in the afternoon (≈45). */
function rhythm(hourOfDay: number): number {
  return 1 + 44 * Math.max(0, Math.sin(((hourOfDay - 6) / 18) * Math.PI)) ** 1.5;
}

type Twist = {
  /** Orders of the hours [from, to) (ms) are multiplied by this (a broken checkout: 0.1). */
  orderFactor?: { from: number; to: number; factor: number };
  /** One product sells this many extra single-unit orders in the hour starting at `at`. */
  productBurst?: { at: number; product: string; orders: number };
};

/** `days` of traffic from T0, in event-time order; the same seed gives the same events. */
function simulate(days: number, seed: number, twist: Twist = {}): Event[] {
  const rand = random(seed);
  const events: Event[] = [];
  let order = 0;
  for (let h = 0; h < days * 24; h++) {
    const start = T0 + h * HOUR;
    const factor = twist.orderFactor;
    const orders = poisson(rand, rhythm(h % 24));
    const kept = factor && start >= factor.from && start < factor.to ? Math.round(orders * factor.factor) : orders;
    const hourEvents: Event[] = [];
    for (let o = 0; o < orders; o++) {
      // Drawn whether or not the order goes through, so a twisted run is the normal one minus its orders.
      const at = start + Math.floor(rand() * HOUR);
      const product = PRODUCTS[Math.floor(rand() * PRODUCTS.length)] as string;
      const priceMinor = BigInt(500 + PRODUCTS.indexOf(product) * 250);
      const orderId = `o${++order}`;
      const lines = 1 + Math.floor(rand() * 2);
      // Shoppers browse whether or not the checkout works: event time goes on.
      hourEvents.push({ type: 'BROWSE', at, product, quantity: 1, priceMinor: 0n, currency: 'USD', orderId: null });
      if (o >= kept) continue;
      for (let l = 0; l < lines; l++) {
        hourEvents.push({ type: 'PURCHASE', at: at + l, product, quantity: 1, priceMinor, currency: 'USD', orderId });
      }
    }
    const burst = twist.productBurst;
    if (burst && burst.at === start) {
      for (let o = 0; o < burst.orders; o++) {
        const at = start + Math.floor(rand() * HOUR);
        hourEvents.push({
          type: 'PURCHASE',
          at,
          product: burst.product,
          quantity: 1,
          priceMinor: 1000n,
          currency: 'USD',
          orderId: `b${++order}`,
        });
      }
    }
    // A browse at the end of every hour, so that event time moves on even in a silent hour.
    hourEvents.push({
      type: 'BROWSE',
      at: start + HOUR - 1,
      product: 'p1',
      quantity: 1,
      priceMinor: 0n,
      currency: 'USD',
      orderId: null,
    });
    hourEvents.sort((a, b) => a.at - b.at);
    events.push(...hourEvents);
  }
  return events;
}

type Shop = {
  pool: pg.Pool;
  log(events: readonly Event[]): Promise<void>;
  catchUp(batchSize?: number): Promise<void>;
  alerts(): Promise<SalesAlert[]>;
};

const databases: TestDatabase[] = [];
const pools: pg.Pool[] = [];
afterAll(async () => {
  for (const pool of pools) await pool.end();
  for (const database of databases) await database.drop();
});

let nextEventId = 0;

async function openShop(): Promise<Shop> {
  const database = await createTestDatabase();
  databases.push(database);
  const pool = new pg.Pool({ connectionString: database.url, max: 3 });
  pools.push(pool);
  const processor = createSalesAlertsProcessor(settings);

  /** What the runner does for one batch: read after the checkpoint, apply, move the checkpoint. */
  const applyBatch = (limit: number) =>
    withTransaction(pool, async (tx) => {
      const { rows } = await tx.query<{ tx_id: string; seq: string }>(
        `SELECT tx_id, seq FROM processor_checkpoints WHERE processor = $1 AND log = 'activity'`,
        [SALES_ALERTS],
      );
      const after: Position = rows[0] ? { txId: BigInt(rows[0].tx_id), seq: BigInt(rows[0].seq) } : START;
      const read = await createPgLogReader(tx).read(activityLog, after, { limit });
      const entries: Entry[] = read.entries.map((e) => ({ log: 'activity', position: e.position, event: e.event }));
      if (entries.length > 0) await processor.apply(tx, entries);
      await tx.query(
        `INSERT INTO processor_checkpoints (processor, log, tx_id, seq) VALUES ($1, 'activity', $2, $3)
         ON CONFLICT (processor, log) DO UPDATE SET tx_id = EXCLUDED.tx_id, seq = EXCLUDED.seq`,
        [SALES_ALERTS, read.next.txId.toString(), read.next.seq.toString()],
      );
      return entries.length;
    });

  return {
    pool,
    async log(events) {
      const chunk = 20_000;
      for (let i = 0; i < events.length; i += chunk) {
        const part = events.slice(i, i + chunk);
        await pool.query(
          `INSERT INTO activity_events (event_id, user_id, type, product_id, quantity, unit_price_minor, currency,
                                        order_id, occurred_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::text[],
                                $8::text[], $9::timestamptz[])`,
          [
            part.map(() => `e${++nextEventId}`),
            part.map(() => 'shopper'),
            part.map((e) => e.type),
            part.map((e) => e.product),
            part.map((e) => e.quantity),
            part.map((e) => (e.type === 'PURCHASE' ? e.priceMinor.toString() : null)),
            part.map((e) => (e.type === 'PURCHASE' ? e.currency : null)),
            part.map((e) => e.orderId),
            part.map((e) => new Date(e.at).toISOString()),
          ],
        );
      }
    },
    async catchUp(batchSize = 5000) {
      while ((await applyBatch(batchSize)) > 0);
    },
    async alerts() {
      const all: SalesAlert[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await readSalesAlertPage(pool, {}, { first: 500, after });
        all.push(...page.items);
        if (!page.hasNextPage) return all;
        after = page.endCursor;
      }
    },
  };
}

const describeAlert = (a: SalesAlert) =>
  `${a.windowStart.toISOString()} ${a.kind} ${a.metric}${a.productId ? ` ${a.productId}` : ''} ${a.status} v${a.version}`;
const lastDay = T0 + HISTORY_DAYS * DAY;
const hourOfLastDay = (h: number) => lastDay + h * HOUR;

describe('the rules', () => {
  it('takes the median, exact in minor units, and a robust score that ignores one odd week', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([1, 2, 3, 10])).toBe(2.5);
    expect(medianMinor([101n, 100n])).toBe(100n);
    expect(medianMinor([10n ** 18n, 10n ** 18n + 2n, 1n])).toBe(10n ** 18n);
    // Last week's outage (2) does not lower what is normal.
    const weeks = [41, 2, 39, 40];
    expect(judgeCount(40, { samples: weeks, spread: weeks }).expected).toBe(39.5);
    expect(judgeCount(4, { samples: weeks, spread: weeks }).score).toBeLessThan(-5);
    expect(Math.abs(judgeCount(44, { samples: weeks, spread: weeks }).score)).toBeLessThan(1);
  });

  it('raises nothing for a quiet hour, whatever its score', () => {
    const quiet = judgeCount(0, { samples: [3, 2, 3], spread: [3, 2, 3] });
    expect(verdictOf(quiet, { expected: quiet.expected, observed: 0, minimum: 20 }, 2)).toBeNull();
    const busy = judgeCount(12, { samples: [2, 3, 2], spread: [2, 3, 2] });
    expect(busy.score).toBeGreaterThan(2);
    expect(verdictOf(busy, { expected: busy.expected, observed: 12, minimum: 20 }, 2)).toBeNull();
    expect(verdictOf(busy, { expected: busy.expected, observed: 12, minimum: 5 }, 2)).toBe('SALES_SPIKE');
  });

  it('judges revenue with the noise of the orders behind it', () => {
    const history = { samples: [100_000n, 98_000n, 103_000n], spread: [100_000n, 98_000n, 103_000n] };
    const judged = judgeRevenue(100_000n, history, { expected: 40, observed: 40 });
    expect(judged.expectedMinor).toBe(100_000n);
    expect(Math.abs(judged.score)).toBeLessThan(1);
    expect(judgeRevenue(20_000n, history, { expected: 40, observed: 8 }).score).toBeLessThan(-3);
  });

  it('compares with the same hour of past weeks, else of past days, else the hours before', () => {
    const calendar = createShopCalendar('Europe/Paris');
    const start = new Date('2026-03-30T12:00:00+02:00'); // the Monday after the spring change
    const weeks = comparisonHours(start, new Date('2026-01-01T00:00:00Z'), calendar, 4);
    expect(weeks?.baseline).toBe('WEEKS');
    // 12:00 on the shop's clock each time, also before the clocks moved (+01:00).
    expect(weeks?.hours.map((h) => h.toISOString())).toEqual([
      '2026-03-23T11:00:00.000Z',
      '2026-03-16T11:00:00.000Z',
      '2026-03-09T11:00:00.000Z',
      '2026-03-02T11:00:00.000Z',
    ]);
    expect(comparisonHours(start, new Date('2026-03-20T00:00:00Z'), calendar, 4)?.baseline).toBe('DAYS');
    // Across the autumn change in New York: 14:00 on the shop's clock, before and after it.
    const newYork = createShopCalendar('America/New_York');
    const days = comparisonHours(new Date('2026-11-02T14:00:00-05:00'), new Date('2026-10-30T00:00:00Z'), newYork, 4);
    expect(days?.baseline).toBe('DAYS');
    expect(days?.hours.map((h) => h.toISOString())).toEqual([
      '2026-11-01T19:00:00.000Z',
      '2026-10-31T18:00:00.000Z',
      '2026-10-30T18:00:00.000Z',
    ]);
    // The 6 hours just before 03:00 EST, across the repeated 01:00 (05:00Z EDT, 06:00Z EST): real hours.
    const hours = comparisonHours(new Date('2026-11-01T03:00:00-05:00'), new Date('2026-11-01T00:00:00Z'), newYork, 4);
    expect(hours?.hours.map((h) => h.toISOString())).toEqual([
      '2026-11-01T07:00:00.000Z',
      '2026-11-01T06:00:00.000Z',
      '2026-11-01T05:00:00.000Z',
      '2026-11-01T04:00:00.000Z',
      '2026-11-01T03:00:00.000Z',
      '2026-11-01T02:00:00.000Z',
    ]);
    expect(comparisonHours(start, new Date('2026-03-30T05:00:00Z'), calendar, 4)?.baseline).toBe('HOURS');
    expect(comparisonHours(start, new Date('2026-03-30T08:00:00Z'), calendar, 4)).toBeNull();
  });
});

describe('sales alerts on simulated traffic', () => {
  it.each([17, 23, 99])(
    'raises nothing on a normal day, nor on any day judged against days or weeks (seed %i)',
    async (seed) => {
      const shop = await openShop();
      await shop.log(simulate(HISTORY_DAYS + 1, seed));
      await shop.catchUp();
      const alerts = await shop.alerts();
      expect(alerts.filter((a) => a.windowStart.getTime() >= lastDay).map(describeAlert)).toEqual([]);
      // The first three days can only be compared with the hours just before them, which a
      // morning's rise does not resemble; from the fourth on, a normal shop raises nothing.
      const judgedByHistory = alerts.filter((a) => a.baseline !== 'HOURS');
      expect(judgedByHistory.map(describeAlert)).toEqual([]);
      // Every hour of the last day was judged but the last, still open (its end is past the watermark).
      const { rows } = await shop.pool.query<{ closed_through: Date }>('SELECT closed_through FROM sales_alert_state');
      expect(rows[0]?.closed_through.toISOString()).toBe(new Date(hourOfLastDay(23)).toISOString());
    },
  );

  it('finds a broken checkout: orders and revenue drop for the hours it lasted, and nothing else', async () => {
    const shop = await openShop();
    const twist = { orderFactor: { from: hourOfLastDay(14), to: hourOfLastDay(16), factor: 0.1 } };
    await shop.log(simulate(HISTORY_DAYS + 1, 17, twist));
    await shop.catchUp();
    const lastDayAlerts = (await shop.alerts()).filter((a) => a.windowStart.getTime() >= lastDay);
    // Orders drop in both hours; revenue, whose history varies more (order values vary), may
    // stay within its noise in one of them. Nothing else of the day raises anything.
    const described = lastDayAlerts.map(describeAlert);
    expect(described).toContain(`${new Date(hourOfLastDay(14)).toISOString()} SALES_DROP ORDERS RAISED v1`);
    expect(described).toContain(`${new Date(hourOfLastDay(15)).toISOString()} SALES_DROP ORDERS RAISED v1`);
    for (const alert of lastDayAlerts) {
      expect(alert.kind).toBe('SALES_DROP');
      expect([hourOfLastDay(14), hourOfLastDay(15)]).toContain(alert.windowStart.getTime());
    }
    const orders = lastDayAlerts.find((a) => a.metric === 'ORDERS') as SalesAlert;
    expect(orders.baseline).toBe('WEEKS');
    expect(orders.samples).toBe(3);
    expect(Number(orders.observed)).toBeLessThan(Number(orders.expected) / 4);
    expect(orders.score).toBeLessThanOrEqual(-settings.sensitivity);
    expect(orders.currency).toBe('USD');
  });

  it('updates the alert when late purchases take the drop back, and queues each version for webhooks', async () => {
    const shop = await openShop();
    await shop.pool.query(
      `INSERT INTO webhook_endpoints (url, kinds, secret) VALUES
         ('https://alerts.example/hook', ARRAY['SALES_ALERT'], 'whsec_x'),
         ('https://stock.example/hook', ARRAY['STOCK_WARNING'], 'whsec_y')`,
    );
    const broken = { from: hourOfLastDay(14), to: hourOfLastDay(15), factor: 0.1 };
    const normal = simulate(HISTORY_DAYS + 1, 17);
    const withDrop = simulate(HISTORY_DAYS + 1, 17, { orderFactor: broken });
    await shop.log(withDrop);
    await shop.catchUp();
    const raised = (await shop.alerts()).filter((a) => a.windowStart.getTime() === broken.from);
    expect(raised.map(describeAlert).sort()).toEqual([
      `${new Date(broken.from).toISOString()} SALES_DROP ORDERS RAISED v1`,
      `${new Date(broken.from).toISOString()} SALES_DROP REVENUE RAISED v1`,
    ]);

    // The orders held back arrive late (a queue drained after the checkout came back).
    const logged = new Set(withDrop.map((e) => e.orderId));
    const missing = normal.filter(
      (e) => e.type === 'PURCHASE' && e.at >= broken.from && e.at < broken.to && !logged.has(e.orderId),
    );
    expect(missing.length).toBeGreaterThan(20);
    await shop.log(missing);
    await shop.catchUp();
    const corrected = (await shop.alerts()).filter((a) => a.windowStart.getTime() === broken.from);
    expect(corrected.map(describeAlert).sort()).toEqual([
      `${new Date(broken.from).toISOString()} SALES_DROP ORDERS CLEARED v2`,
      `${new Date(broken.from).toISOString()} SALES_DROP REVENUE CLEARED v2`,
    ]);

    // Cleared with the corrected numbers, not the ones it was raised with.
    const ordersNow = corrected.find((a) => a.metric === 'ORDERS') as SalesAlert;
    const ordersThen = raised.find((a) => a.metric === 'ORDERS') as SalesAlert;
    expect(Number(ordersNow.observed)).toBeGreaterThan(Number(ordersThen.observed) * 4);
    expect(ordersNow.score).toBeGreaterThan(-settings.sensitivity);
    expect(ordersNow.id).toBe(ordersThen.id);

    // Each version went to the endpoint that takes sales alerts, and only to it.
    const { rows } = await shop.pool.query<{ url: string; item_key: string; payload: Record<string, any> }>(
      `SELECT e.url, d.item_key, d.payload FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.payload->'data'->>'windowStart' = $1 ORDER BY d.id`,
      [new Date(broken.from).toISOString()],
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.url))).toEqual(new Set(['https://alerts.example/hook']));
    const orders = rows.filter((r) => r.payload.data.metric === 'ORDERS');
    expect(orders.map((r) => [r.payload.type, r.payload.data.status, r.payload.data.version])).toEqual([
      ['sales.alert', 'RAISED', 1],
      ['sales.alert', 'CLEARED', 2],
    ]);
    const revenue = rows.find((r) => r.payload.data.metric === 'REVENUE');
    expect(revenue?.payload.data.expected).toMatch(/^\d+\.\d\d$/);

    // Applying the same log again changes nothing: a late event that changes no verdict is quiet.
    await shop.catchUp();
    expect(
      (await shop.alerts()).filter((a) => a.windowStart.getTime() === broken.from).map(describeAlert),
    ).toHaveLength(2);
  });

  it('raises a spike in one product’s units, and judges the same whatever the batch sizes', async () => {
    const burst = { at: hourOfLastDay(11), product: 'p5', orders: 60 };
    const events = simulate(HISTORY_DAYS + 1, 23, { productBurst: burst });
    const results: string[][] = [];
    for (const batchSize of [700, 50_000]) {
      const shop = await openShop();
      await shop.log(events);
      await shop.catchUp(batchSize);
      const lastDayAlerts = (await shop.alerts()).filter((a) => a.windowStart.getTime() >= lastDay);
      results.push(lastDayAlerts.map((a) => `${describeAlert(a)} ${a.expected}→${a.observed} ${a.score}`).sort());
    }
    expect(results[0]).toEqual(results[1]);
    const spikes = (results[0] ?? []).filter((a) => a.includes('UNITS'));
    expect(spikes).toHaveLength(1);
    expect(spikes[0]).toContain(`${new Date(burst.at).toISOString()} SALES_SPIKE UNITS p5 RAISED v1`);
  });

  it('refuses a bad filter with a clear error', async () => {
    const shop = await openShop();
    await expect(readSalesAlertPage(shop.pool, { kinds: ['SALES_DIP' as never] }, {})).rejects.toThrow(
      /kinds must be among SALES_DROP, SALES_SPIKE, got SALES_DIP/,
    );
    await expect(
      readSalesAlertPage(shop.pool, { from: new Date('2026-02-02'), to: new Date('2026-02-01') }, {}),
    ).rejects.toThrow(/must not be after to/);
    await expect(readSalesAlertPage(shop.pool, {}, { first: 0 })).rejects.toThrow(/first must be/);
  });
});
