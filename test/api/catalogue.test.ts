// The catalogue through the real server: recordProducts (validation, duplicates, conflicts, dead
// letters, event time), the `product { name category }` field of every type that names a
// product, and the category filters (topProducts, stockLevels, recommendations, sales by category).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/cli/simulate.js';
import { gql } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const RECORD = `mutation ($events: [ProductEventInput!]!, $ack: IngestAck) {
  recordProducts(events: $events, ack: $ack) { accepted duplicates errors { index eventId code message } position }
}`;
const PRODUCTS = `query ($ids: [ID!], $category: String, $first: Int, $after: ID) {
  products(productIds: $ids, category: $category, first: $first, after: $after) {
    productId name category listPrice currency occurredAt
  }
}`;
const ACTIVITY = `mutation ($events: [ActivityEventInput!]!) {
  recordActivity(events: $events) { accepted errors { code message } }
}`;
const INVENTORY = `mutation ($events: [InventoryEventInput!]!) {
  recordInventory(events: $events) { accepted errors { code message } }
}`;

type Product = {
  productId: string;
  name: string;
  category: string;
  listPrice: string | null;
  currency: string | null;
  occurredAt: string;
};

let server: TestServer;
let pool: pg.Pool;
let n = 0;
const id = (prefix: string) => `${prefix}-${++n}`;

beforeAll(async () => {
  server = await startTestServer();
  pool = new pg.Pool({ connectionString: server.databaseUrl, max: 2 });
});
afterAll(async () => {
  await pool.end();
  await disposeAll();
});

const entry = (productId: string, name: string, category: string, more: Record<string, unknown> = {}) => ({
  eventId: id('cat'),
  productId,
  name,
  category,
  ...more,
});
const recordProducts = (events: unknown[], ack?: string) => gql(server.url, RECORD, { events, ack });
const catalogue = async (events: unknown[]) => {
  const result = await recordProducts(events);
  expect(result.errors).toBeUndefined();
  expect(result.data?.recordProducts).toMatchObject({ accepted: events.length, errors: [] });
};
const productsOf = async (ids: string[]): Promise<Product[]> => {
  const result = await gql(server.url, PRODUCTS, { ids });
  expect(result.errors).toBeUndefined();
  return result.data?.products as Product[];
};
const activity = async (events: unknown[]) => {
  const result = await gql(server.url, ACTIVITY, { events });
  expect(result.errors).toBeUndefined();
  expect(result.data?.recordActivity.errors).toEqual([]);
};
const inventory = async (events: unknown[]) => {
  const result = await gql(server.url, INVENTORY, { events });
  expect(result.errors).toBeUndefined();
  expect(result.data?.recordInventory.errors).toEqual([]);
};
const query = async (text: string, variables: Record<string, unknown> = {}) => {
  const result = await gql(server.url, text, variables);
  expect(result.errors).toBeUndefined();
  return result.data as Record<string, any>;
};
const purchase = (productId: string, at: string, unitPrice = '10.00', quantity = 1) => ({
  eventId: id('buy'),
  userId: id('shopper'),
  type: 'PURCHASE',
  productId,
  quantity,
  unitPrice,
  occurredAt: at,
});

describe('recordProducts', () => {
  it('stores name, category and an exact list price, and answers once the catalogue shows them', async () => {
    const [mug, book, tea] = [id('mug'), id('book'), id('tea')];
    await catalogue([
      entry(mug, 'Blue mug', 'Kitchen', { listPrice: '12.50' }),
      entry(book, '  Dune  ', 'Books', { listPrice: '1500', currency: 'jpy' }),
      entry(tea, 'Green tea', 'Kitchen'),
    ]);
    expect(await productsOf([mug, book, tea, 'never-catalogued'])).toEqual([
      expect.objectContaining({ productId: book, name: 'Dune', category: 'Books', listPrice: '1500', currency: 'JPY' }),
      expect.objectContaining({ productId: mug, name: 'Blue mug', category: 'Kitchen', listPrice: '12.50' }),
      expect.objectContaining({ productId: tea, name: 'Green tea', listPrice: null, currency: null }),
    ]);
    expect((await productsOf([mug]))[0]?.currency).toBe('USD'); // DEFAULT_CURRENCY
  });

  it('rejects bad entries one by one with what and where, stores the valid ones, and keeps the rest as dead letters', async () => {
    const good = id('good');
    const bad = [
      entry(id('p'), '', 'Kitchen'),
      entry(id('p'), '   ', 'Kitchen'),
      entry(id('p'), 'x'.repeat(201), 'Kitchen'),
      entry(id('p'), 'Mug', ''),
      entry(id('p'), 'Mug', 'Kitchen', { listPrice: '-1.00' }),
      entry(id('p'), 'Mug', 'Kitchen', { listPrice: '1.999' }),
      entry(id('p'), 'Mug', 'Kitchen', { listPrice: '1.00', currency: 'DOLLARS' }),
      entry(id('p'), 'Mug', 'Kitchen', { currency: 'EUR' }),
      entry(id('p'), 'Mug\nLine', 'Kitchen'),
      entry('', 'Mug', 'Kitchen'),
    ];
    const result = await recordProducts([...bad, entry(good, 'Good mug', 'Kitchen')]);
    expect(result.errors).toBeUndefined();
    const report = result.data?.recordProducts;
    expect(report.accepted).toBe(1);
    expect(report.errors.map((e: { index: number; code: string }) => [e.index, e.code])).toEqual([
      [0, 'INVALID_NAME'],
      [1, 'INVALID_NAME'],
      [2, 'INVALID_NAME'],
      [3, 'INVALID_CATEGORY'],
      [4, 'INVALID_LIST_PRICE'],
      [5, 'TOO_MANY_DECIMALS'],
      [6, 'INVALID_CURRENCY'],
      [7, 'CURRENCY_WITHOUT_PRICE'],
      [8, 'CONTROL_CHARACTER'],
      [9, 'INVALID_PRODUCT_ID'],
    ]);
    expect(report.errors[5].message).toContain('1.999 USD');
    expect(report.errors[6].message).toContain('"DOLLARS"');
    expect(report.errors[8].message).toContain('name "Mug\\nLine" has U+000A at offset 3');
    expect(report.errors[0].eventId).toBe(bad[0]?.eventId);

    // Only the valid entry is in the catalogue; the rejected ones are dead letters of the catalogue stream.
    expect((await productsOf(bad.map((e) => e.productId).concat(good))).map((p) => p.productId)).toEqual([good]);
    const letters = await query('query { deadLetters(stream: catalogue, first: 50) { eventId code stream } }');
    expect(letters.deadLetters).toHaveLength(bad.length);
    expect(new Set(letters.deadLetters.map((l: { stream: string }) => l.stream))).toEqual(new Set(['catalogue']));
  });

  it('a price that is not a decimal string is refused as a whole, as for recordActivity', async () => {
    const result = await recordProducts([entry(id('p'), 'Mug', 'Kitchen', { listPrice: 12.5 })]);
    expect(result.errors?.[0]?.message).toContain('Money must be a decimal string');
  });

  it('a repeated eventId with the same content is a duplicate; with other content it is EVENT_ID_CONFLICT and changes nothing', async () => {
    const lamp = id('lamp');
    const first = entry(lamp, 'Desk lamp', 'Lighting', { listPrice: '30.00', occurredAt: '2026-11-01T10:00:00Z' });
    await catalogue([first]);
    const again = await recordProducts([first]);
    expect(again.data?.recordProducts).toMatchObject({ accepted: 0, duplicates: 1, errors: [] });

    const changed = { ...first, name: 'Floor lamp' };
    const conflict = await recordProducts([changed]);
    expect(conflict.data?.recordProducts.accepted).toBe(0);
    expect(conflict.data?.recordProducts.errors).toEqual([
      expect.objectContaining({ index: 0, eventId: first.eventId, code: 'EVENT_ID_CONFLICT' }),
    ]);
    // In one batch too: the second content for the same eventId is refused.
    const inBatch = await recordProducts([
      entry(lamp, 'A', 'B', { eventId: 'same-batch' }),
      entry(lamp, 'C', 'D', { eventId: 'same-batch' }),
    ]);
    expect(inBatch.data?.recordProducts.errors.map((e: { index: number; code: string }) => [e.index, e.code])).toEqual([
      [1, 'EVENT_ID_CONFLICT'],
    ]);
    const [stored] = await productsOf([lamp]);
    expect(stored?.name).toBe('A'); // 'same-batch' had no occurredAt: now, later than 2026-11-01
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM product_events WHERE product_id = $1', [lamp]);
    expect(rows[0].n).toBe(2);
  });

  it('a later entry wins; an older one arriving late does not overwrite the newer name', async () => {
    const chair = id('chair');
    await catalogue([
      entry(chair, 'Chair v2', 'Furniture', { occurredAt: '2026-11-20T12:00:00Z', listPrice: '99.00' }),
    ]);
    await catalogue([entry(chair, 'Chair v1', 'Seating', { occurredAt: '2026-11-10T12:00:00Z', listPrice: '80.00' })]);
    expect(await productsOf([chair])).toEqual([
      expect.objectContaining({
        name: 'Chair v2',
        category: 'Furniture',
        listPrice: '99.00',
        occurredAt: '2026-11-20T12:00:00.000Z',
      }),
    ]);
    // The late entry is kept in the log: it lost by event time, it was not refused.
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM product_events WHERE product_id = $1', [chair]);
    expect(rows[0].n).toBe(2);

    // Newer in event time wins, also within one batch, and without a price the price is gone.
    await catalogue([
      entry(chair, 'Chair v4', 'Furniture', { occurredAt: '2026-11-25T12:00:00Z' }),
      entry(chair, 'Chair v3', 'Furniture', { occurredAt: '2026-11-22T12:00:00Z', listPrice: '90.00' }),
    ]);
    expect(await productsOf([chair])).toEqual([expect.objectContaining({ name: 'Chair v4', listPrice: null })]);
  });

  it('at the same occurredAt, the entry later in the log wins', async () => {
    const desk = id('desk');
    const at = '2026-11-15T09:00:00Z';
    await catalogue([entry(desk, 'Desk A', 'Furniture', { occurredAt: at })]);
    await catalogue([entry(desk, 'Desk B', 'Furniture', { occurredAt: at })]);
    expect((await productsOf([desk]))[0]?.name).toBe('Desk B');
  });

  it('entries sent at once by many connections leave the newest in event time, whatever the commit order', async () => {
    const sofa = id('sofa');
    const days = Array.from({ length: 12 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    await Promise.all(
      days.map((d) =>
        catalogue([
          entry(sofa, `Sofa ${d}`, 'Furniture', { occurredAt: `2026-11-${String(d).padStart(2, '0')}T00:00:00Z` }),
        ]),
      ),
    );
    expect((await productsOf([sofa]))[0]?.name).toBe('Sofa 12');
  });
});

describe('product { name category } on every type that names a product', () => {
  it('stock levels, warnings and movements, activity, top products and recommendations show the name; unknown products show null', async () => {
    const [known, unknown] = [id('known'), id('unknown')];
    await catalogue([entry(known, 'Known thing', 'Things')]);
    await inventory([
      { eventId: id('inv'), productId: known, quantity: 5 },
      { eventId: id('inv'), productId: unknown, quantity: 5 },
    ]);
    const buyer = id('buyer');
    await activity([
      { eventId: id('a'), userId: buyer, type: 'BROWSE', productId: known },
      { eventId: id('a'), userId: buyer, type: 'BROWSE', productId: unknown },
    ]);

    const levels = await query(
      'query ($ids: [ID!]) { stockLevels(productIds: $ids) { productId product { name category } } }',
      { ids: [known, unknown] },
    );
    expect(levels.stockLevels).toEqual([
      { productId: known, product: { name: 'Known thing', category: 'Things' } },
      { productId: unknown, product: null },
    ]);
    // A committed warning may be held back a moment behind a transaction still open (invariant 5).
    const warningsQuery =
      'query ($ids: [ID!]) { stockWarnings(productIds: $ids) { edges { node { productId product { name } } } } }';
    let warnings = await query(warningsQuery, { ids: [known] });
    for (const deadline = Date.now() + 10_000; warnings.stockWarnings.edges.length === 0 && Date.now() < deadline; ) {
      warnings = await query(warningsQuery, { ids: [known] });
    }
    expect(warnings.stockWarnings.edges[0].node.product).toEqual({ name: 'Known thing' });
    const movements = await query(
      'query ($id: ID!) { stockMovements(productId: $id) { edges { node { product { name category } } } } }',
      { id: known },
    );
    expect(movements.stockMovements.edges[0].node.product).toEqual({ name: 'Known thing', category: 'Things' });
    const events = await query(
      'query ($user: ID) { userActivity(userId: $user) { edges { node { productId product { name } } } } }',
      { user: buyer },
    );
    expect(events.userActivity.edges.map((e: any) => e.node.product)).toEqual([{ name: 'Known thing' }, null]);
    const top = await query('query { topProducts(by: BROWSES, limit: 100) { productId product { name category } } }');
    expect(top.topProducts.find((s: { productId: string }) => s.productId === known).product).toEqual({
      name: 'Known thing',
      category: 'Things',
    });
    const recs = await query(
      'query ($user: ID!) { recommendations(userId: $user, limit: 50) { items { productId product { name } } } }',
      { user: id('newcomer') },
    );
    expect(recs.recommendations.items.length).toBeGreaterThan(0);
    for (const item of recs.recommendations.items) {
      const [p] = await productsOf([item.productId]);
      expect(item.product).toEqual(p ? { name: p.name } : null);
    }
  });

  it('a page of 500 stock levels resolves every product, each with its own name', async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `page-${String(i).padStart(3, '0')}`);
    for (let i = 0; i < ids.length; i += 250) {
      await catalogue(ids.slice(i, i + 250).map((p) => entry(p, `Name of ${p}`, 'Paged')));
      await inventory(ids.slice(i, i + 250).map((p) => ({ eventId: id('inv'), productId: p, quantity: 50 })));
    }
    const page = await query(
      'query ($ids: [ID!]) { stockLevels(productIds: $ids, first: 500) { productId product { name } } }',
      { ids },
    );
    expect(page.stockLevels).toHaveLength(500);
    for (const level of page.stockLevels) expect(level.product.name).toBe(`Name of ${level.productId}`);
  });
});

describe('category filters', () => {
  const day = '2026-11-27';
  it('topProducts(category:) ranks only the products of that category', async () => {
    const [pen, ink, cup] = [id('pen'), id('ink'), id('cup')];
    await catalogue([entry(pen, 'Pen', 'Office'), entry(ink, 'Ink', 'Office'), entry(cup, 'Cup', 'Kitchenware')]);
    await activity([
      purchase(cup, `${day}T10:00:00Z`, '50.00'),
      purchase(pen, `${day}T10:05:00Z`, '3.00'),
      purchase(ink, `${day}T10:10:00Z`, '7.00'),
      purchase(ink, `${day}T11:30:00Z`, '7.00'),
    ]);
    const top = await query(
      `query ($from: DateTime, $to: DateTime) {
         topProducts(by: REVENUE, from: $from, to: $to, category: "Office") { productId value product { name } }
       }`,
      { from: `${day}T00:00:00Z`, to: `${day}T23:59:00Z` },
    );
    expect(top.topProducts).toEqual([
      { productId: ink, value: '14.00', product: { name: 'Ink' } },
      { productId: pen, value: '3.00', product: { name: 'Pen' } },
    ]);
    const none = await query('query { topProducts(by: PURCHASES, category: "No such category") { productId } }');
    expect(none.topProducts).toEqual([]);
    const blank = await gql(server.url, 'query { topProducts(by: PURCHASES, category: "  ") { productId } }');
    expect(blank.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(blank.errors?.[0]?.message).toContain('category must be 1 to 100 characters');
  });

  it('stockLevels(category:) lists only that category, and follows a product that changes category', async () => {
    const [hat, cap, sock] = [id('hat'), id('cap'), id('sock')];
    await catalogue([entry(hat, 'Hat', 'Headwear'), entry(cap, 'Cap', 'Headwear'), entry(sock, 'Sock', 'Legwear')]);
    await inventory([hat, cap, sock].map((p) => ({ eventId: id('inv'), productId: p, quantity: 3 })));
    const levels = async () =>
      (
        await query(
          'query { stockLevels(category: "Headwear", belowThreshold: true) { productId product { category } } }',
        )
      ).stockLevels.map((l: { productId: string }) => l.productId);
    expect(await levels()).toEqual([cap, hat].sort());
    await catalogue([entry(cap, 'Cap', 'Sportswear')]);
    expect(await levels()).toEqual([hat]);
  });

  it('recommendations(category:) keeps only the list items of that category', async () => {
    const shopper = id('shopper');
    const partner = id('partner');
    const [seen, a, b, c] = [id('seen'), id('ra'), id('rb'), id('rc')];
    await catalogue([entry(a, 'A', 'Garden'), entry(b, 'B', 'Garden'), entry(c, 'C', 'Toys')]);
    await activity(
      [seen, a, b, c].map((p) => ({
        eventId: id('a'),
        userId: partner,
        type: 'PURCHASE',
        productId: p,
        unitPrice: '1.00',
      })),
    );
    await activity([{ eventId: id('a'), userId: shopper, type: 'BROWSE', productId: seen }]);
    const list = async (category?: string) =>
      (
        await query(
          'query ($user: ID!, $category: String) { recommendations(userId: $user, limit: 50, category: $category) { items { productId product { category } } } }',
          { user: shopper, category },
        )
      ).recommendations.items as Array<{ productId: string; product: { category: string } | null }>;
    const all = (await list()).map((i) => i.productId);
    expect(all).toEqual(expect.arrayContaining([a, b, c]));
    const garden = await list('Garden');
    expect(garden.map((i) => i.productId).sort()).toEqual([a, b].sort());
    expect(garden.every((i) => i.product?.category === 'Garden')).toBe(true);
    // The filtered list keeps the order of the whole list.
    expect(garden.map((i) => i.productId)).toEqual(all.filter((p) => p === a || p === b));
  });

  it('each sales window breaks its purchases down by category; they add up to the window, unknown products under null', async () => {
    const salesDay = '2026-11-26';
    const [shirt, jeans, mystery] = [id('shirt'), id('jeans'), id('mystery')];
    await catalogue([entry(shirt, 'Shirt', 'Apparel'), entry(jeans, 'Jeans', 'Apparel')]);
    await activity([
      purchase(shirt, `${salesDay}T08:00:00Z`, '19.99', 2),
      purchase(jeans, `${salesDay}T09:00:00Z`, '49.50'),
      purchase(mystery, `${salesDay}T09:30:00Z`, '0.01', 3),
      purchase(shirt, `${salesDay}T23:00:00Z`, '19.99'),
      purchase(shirt, `${salesDay}T08:15:00Z`, '2000', 1),
    ]);
    const sales = await query(
      `query ($from: DateTime!, $to: DateTime!) {
         sales(size: HOUR, from: $from, to: $to, currency: "USD") {
           start revenue units byCategory { category currency revenue units }
           apparel: byCategory(category: "Apparel") { revenue }
         }
       }`,
      { from: `${salesDay}T00:00:00Z`, to: `${salesDay}T23:59:00Z` },
    );
    const hours = sales.sales as Array<any>;
    expect(hours.map((w) => w.start)).toEqual([
      `${salesDay}T08:00:00.000Z`,
      `${salesDay}T09:00:00.000Z`,
      `${salesDay}T23:00:00.000Z`,
    ]);
    expect(hours[0].byCategory).toEqual([{ category: 'Apparel', currency: 'USD', revenue: '2039.98', units: 3 }]);
    expect(hours[1].byCategory).toEqual([
      { category: 'Apparel', currency: 'USD', revenue: '49.50', units: 1 },
      { category: null, currency: 'USD', revenue: '0.03', units: 3 },
    ]);
    expect(hours[1].apparel).toEqual([{ revenue: '49.50' }]);
    for (const w of hours) {
      const cents = w.byCategory.reduce((sum: number, c: any) => sum + Math.round(Number(c.revenue) * 100), 0);
      expect(cents).toBe(Math.round(Number(w.revenue) * 100));
      expect(w.byCategory.reduce((sum: number, c: any) => sum + c.units, 0)).toBe(w.units);
    }
    const day = await query(
      `query ($from: DateTime!, $to: DateTime!) {
         sales(size: DAY, from: $from, to: $to) { currency revenue byCategory(category: "Apparel") { revenue units } }
       }`,
      { from: `${salesDay}T00:00:00Z`, to: `${salesDay}T01:00:00Z` },
    );
    expect(day.sales).toEqual([
      { currency: 'USD', revenue: '2109.50', byCategory: [{ revenue: '2109.47', units: 5 }] },
    ]);
  });
});

describe('the simulator', () => {
  it('sends a catalogue entry for every product first, so the demo shows names', async () => {
    const summary = await runSimulation({
      url: server.url,
      rate: 10,
      durationSeconds: 0,
      shoppers: 5,
      products: 20,
      seed: 3,
    });
    expect(summary.problems).toEqual([]);
    const products = (
      await query(
        'query { products(productIds: ["p-1", "p-9", "p-20"]) { productId name category listPrice currency } }',
      )
    ).products as Product[];
    expect(products).toEqual([
      {
        productId: 'p-1',
        name: 'Classic Mug',
        category: 'Kitchen',
        listPrice: expect.stringMatching(/^\d+\.\d\d$/),
        currency: 'USD',
      },
      { productId: 'p-20', name: 'Compact Puzzle', category: 'Toys', listPrice: expect.any(String), currency: 'USD' },
      { productId: 'p-9', name: 'Blue Mug', category: 'Kitchen', listPrice: expect.any(String), currency: 'USD' },
    ]);
  });
});
