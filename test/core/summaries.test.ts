// Activity summaries against a real database (src/core/activity/summaries.ts, processor.ts): the
// funnel is a true, ordered funnel over [from, to); topProducts, served from the hourly rollup for
// whole hours and from the log elsewhere, equals a GROUP BY over the log for any range, also while
// the processor lags. Events are written to the log with SQL and applied as the runner does: the
// processor's apply and the checkpoint in one transaction. Each test uses its own day.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activityLog } from '../../src/core/activity/log.js';
import { ACTIVITY_SUMMARIES, createActivitySummariesProcessor } from '../../src/core/activity/processor.js';
import { type ProductMetric, readFunnel, readTopProducts, type TimeRange } from '../../src/core/activity/summaries.js';
import type { ActivityType } from '../../src/core/activity/types.js';
import { createPgLogReader } from '../../src/core/processing/log.js';
import type { Entry } from '../../src/core/processing/runner.js';
import { withTransaction } from '../../src/db/transaction.js';
import { type Position, START } from '../../src/feed/cursor.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let pool: pg.Pool;
const processor = createActivitySummariesProcessor();

beforeAll(async () => {
  database = await createTestDatabase();
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
});
afterAll(async () => {
  await pool?.end();
  await database?.drop();
});

type Event = {
  user?: string;
  type: ActivityType;
  product?: string;
  at: string | Date;
  quantity?: number;
  priceMinor?: bigint;
  currency?: string;
};

let nextEventId = 0;

/** Appends events to the log, as ingest stores them (purchases default to 1 unit at 1.00 USD). */
async function log(events: readonly Event[]): Promise<void> {
  const purchase = (e: Event) => e.type === 'PURCHASE';
  await pool.query(
    `INSERT INTO activity_events (event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id,
                                  occurred_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::text[],
                          $8::text[], $9::timestamptz[])`,
    [
      events.map(() => `e${++nextEventId}`),
      events.map((e) => e.user ?? 'someone'),
      events.map((e) => e.type),
      events.map((e) => e.product ?? 'p'),
      events.map((e) => e.quantity ?? 1),
      events.map((e) => (purchase(e) ? (e.priceMinor ?? 100n).toString() : null)),
      events.map((e) => (purchase(e) ? (e.currency ?? 'USD') : null)),
      events.map(() => null),
      events.map((e) => new Date(e.at).toISOString()),
    ],
  );
}

/**
 * What the runner does for one batch: read the log after the checkpoint, apply, move the
 * checkpoint, in one transaction. Returns how many events were applied.
 */
async function applyBatch(limit = 10_000): Promise<number> {
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ tx_id: string; seq: string }>(
      `SELECT tx_id, seq FROM processor_checkpoints WHERE processor = $1 AND log = 'activity'`,
      [ACTIVITY_SUMMARIES],
    );
    const after: Position = rows[0] ? { txId: BigInt(rows[0].tx_id), seq: BigInt(rows[0].seq) } : START;
    const read = await createPgLogReader(tx).read(activityLog, after, { limit });
    const entries: Entry[] = read.entries.map((e) => ({ log: 'activity', position: e.position, event: e.event }));
    expect(await processor.apply(tx, entries)).toEqual([]);
    await tx.query(
      `INSERT INTO processor_checkpoints (processor, log, tx_id, seq) VALUES ($1, 'activity', $2, $3)
       ON CONFLICT (processor, log) DO UPDATE SET tx_id = EXCLUDED.tx_id, seq = EXCLUDED.seq`,
      [ACTIVITY_SUMMARIES, read.next.txId.toString(), read.next.seq.toString()],
    );
    return entries.length;
  });
}

/** Applies everything logged so far. */
async function catchUp(): Promise<void> {
  while ((await applyBatch()) > 0);
}

const range = (from: string | null, to: string | null): TimeRange => ({
  from: from === null ? null : new Date(from),
  to: to === null ? null : new Date(to),
});

async function funnel(from: string, to: string) {
  const { browsers, carters, purchasers, conversionRate } = await readFunnel(pool, range(from, to));
  return { browsers, carters, purchasers, conversionRate };
}

/** topProducts as `product:value`, as many as there are. */
async function top(by: ProductMetric, r: TimeRange, currency = 'USD'): Promise<string[]> {
  const stats = await readTopProducts(pool, { ...r, by, currency, limit: 100 });
  return stats.map((s) => `${s.productId}:${s.value}`);
}

/** The same ranking by a GROUP BY over the log alone (the pre-rollup query), values in minor units. */
async function topFromLog(by: ProductMetric, r: TimeRange, currency = 'USD'): Promise<string[]> {
  const value = {
    BROWSES: 'count(*)',
    CARTS: 'count(*)',
    PURCHASES: 'sum(quantity)',
    REVENUE: 'sum(quantity::bigint * unit_price_minor)',
  }[by];
  const type = { BROWSES: 'BROWSE', CARTS: 'ADD_TO_CART', PURCHASES: 'PURCHASE', REVENUE: 'PURCHASE' }[by];
  const { rows } = await pool.query<{ product_id: string; value: string }>(
    `SELECT product_id, ${value}::text AS value FROM activity_events
      WHERE type = $1 AND occurred_at >= $2 AND occurred_at < $3 AND ($4::text IS NULL OR currency = $4)
      GROUP BY product_id ORDER BY ${value} DESC, product_id`,
    [type, r.from?.toISOString() ?? '-infinity', r.to?.toISOString() ?? 'infinity', by === 'REVENUE' ? currency : null],
  );
  return rows.map((row) => `${row.product_id}:${row.value}`);
}

/** Revenue in minor units as topProducts formats it for a two-decimal currency. */
const usd = (minor: bigint) => `${minor / 100n}.${(minor % 100n).toString().padStart(2, '0')}`;

async function expectTopEqualsLog(r: TimeRange): Promise<void> {
  for (const by of ['BROWSES', 'CARTS', 'PURCHASES'] as const) {
    expect(await top(by, r), by).toEqual(await topFromLog(by, r));
  }
  const revenue = (await topFromLog('REVENUE', r)).map((s) => {
    const [product, minor] = s.split(':');
    return `${product}:${usd(BigInt(minor as string))}`;
  });
  expect(await top('REVENUE', r)).toEqual(revenue);
}

describe('funnel', () => {
  const day = (time: string) => `2026-03-01T${time}Z`;
  const from = day('00:00:00');
  const to = '2026-03-02T00:00:00Z';

  it('a shopper who browses, carts, then buys counts at every step', async () => {
    await log([
      { user: 'ann', type: 'BROWSE', at: day('10:00:00') },
      { user: 'ann', type: 'ADD_TO_CART', at: day('10:05:00') },
      { user: 'ann', type: 'PURCHASE', at: day('10:10:00') },
    ]);
    expect(await funnel(from, to)).toEqual({ browsers: 1, carters: 1, purchasers: 1, conversionRate: 1 });
  });

  it('a shopper who carts without browsing is not a carter, and buying then makes no purchaser', async () => {
    const d = (time: string) => `2026-03-02T${time}Z`;
    await log([
      { user: 'bob', type: 'ADD_TO_CART', at: d('10:00:00') },
      { user: 'bob', type: 'PURCHASE', at: d('10:05:00') },
    ]);
    expect(await funnel(d('00:00:00'), d('23:00:00'))).toEqual({
      browsers: 0,
      carters: 0,
      purchasers: 0,
      conversionRate: 0,
    });
  });

  it('a cart before the first browse does not count; a later cart does', async () => {
    const d = (time: string) => `2026-03-03T${time}Z`;
    await log([
      // Carted, then browsed, then bought: never carted after browsing.
      { user: 'cat', type: 'ADD_TO_CART', at: d('09:00:00') },
      { user: 'cat', type: 'BROWSE', at: d('09:10:00') },
      { user: 'cat', type: 'PURCHASE', at: d('09:20:00') },
      // The same start, then a cart after the browse: a carter and a purchaser.
      { user: 'dan', type: 'ADD_TO_CART', at: d('09:00:00') },
      { user: 'dan', type: 'BROWSE', at: d('09:10:00') },
      { user: 'dan', type: 'ADD_TO_CART', at: d('09:15:00') },
      { user: 'dan', type: 'PURCHASE', at: d('09:20:00') },
    ]);
    expect(await funnel(d('00:00:00'), d('23:00:00'))).toEqual({
      browsers: 2,
      carters: 1,
      purchasers: 1,
      conversionRate: 0.5,
    });
  });

  it('a purchase before the first qualifying cart does not count', async () => {
    const d = (time: string) => `2026-03-04T${time}Z`;
    await log([
      // Bought before carting (a direct buy), carted afterwards: not a purchaser.
      { user: 'eve', type: 'BROWSE', at: d('09:00:00') },
      { user: 'eve', type: 'PURCHASE', at: d('09:05:00') },
      { user: 'eve', type: 'ADD_TO_CART', at: d('09:10:00') },
      // A cart before the browse does not start the funnel: the purchase between them is before
      // the first qualifying cart.
      { user: 'fay', type: 'ADD_TO_CART', at: d('09:00:00') },
      { user: 'fay', type: 'BROWSE', at: d('09:05:00') },
      { user: 'fay', type: 'PURCHASE', at: d('09:10:00') },
      { user: 'fay', type: 'ADD_TO_CART', at: d('09:15:00') },
    ]);
    expect(await funnel(d('00:00:00'), d('23:00:00'))).toEqual({
      browsers: 2,
      carters: 2,
      purchasers: 0,
      conversionRate: 0,
    });
  });

  it('steps at the same instant count: at or after, not strictly after', async () => {
    const d = (time: string) => `2026-03-05T${time}Z`;
    await log([
      { user: 'gus', type: 'BROWSE', at: d('09:00:00') },
      { user: 'gus', type: 'ADD_TO_CART', at: d('09:00:00') },
      { user: 'gus', type: 'PURCHASE', at: d('09:00:00') },
    ]);
    expect(await funnel(d('00:00:00'), d('23:00:00'))).toMatchObject({ browsers: 1, carters: 1, purchasers: 1 });
  });

  it('only events in [from, to) count: a browse before from starts no funnel', async () => {
    const d = (time: string) => `2026-03-06T${time}Z`;
    await log([
      { user: 'hal', type: 'BROWSE', at: d('09:59:59.999') },
      { user: 'hal', type: 'ADD_TO_CART', at: d('10:00:00') },
      { user: 'hal', type: 'PURCHASE', at: d('10:30:00') },
      { user: 'ida', type: 'BROWSE', at: d('10:00:00') },
      { user: 'ida', type: 'ADD_TO_CART', at: d('10:30:00') },
      // At `to`: outside.
      { user: 'ida', type: 'PURCHASE', at: d('11:00:00') },
    ]);
    expect(await funnel(d('10:00:00'), d('11:00:00'))).toEqual({
      browsers: 1,
      carters: 1,
      purchasers: 0,
      conversionRate: 0,
    });
  });

  it('every step is at most the one before and the rate at most 1, as the ordered definition says', async () => {
    const d = (minute: number) => new Date(Date.UTC(2026, 2, 7, 12, minute));
    const random = mulberry32(7);
    const types: ActivityType[] = ['BROWSE', 'ADD_TO_CART', 'REMOVE_FROM_CART', 'PURCHASE'];
    const events: Event[] = [];
    for (let i = 0; i < 600; i++) {
      events.push({
        user: `r${Math.floor(random() * 80)}`,
        type: types[Math.floor(random() * types.length)] as ActivityType,
        // Whole minutes over two hours, so that many steps share an instant.
        at: d(Math.floor(random() * 120)),
      });
    }
    await log(events);
    const [from, to] = [d(20), d(100)];
    const result = await funnel(from.toISOString(), to.toISOString());
    expect(result).toEqual(funnelByDefinition(events, from, to));
    expect(result.carters).toBeLessThanOrEqual(result.browsers);
    expect(result.purchasers).toBeLessThanOrEqual(result.carters);
    expect(result.conversionRate).toBeLessThanOrEqual(1);
    expect(result.browsers).toBeGreaterThan(result.carters);
    expect(result.carters).toBeGreaterThan(result.purchasers);
    expect(result.purchasers).toBeGreaterThan(0);
  });
});

/** The funnel computed shopper by shopper from its definition. */
function funnelByDefinition(events: readonly Event[], from: Date, to: Date) {
  const inRange = events.filter((e) => new Date(e.at) >= from && new Date(e.at) < to);
  const first = (user: string, type: ActivityType, notBefore: number) => {
    const times = inRange
      .filter((e) => e.user === user && e.type === type && new Date(e.at).getTime() >= notBefore)
      .map((e) => new Date(e.at).getTime());
    return times.length === 0 ? null : Math.min(...times);
  };
  let browsers = 0;
  let carters = 0;
  let purchasers = 0;
  for (const user of new Set(inRange.map((e) => e.user as string))) {
    const browse = first(user, 'BROWSE', -Infinity);
    if (browse === null) continue;
    browsers++;
    const cart = first(user, 'ADD_TO_CART', browse);
    if (cart === null) continue;
    carters++;
    if (first(user, 'PURCHASE', cart) !== null) purchasers++;
  }
  return { browsers, carters, purchasers, conversionRate: browsers === 0 ? 0 : purchasers / browsers };
}

/** A small seeded generator, so that the mixed population is the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('topProducts', () => {
  /** Events in every hour from 09:00 to 15:00, also just inside and outside 10:20 and 14:40. */
  function spread(date: string): Event[] {
    const at = (time: string) => `${date}T${time}Z`;
    const events: Event[] = [];
    const times = [
      '09:30:00',
      '10:00:00',
      '10:19:59.999',
      '10:20:00',
      '10:59:59.999',
      '11:00:00',
      '12:30:00',
      '13:59:59.999',
      '14:00:00',
      '14:39:59.999',
      '14:40:00',
      '14:59:59.999',
      '15:10:00',
    ];
    times.forEach((time, i) => {
      const product = `p${i % 4}`;
      events.push({ type: 'BROWSE', product, at: at(time) });
      if (i % 2 === 0) events.push({ type: 'ADD_TO_CART', product, at: at(time) });
      if (i % 3 === 0) events.push({ type: 'REMOVE_FROM_CART', product, at: at(time) });
      if (i % 3 !== 1) {
        events.push({ type: 'PURCHASE', product, at: at(time), quantity: 1 + (i % 5), priceMinor: 199n + BigInt(i) });
      }
      // Another currency, never in USD revenue; its units are purchases all the same.
      if (i % 4 === 3) events.push({ type: 'PURCHASE', product, at: at(time), quantity: 2, currency: 'EUR' });
    });
    return events;
  }

  it('is exact for a range with partial hours at both edges: equal to a GROUP BY over the log', async () => {
    await log(spread('2026-04-01'));
    await catchUp();
    const r = range('2026-04-01T10:20:00Z', '2026-04-01T14:40:00Z');
    await expectTopEqualsLog(r);
    // The values are the edge events in the range plus the whole hours 11:00 to 14:00.
    expect(await top('BROWSES', r)).toEqual(['p0:2', 'p1:2', 'p3:2', 'p2:1']);
    // Other ranges over the same hours: within one hour, from or to a whole hour, unbounded.
    for (const [from, to] of [
      ['2026-04-01T10:20:00Z', '2026-04-01T10:59:00Z'],
      ['2026-04-01T11:00:00Z', '2026-04-01T14:00:00Z'],
      ['2026-04-01T10:00:00Z', '2026-04-01T14:40:00Z'],
      ['2026-04-01T14:40:00Z', '2026-04-01T14:40:00Z'],
      ['2026-04-01T10:20:00Z', null],
      [null, '2026-04-01T14:40:00Z'],
      [null, null],
    ] as const) {
      await expectTopEqualsLog(range(from, to));
    }
  });

  it('serves whole hours from the rollup and partial hours from the log', async () => {
    await log([
      { type: 'BROWSE', product: 'edge', at: '2026-04-02T10:30:00Z' },
      { type: 'BROWSE', product: 'whole', at: '2026-04-02T11:30:00Z' },
    ]);
    await catchUp();
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // Seen only through the rollup: the whole hour changes, the partial one does not.
      await client.query(
        `UPDATE product_activity_hourly SET browses = browses + 10 WHERE hour >= '2026-04-02' AND hour < '2026-04-03'`,
      );
      const stats = await readTopProducts(client, {
        ...range('2026-04-02T10:15:00Z', '2026-04-02T12:00:00Z'),
        by: 'BROWSES',
        currency: 'USD',
      });
      expect(stats.map((s) => `${s.productId}:${s.value}`)).toEqual(['whole:11', 'edge:1']);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('stays exact while the processor lags behind the log, and after it catches up', async () => {
    const r = range('2026-04-03T10:20:00Z', '2026-04-03T14:40:00Z');
    await log(spread('2026-04-03'));
    // Not applied at all: the whole hours come from the log after the checkpoint.
    await expectTopEqualsLog(r);
    // Applied in part: the rollup holds some events, the log the rest, none twice.
    await applyBatch(7);
    await expectTopEqualsLog(r);
    await catchUp();
    await expectTopEqualsLog(r);
  });

  it('sums revenue per currency in exact minor units, far beyond where a double is exact', async () => {
    const at = '2026-04-04T12:00:00Z';
    await log([
      // 10^15 × 999 + 10^15 × 1000 + 1: about 2 × 10^18, exact to the cent.
      { type: 'PURCHASE', product: 'yacht', at, priceMinor: 10n ** 15n, quantity: 999 },
      { type: 'PURCHASE', product: 'yacht', at, priceMinor: 10n ** 15n, quantity: 1000 },
      { type: 'PURCHASE', product: 'yacht', at, priceMinor: 1n },
      // 0.10 + 0.20 is 0.30 in minor units.
      { type: 'PURCHASE', product: 'gum', at, priceMinor: 10n },
      { type: 'PURCHASE', product: 'gum', at, priceMinor: 20n },
      { type: 'PURCHASE', product: 'gum', at, priceMinor: 500n, currency: 'JPY', quantity: 3 },
      { type: 'PURCHASE', product: 'tea', at, priceMinor: 700n, currency: 'JPY' },
    ]);
    await catchUp();
    const r = range('2026-04-04T00:00:00Z', '2026-04-05T00:00:00Z');
    expect(await top('REVENUE', r)).toEqual(['yacht:19990000000000000.01', 'gum:0.30']);
    expect(await top('REVENUE', r, 'jpy')).toEqual(['gum:1500', 'tea:700']);
    expect(await top('PURCHASES', r)).toEqual(['yacht:2000', 'gum:5', 'tea:1']);
    const { rows } = await pool.query<{ currency: string; revenue_minor: string }>(
      `SELECT currency, revenue_minor::text FROM product_activity_hourly
        WHERE product_id = 'yacht' AND hour = '2026-04-04T12:00:00Z'`,
    );
    expect(rows).toEqual([{ currency: 'USD', revenue_minor: '1999000000000000001' }]);
  });

  it('applying two batches adds up to the log: browses and carts on the row without currency, purchases on theirs', async () => {
    const at = (time: string) => `2026-04-05T${time}Z`;
    await log([
      { type: 'BROWSE', product: 'kite', at: at('08:10:00') },
      { type: 'ADD_TO_CART', product: 'kite', at: at('08:20:00') },
      { type: 'REMOVE_FROM_CART', product: 'kite', at: at('08:25:00') },
      { type: 'PURCHASE', product: 'kite', at: at('08:30:00'), quantity: 2, priceMinor: 1500n },
      { type: 'PURCHASE', product: 'kite', at: at('08:40:00'), priceMinor: 900n, currency: 'EUR' },
    ]);
    await catchUp();
    await log([
      { type: 'BROWSE', product: 'kite', at: at('08:50:00') },
      { type: 'BROWSE', product: 'kite', at: at('09:00:00') },
      { type: 'ADD_TO_CART', product: 'kite', at: at('08:55:00') },
      { type: 'PURCHASE', product: 'kite', at: at('08:59:59.999'), quantity: 3, priceMinor: 1500n },
    ]);
    await catchUp();
    const { rows } = await pool.query(
      `SELECT to_char(hour AT TIME ZONE 'UTC', 'HH24:MI') AS hour, currency, browses::int, carts::int, units::int,
              revenue_minor::text
         FROM product_activity_hourly WHERE product_id = 'kite' ORDER BY hour, currency`,
    );
    expect(rows).toEqual([
      { hour: '08:00', currency: '', browses: 2, carts: 2, units: 0, revenue_minor: '0' },
      { hour: '08:00', currency: 'EUR', browses: 0, carts: 0, units: 1, revenue_minor: '900' },
      { hour: '08:00', currency: 'USD', browses: 0, carts: 0, units: 5, revenue_minor: '7500' },
      { hour: '09:00', currency: '', browses: 1, carts: 0, units: 0, revenue_minor: '0' },
    ]);
    await expectTopEqualsLog(range('2026-04-05T00:00:00Z', '2026-04-06T00:00:00Z'));
  });
});
