import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crossing, crossingOf, type StockState, stockStateOf } from '../../src/core/inventory/crossing.js';
import { applyStockChanges } from '../../src/core/inventory/stock.js';
import { encodeCursor, START } from '../../src/feed/cursor.js';
import { closeAllClients, gql, subscribe, untilLive } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const RECORD = `mutation ($events: [InventoryEventInput!]!) {
  recordInventory(events: $events) { accepted duplicates errors { index eventId code message } }
}`;
const ACTIVITY = `mutation ($events: [ActivityEventInput!]!) { recordActivity(events: $events) { accepted duplicates } }`;
const LEVELS = `query ($ids: [ID!], $below: Boolean) {
  stockLevels(productIds: $ids, belowThreshold: $below) { productId quantity threshold isSet updatedAt }
}`;
const WARNINGS = `query ($ids: [ID!], $kinds: [StockWarningKind!], $first: Int, $after: String) {
  stockWarnings(productIds: $ids, kinds: $kinds, first: $first, after: $after) {
    edges { cursor node { cursor productId kind quantity threshold occurredAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const THRESHOLD = `mutation ($id: ID!, $threshold: Int!) {
  setStockThreshold(productId: $id, threshold: $threshold) { productId quantity threshold isSet }
}`;
const FOLLOW = `subscription ($ids: [ID!], $after: String) {
  stockWarnings(productIds: $ids, after: $after) { cursor productId kind quantity threshold }
}`;

type Warning = { productId: string; kind: string; quantity: number; threshold: number };
type Followed = { stockWarnings: Warning & { cursor: string } };

let server: TestServer;
let pool: pg.Pool;
let n = 0;
const id = (prefix: string) => `${prefix}-${++n}`;

beforeAll(async () => {
  server = await startTestServer({ env: { DB_POOL_SIZE: '10' } });
  pool = new pg.Pool({ connectionString: server.databaseUrl, max: 4 });
});
afterAll(async () => {
  await closeAllClients();
  await pool.end();
  await disposeAll();
});

const record = (events: unknown[]) => gql(server.url, RECORD, { events });
const level = (productId: string, quantity: number) => ({ eventId: id('e'), productId, quantity });
const delta = (productId: string, d: number) => ({ eventId: id('e'), productId, delta: d });
const purchase = (productId: string, quantity = 1) => ({
  eventId: id('buy'),
  userId: 'shopper',
  type: 'PURCHASE',
  productId,
  quantity,
  unitPrice: '1.00',
});
const levelsOf = async (ids: string[], below?: boolean) =>
  (await gql(server.url, LEVELS, { ids, below })).data?.stockLevels as Array<Record<string, unknown>>;
/**
 * The product's warnings, once the feed has settled: a committed row stays held back while an
 * older transaction anywhere on the PostgreSQL server is still open (invariant 5), and
 * hasNextPage says so.
 */
const warningsOf = async (ids: string[]): Promise<Warning[]> => {
  const deadline = Date.now() + 10_000;
  let result = await gql(server.url, WARNINGS, { ids, first: 500 });
  while (result.data?.stockWarnings.pageInfo.hasNextPage && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    result = await gql(server.url, WARNINGS, { ids, first: 500 });
  }
  expect(result.errors).toBeUndefined();
  expect(result.data?.stockWarnings.pageInfo.hasNextPage).toBe(false);
  return result.data?.stockWarnings.edges.map((e: any) => {
    const { productId, kind, quantity, threshold } = e.node;
    return { productId, kind, quantity, threshold };
  });
};
/** Replays a product's warnings from the beginning of the feed, then follows it live. */
const FROM_START = encodeCursor(START);

describe('recordInventory', () => {
  it('the seed scenario (101 → 100, 102 → 50, 103 → 0) gives one OUT_OF_STOCK for 103 and nothing for 101 or 102', async () => {
    const [p101, p102, p103] = [id('101'), id('102'), id('103')];
    const sub = subscribe<Followed>(server.wsUrl, FOLLOW, { ids: [p101, p102, p103], after: FROM_START });
    const result = await record([level(p101, 100), level(p102, 50), level(p103, 0)]);
    expect(result.data?.recordInventory).toEqual({ accepted: 3, duplicates: 0, errors: [] });

    expect(await levelsOf([p101, p102, p103])).toEqual([
      expect.objectContaining({ productId: p101, quantity: 100, threshold: 10, isSet: true }),
      expect.objectContaining({ productId: p102, quantity: 50, threshold: 10 }),
      expect.objectContaining({ productId: p103, quantity: 0, threshold: 10 }),
    ]);
    expect(await warningsOf([p101, p102, p103])).toEqual([
      { productId: p103, kind: 'OUT_OF_STOCK', quantity: 0, threshold: 10 },
    ]);
    const [live] = await sub.take(1);
    expect(live?.stockWarnings).toMatchObject({ productId: p103, kind: 'OUT_OF_STOCK', quantity: 0 });
    expect(sub.pending()).toBe(0);
    await sub.dispose();
  });

  it('applies absolute levels and adjustments in batch order and reports each crossing once, never per event', async () => {
    const p = id('p');
    await record([level(p, 20), delta(p, -12), delta(p, -1)]); // 20 → 8 (LOW) → 7
    await record([delta(p, -7), delta(p, 3)]); // 0 (OUT) → 3 (a partial restock: LOW again)
    await record([delta(p, 30), delta(p, -2), level(p, 5)]); // 33 (RESTOCKED) → 31 → 5 (LOW)
    expect(await warningsOf([p])).toEqual([
      { productId: p, kind: 'LOW_STOCK', quantity: 8, threshold: 10 },
      { productId: p, kind: 'OUT_OF_STOCK', quantity: 0, threshold: 10 },
      { productId: p, kind: 'LOW_STOCK', quantity: 3, threshold: 10 },
      { productId: p, kind: 'RESTOCKED', quantity: 33, threshold: 10 },
      { productId: p, kind: 'LOW_STOCK', quantity: 5, threshold: 10 },
    ]);
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: 5 })]);
  });

  it('a delta on a product whose level was never set starts from 0', async () => {
    const p = id('p');
    await record([delta(p, 40)]);
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: 40 })]);
    expect(await warningsOf([p])).toEqual([]);
  });

  it('stores the valid events of a mixed batch and reports each rejected one by index, as a dead letter', async () => {
    const p = id('p');
    const both = id('both');
    const result = await record([
      level(p, 30),
      { eventId: both, productId: p, quantity: 1, delta: 1 },
      { eventId: id('e'), productId: p },
      { eventId: id('e'), productId: p, quantity: -5 },
      { eventId: id('e'), productId: '', delta: 1 },
      { eventId: id('e'), productId: p, delta: 2_000_000_000 },
      { eventId: id('e'), productId: p, delta: 1, occurredAt: '2099-01-01T00:00:00Z' },
      delta(p, -3),
    ]);
    expect(result.errors).toBeUndefined();
    expect(result.data?.recordInventory).toEqual({
      accepted: 2,
      duplicates: 0,
      errors: [
        { index: 1, eventId: both, code: 'EXACTLY_ONE_OF_QUANTITY_AND_DELTA', message: expect.any(String) },
        {
          index: 2,
          eventId: expect.any(String),
          code: 'EXACTLY_ONE_OF_QUANTITY_AND_DELTA',
          message: expect.any(String),
        },
        { index: 3, eventId: expect.any(String), code: 'INVALID_LEVEL', message: expect.stringContaining('got -5') },
        { index: 4, eventId: expect.any(String), code: 'INVALID_PRODUCT_ID', message: expect.any(String) },
        {
          index: 5,
          eventId: expect.any(String),
          code: 'INVALID_DELTA',
          message: expect.stringContaining('2000000000'),
        },
        { index: 6, eventId: expect.any(String), code: 'OCCURRED_IN_FUTURE', message: expect.any(String) },
      ],
    });
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: 27 })]);
    const letters = await gql(
      server.url,
      '{ deadLetters(stream: inventory, first: 500) { eventId index code payload } }',
    );
    expect(letters.data?.deadLetters).toContainEqual(
      expect.objectContaining({ eventId: both, index: 1, code: 'EXACTLY_ONE_OF_QUANTITY_AND_DELTA' }),
    );
  });

  it('a repeated eventId changes nothing, within a batch and across batches', async () => {
    const p = id('p');
    const first = level(p, 50);
    const sub = delta(p, -45);
    const once = await record([first, sub, sub]);
    expect(once.data?.recordInventory).toEqual({ accepted: 2, duplicates: 1, errors: [] });
    const again = await record([sub, first]);
    expect(again.data?.recordInventory).toEqual({ accepted: 0, duplicates: 2, errors: [] });
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: 5 })]);
    expect((await warningsOf([p])).map((w) => w.kind)).toEqual(['LOW_STOCK']);
  });
});

describe('purchases', () => {
  it('a PURCHASE takes its quantity from stock, through the same crossing check', async () => {
    const p = id('p');
    await record([level(p, 12)]);
    const bought = await gql(server.url, ACTIVITY, { events: [purchase(p, 1), purchase(p, 1), purchase(p, 3)] });
    expect(bought.data?.recordActivity).toEqual({ accepted: 3, duplicates: 0 });
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: 7 })]);
    expect(await warningsOf([p])).toEqual([{ productId: p, kind: 'LOW_STOCK', quantity: 10, threshold: 10 }]);
  });

  it('a repeated purchase is not taken twice, and browsing changes no stock', async () => {
    const p = id('p');
    await record([level(p, 30)]);
    const buy = purchase(p, 4);
    await gql(server.url, ACTIVITY, { events: [buy, { ...purchase(p), type: 'BROWSE' }] });
    await gql(server.url, ACTIVITY, { events: [buy] });
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: 26 })]);
  });

  it('a purchase of a product whose stock was never set changes nothing and raises nothing', async () => {
    const p = id('unknown');
    const bought = await gql(server.url, ACTIVITY, { events: [purchase(p, 2)] });
    expect(bought.data?.recordActivity).toEqual({ accepted: 1, duplicates: 0 });
    expect(await levelsOf([p])).toEqual([]);
    expect(await warningsOf([p])).toEqual([]);
  });

  it('a purchase of more than is in stock is accepted and leaves a negative level (a backorder)', async () => {
    const p = id('p');
    await record([level(p, 2)]);
    await gql(server.url, ACTIVITY, { events: [purchase(p, 5)] });
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: -3 })]);
    expect(await warningsOf([p])).toEqual([
      { productId: p, kind: 'LOW_STOCK', quantity: 2, threshold: 10 },
      { productId: p, kind: 'OUT_OF_STOCK', quantity: -3, threshold: 10 },
    ]);
    await record([delta(p, 20)]); // restocking a backorder counts from the negative level
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: 17 })]);
    expect((await warningsOf([p])).at(-1)).toMatchObject({ kind: 'RESTOCKED', quantity: 17 });
  });
});

describe('setStockThreshold', () => {
  it('re-evaluates the product once: level 8 becomes LOW when the threshold goes from 5 to 10', async () => {
    const p = id('p');
    expect((await gql(server.url, THRESHOLD, { id: p, threshold: 5 })).data?.setStockThreshold).toEqual({
      productId: p,
      quantity: 0,
      threshold: 5,
      isSet: false,
    });
    await record([level(p, 8)]); // above 5: nothing
    expect(await warningsOf([p])).toEqual([]);
    const raised = await gql(server.url, THRESHOLD, { id: p, threshold: 10 });
    expect(raised.data?.setStockThreshold).toEqual({ productId: p, quantity: 8, threshold: 10, isSet: true });
    await gql(server.url, THRESHOLD, { id: p, threshold: 10 }); // the same again: no second warning
    await gql(server.url, THRESHOLD, { id: p, threshold: 7 }); // below 8 again: recovered
    expect(await warningsOf([p])).toEqual([
      { productId: p, kind: 'LOW_STOCK', quantity: 8, threshold: 10 },
      { productId: p, kind: 'RESTOCKED', quantity: 8, threshold: 7 },
    ]);
    await record([delta(p, -1)]); // 7 at threshold 7: LOW
    expect((await warningsOf([p])).at(-1)).toEqual({ productId: p, kind: 'LOW_STOCK', quantity: 7, threshold: 7 });
  });

  it('on a product never stocked it returns quantity 0, isSet false, raises nothing and lists nothing', async () => {
    const p = id('p');
    const set = await gql(server.url, THRESHOLD, { id: p, threshold: 3 });
    expect(set.data?.setStockThreshold).toEqual({ productId: p, quantity: 0, threshold: 3, isSet: false });
    expect(await levelsOf([p])).toEqual([]);
    expect(await warningsOf([p])).toEqual([]);
    await gql(server.url, ACTIVITY, { events: [purchase(p)] });
    expect(await levelsOf([p])).toEqual([]);
  });

  it('refuses a threshold out of range with BAD_USER_INPUT and changes nothing', async () => {
    const p = id('p');
    await record([level(p, 50)]);
    for (const threshold of [-1, 1_000_000_001]) {
      const result = await gql(server.url, THRESHOLD, { id: p, threshold });
      expect(result.errors?.[0]).toMatchObject({
        message: expect.stringContaining('threshold must be a whole number from 0 to 1000000000'),
        extensions: { code: 'BAD_USER_INPUT' },
      });
    }
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: 50, threshold: 10 })]);
  });
});

describe('stockLevels and stockWarnings queries', () => {
  it('stockLevels filters by product and by belowThreshold (at or below the threshold)', async () => {
    const [a, b, c] = [id('a'), id('b'), id('c')];
    await record([level(a, 10), level(b, 11), level(c, 0)]);
    const ids = [a, b, c];
    expect((await levelsOf(ids, true)).map((l) => l.productId)).toEqual([a, c]);
    expect((await levelsOf(ids, false)).map((l) => l.productId)).toEqual([b]);
    expect((await levelsOf(ids)).map((l) => l.productId)).toEqual([a, b, c]);
  });

  it('stockWarnings pages in feed order with first/after and filters by kind', async () => {
    const p = id('p');
    await record([level(p, 5), level(p, 50), level(p, 0), level(p, 50), level(p, 5)]);
    expect(await warningsOf([p])).toHaveLength(5);
    const page1 = await gql(server.url, WARNINGS, { ids: [p], first: 2 });
    expect(page1.data?.stockWarnings.edges.map((e: any) => e.node.kind)).toEqual(['LOW_STOCK', 'RESTOCKED']);
    expect(page1.data?.stockWarnings.pageInfo.hasNextPage).toBe(true);
    const page2 = await gql(server.url, WARNINGS, {
      ids: [p],
      first: 10,
      after: page1.data?.stockWarnings.pageInfo.endCursor,
    });
    expect(page2.data?.stockWarnings.edges.map((e: any) => e.node.kind)).toEqual([
      'OUT_OF_STOCK',
      'RESTOCKED',
      'LOW_STOCK',
    ]);
    expect(page2.data?.stockWarnings.pageInfo.hasNextPage).toBe(false);
    const restocks = await gql(server.url, WARNINGS, { ids: [p], kinds: ['RESTOCKED'] });
    expect(restocks.data?.stockWarnings.edges).toHaveLength(2);
    const bad = await gql(server.url, WARNINGS, { ids: [p], after: 'nonsense!' });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('stockWarnings subscription', () => {
  it('delivers live warnings of the requested products only', async () => {
    const [mine, other] = [id('mine'), id('other')];
    const sub = subscribe<Followed>(server.wsUrl, FOLLOW, { ids: [mine, 'marker-last', ...markers(100)] });
    await untilLive(
      sub,
      (marker) => record([{ eventId: id('m'), productId: marker, quantity: 0 }]),
      (data) => data.stockWarnings.productId,
    );
    await record([level(other, 0), level(mine, 3), level(other, 50), delta(mine, 20)]);
    const got = await sub.take(2);
    expect(got.map((d) => [d.stockWarnings.productId, d.stockWarnings.kind])).toEqual([
      [mine, 'LOW_STOCK'],
      [mine, 'RESTOCKED'],
    ]);
    expect(sub.pending()).toBe(0);
    await sub.dispose();
  });

  it('replays what was missed after a cursor, then goes live, with no gap and no duplicate', async () => {
    const p = id('p');
    await record([level(p, 5), level(p, 50), level(p, 0)]); // LOW, RESTOCKED, OUT
    expect(await warningsOf([p])).toHaveLength(3);
    const first = await gql(server.url, WARNINGS, { ids: [p], first: 1 });
    const after = first.data?.stockWarnings.pageInfo.endCursor;
    const writer = (async () => {
      for (let i = 0; i < 10; i++) await record([level(p, 50), level(p, 0)]); // RESTOCKED, OUT each
    })();
    const sub = subscribe<Followed>(server.wsUrl, FOLLOW, { ids: [p], after });
    await writer;
    const got = await sub.take(2 + 20);
    expect(got.map((d) => d.stockWarnings.kind)).toEqual([
      'RESTOCKED',
      'OUT_OF_STOCK',
      ...Array.from({ length: 10 }, () => ['RESTOCKED', 'OUT_OF_STOCK']).flat(),
    ]);
    const cursors = got.map((d) => d.stockWarnings.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
    await record([level(p, 50)]);
    expect((await sub.take(1))[0]?.stockWarnings.kind).toBe('RESTOCKED');
    expect(sub.pending()).toBe(0);
    await sub.dispose();
  });
});

describe('concurrency', () => {
  it('20 concurrent batches of deltas on one product lose no update and report exactly the crossings of the committed order', async () => {
    const p = id('hot');
    await record([level(p, 12)]);
    const random = seeded(42);
    const batches = Array.from({ length: 20 }, () =>
      Array.from({ length: 5 }, () => delta(p, [-7, -5, -3, 3, 5, 7][Math.floor(random() * 6)] as number)),
    );
    const sub = subscribe<Followed>(server.wsUrl, FOLLOW, { ids: [p], after: FROM_START });
    const results = await Promise.all(batches.map((events) => record(events)));
    expect(results.map((r) => r.data?.recordInventory.accepted)).toEqual(batches.map(() => 5));

    const sum = 12 + batches.flat().reduce((total, e) => total + e.delta, 0);
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: sum })]);

    // The processor applies the log in log order, (tx_id, seq): two appends in flight at once may
    // take interleaved seq values, so seq alone is not that order. Replaying the log order through
    // the pure rule gives the warnings.
    const { rows } = await pool.query(
      'SELECT quantity, delta FROM inventory_events WHERE product_id = $1 ORDER BY tx_id, seq',
      [p],
    );
    const expected: Warning[] = [];
    let current: number | null = null;
    for (const row of rows) {
      const next: number = row.quantity ?? (current ?? 0) + row.delta;
      const kind = crossing(current, next, 10);
      if (kind) expected.push({ productId: p, kind, quantity: next, threshold: 10 });
      current = next;
    }
    expect(current).toBe(sum);
    expect(expected.length).toBeGreaterThan(4); // the walk does cross back and forth
    expect(await warningsOf([p])).toEqual(expected);
    // The live stream carries the same list in the same order.
    const live = await sub.take(expected.length);
    expect(live.map((d) => d.stockWarnings.kind)).toEqual(expected.map((w) => w.kind));
    expect(sub.pending()).toBe(0);
    await sub.dispose();
  });

  it('concurrent purchases and adjustments on one product lose no update and keep the warnings a consistent path', async () => {
    const p = id('hot');
    await record([level(p, 15)]);
    const random = seeded(7);
    let sum = 15;
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 24; i++) {
      const units = 1 + Math.floor(random() * 6);
      if (i % 2 === 0) {
        sum -= units * 2;
        writes.push(gql(server.url, ACTIVITY, { events: [purchase(p, units), purchase(p, units)] }));
      } else {
        sum += units * 2;
        writes.push(record([delta(p, units), delta(p, units)]));
      }
    }
    await Promise.all(writes);
    expect(await levelsOf([p])).toEqual([expect.objectContaining({ quantity: sum })]);
    expectConsistentPath(await warningsOf([p]), stockStateOf(15, 10), sum);
  });

  it('a batch that waited for another one’s lock has its warnings placed after that one’s in the feed', async () => {
    const p = id('locked');
    await record([level(p, 12)]);
    const options = { defaultThreshold: 10, now: new Date() };
    const early = await pool.connect();
    const late = await pool.connect();
    try {
      // `early` takes its transaction id first but reaches the stock row last.
      await early.query('BEGIN');
      await early.query('SELECT pg_current_xact_id()');
      await late.query('BEGIN');
      await applyStockChanges(late, [{ kind: 'delta', productId: p, delta: -5, occurredAt: new Date() }], options);
      const earlyPid = (await early.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const waiting = applyStockChanges(
        early,
        [{ kind: 'delta', productId: p, delta: 10, occurredAt: new Date() }],
        options,
      );
      await until(async () => {
        const { rows } = await pool.query('SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1', [earlyPid]);
        return rows[0]?.wait_event_type === 'Lock';
      });
      await late.query('COMMIT'); // LOW_STOCK at 7
      await waiting; // RESTOCKED at 17
      await early.query('COMMIT');
    } finally {
      early.release();
      late.release();
    }
    expect(await warningsOf([p])).toEqual([
      { productId: p, kind: 'LOW_STOCK', quantity: 7, threshold: 10 },
      { productId: p, kind: 'RESTOCKED', quantity: 17, threshold: 10 },
    ]);
  });
});

/**
 * Warnings of one product are a path of the crossing rule: between two warnings the state can
 * only stay put, and each warning is the crossing into its level (every transition warns).
 * A missed, repeated or misordered warning breaks the path.
 */
function expectConsistentPath(warnings: Warning[], initial: StockState, finalLevel: number): void {
  const silent = (from: StockState): StockState[] => [from];
  let state = initial;
  for (const [i, warning] of warnings.entries()) {
    const into = stockStateOf(warning.quantity, warning.threshold);
    const legal = silent(state).some((before) => crossingOf(before, into) === warning.kind);
    expect(legal, `warning ${i} (${warning.kind} at ${warning.quantity}) does not follow ${state}`).toBe(true);
    state = into;
  }
  expect(silent(state)).toContain(stockStateOf(finalLevel, 10));
}

function markers(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `marker-${i}`);
}

/** A small deterministic PRNG (mulberry32), so a failure can be reproduced. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Polls a database condition (the state of another connection), with a deadline. */
async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('stock in event time (through the API)', () => {
  const at = (minutes: number) => new Date(Date.UTC(2026, 10, 30, 9, minutes)).toISOString();

  it('a late count older than the latest count changes nothing', async () => {
    const p = id('late-count');
    await record([{ ...level(p, 40), occurredAt: at(30) }]);
    await record([{ ...level(p, 90), occurredAt: at(10) }]);
    expect((await levelsOf([p]))[0]).toMatchObject({ quantity: 40 });
  });

  it('a late purchase that a newer count already includes is not taken twice, and raises no stale warning', async () => {
    const p = id('late-buy');
    await record([{ ...level(p, 12), occurredAt: at(0) }]);
    await record([{ ...level(p, 11), occurredAt: at(20) }]); // counted after the purchase below
    const bought = await gql(server.url, ACTIVITY, { events: [{ ...purchase(p, 5), occurredAt: at(10) }] });
    expect(bought.data?.recordActivity).toEqual({ accepted: 1, duplicates: 0 });
    expect((await levelsOf([p]))[0]).toMatchObject({ quantity: 11 });
    expect(await warningsOf([p])).toEqual([]);
  });

  it('a late count is the count plus the purchases after it', async () => {
    const p = id('late-plus');
    await record([{ ...level(p, 100), occurredAt: at(0) }]);
    await gql(server.url, ACTIVITY, { events: [{ ...purchase(p, 5), occurredAt: at(30) }] });
    await record([{ ...level(p, 50), occurredAt: at(20) }]);
    expect((await levelsOf([p]))[0]).toMatchObject({ quantity: 45 });
  });

  it('a partial restock from zero below the threshold is a LOW_STOCK', async () => {
    const p = id('out-low');
    await record([level(p, 2)]);
    await gql(server.url, ACTIVITY, { events: [purchase(p, 2)] });
    await record([delta(p, 3)]);
    expect((await warningsOf([p])).map((w) => `${w.kind}@${w.quantity}`)).toEqual([
      'LOW_STOCK@2',
      'OUT_OF_STOCK@0',
      'LOW_STOCK@3',
    ]);
  });

  it('an eventId resent with other content is rejected with EVENT_ID_CONFLICT and dead-lettered; stock is unchanged', async () => {
    const p = id('conflict');
    const first = level(p, 30);
    await record([first]);
    const resent = await record([level(p, 1), { ...first, quantity: 31 }]);
    expect(resent.data?.recordInventory).toMatchObject({
      accepted: 1,
      duplicates: 0,
      errors: [{ index: 1, eventId: first.eventId, code: 'EVENT_ID_CONFLICT' }],
    });
    const again = await record([first]);
    expect(again.data?.recordInventory).toMatchObject({ accepted: 0, duplicates: 1, errors: [] });
    const { rows } = await pool.query('SELECT code, payload FROM dead_letters WHERE event_id = $1', [first.eventId]);
    expect(rows).toEqual([{ code: 'EVENT_ID_CONFLICT', payload: { ...first, quantity: 31 } }]);
    expect((await levelsOf([p]))[0]).toMatchObject({ quantity: 1 });
  });
});

describe('ack', () => {
  const STORED = `mutation ($events: [InventoryEventInput!]!, $ack: IngestAck) {
    recordInventory(events: $events, ack: $ack) { accepted position }
  }`;

  it('ack PROCESSED answers only once the level and the warning are visible', async () => {
    const p = id('processed');
    for (let i = 0; i < 10; i++) {
      const result = await gql(server.url, STORED, { events: [level(p, i % 2 === 0 ? 5 : 50)], ack: 'PROCESSED' });
      expect(result.data?.recordInventory.accepted).toBe(1);
      // No waiting: the answer itself says the processors have passed the batch.
      const { rows } = await pool.query('SELECT quantity FROM stock_levels WHERE product_id = $1', [p]);
      expect(rows[0]?.quantity).toBe(i % 2 === 0 ? 5 : 50);
      const warnings = await pool.query('SELECT count(*)::int AS n FROM stock_warnings WHERE product_id = $1', [p]);
      expect(warnings.rows[0]?.n).toBe(i + 1);
    }
  });

  it('ack STORED answers at commit with the log position; the level follows', async () => {
    const p = id('stored');
    const result = await gql(server.url, STORED, { events: [level(p, 7)], ack: 'STORED' });
    expect(result.data?.recordInventory).toMatchObject({ accepted: 1, position: expect.any(String) });
    await expect.poll(async () => (await levelsOf([p]))[0]?.quantity, { timeout: 10_000 }).toBe(7);
  });
});
