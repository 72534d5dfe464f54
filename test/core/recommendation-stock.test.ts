// Recommendations respect stock (src/core/recommendations/lists.ts, stock.ts) against a real
// database: a product known to be at 0 or less is never recommended, one with no known level
// still is, and stored lists change when a product they hold runs out and again when it is
// restocked. Signals, partner summaries, popularity and levels are written with SQL, so that each test states
// exactly the candidates it ranks.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../src/config.js';
import { createRecommendationBuilder, type RecommendationBuilder } from '../../src/core/recommendations/builder.js';
import { computeLists, storeChangedLists } from '../../src/core/recommendations/lists.js';
import { bucketOf } from '../../src/core/recommendations/popularity.js';
import { lockStockForBuild, queueStockRebuilds, type StockStateChange } from '../../src/core/recommendations/stock.js';
import type { Recommendation, RecommendationSettings } from '../../src/core/recommendations/types.js';
import { createDb, type Db } from '../../src/db/client.js';
import { type Tx, withTransaction } from '../../src/db/transaction.js';
import { createInProcessFanout, type Fanout } from '../../src/feed/fanout.js';
import type { FeedTopic } from '../../src/feed/topics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const NOW = new Date('2026-11-25T12:00:00Z');
const clock = { now: () => NOW };
const log = pino({ level: 'silent' });

let database: TestDatabase;
let config: Config;
let settings: RecommendationSettings;
let db: Db;
const published: FeedTopic[] = [];
let builder: RecommendationBuilder;

beforeAll(async () => {
  database = await createTestDatabase();
  config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
  settings = config.recommendations;
  db = await createDb(config, log);
  const fanout: Fanout = { ...createInProcessFanout(), publish: (topic) => published.push(topic) };
  builder = createRecommendationBuilder({ pool: db.pool, fanout, clock, settings, log });
});
afterAll(async () => {
  await builder?.stop();
  await db?.close();
  await database?.drop();
});

/** `user` recently acted on `source`, which goes with each partner at its score ("bought" pairs). */
async function related(user: string, source: string, partners: Record<string, number>): Promise<void> {
  await db.pool.query(
    `INSERT INTO user_product_signals (user_id, product_id, weight, last_at, carted, purchased)
     VALUES ($1, $2, 1, $3, true, false)`,
    [user, source, NOW.toISOString()],
  );
  const summary = Object.entries(partners).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  await db.pool.query(`INSERT INTO product_partners (product_id, kind, partners) VALUES ($1, 'bought', $2)`, [
    source,
    JSON.stringify(summary),
  ]);
}

/** Products popular at `at`, at these scores. */
async function popular(scores: Record<string, number>, at = NOW): Promise<void> {
  await db.pool.query(
    `INSERT INTO product_popularity (product_id, bucket_start, score)
     SELECT p, $3, s FROM unnest($1::text[], $2::float8[]) AS x(p, s)`,
    [Object.keys(scores), Object.values(scores), bucketOf(at).toISOString()],
  );
}

/** Sets levels as the inventory processor stores them (null: a row whose level was never set). */
async function setLevels(levels: Record<string, number | null>, on: Pick<Tx, 'query'> = db.pool): Promise<void> {
  await on.query(
    `INSERT INTO stock_levels (product_id, quantity) SELECT * FROM unnest($1::text[], $2::int[])
     ON CONFLICT (product_id) DO UPDATE SET quantity = EXCLUDED.quantity`,
    [Object.keys(levels), Object.values(levels)],
  );
}

/** What the inventory processor does in the batch that changes the levels. */
function stockBatch(levels: Record<string, number | null>, changes: StockStateChange[]): Promise<boolean> {
  return withTransaction(db.pool, async (tx) => {
    await setLevels(levels, tx);
    return queueStockRebuilds(tx, changes);
  });
}

async function listOf(
  user: string,
  options: Partial<RecommendationSettings> = {},
  now = NOW,
): Promise<Recommendation[]> {
  return (await computeLists(db.pool, [user], now, { ...settings, ...options })).get(user) ?? [];
}

async function stored(user: string): Promise<Recommendation[] | undefined> {
  const { rows } = await db.pool.query('SELECT items FROM recommendation_lists WHERE user_id = $1', [user]);
  return rows[0]?.items;
}

async function queued(users: string[]): Promise<string[]> {
  const { rows } = await db.pool.query(
    'SELECT user_id FROM recommendation_rebuilds WHERE user_id = ANY($1) ORDER BY user_id COLLATE "C"',
    [users],
  );
  return rows.map((row) => row.user_id);
}

async function holds(products: string[]): Promise<string[]> {
  const { rows } = await db.pool.query(
    `SELECT product_id || ':' || user_id AS hold FROM recommendation_stock_holds WHERE product_id = ANY($1)
      ORDER BY product_id COLLATE "C", user_id COLLATE "C"`,
    [products],
  );
  return rows.map((row) => row.hold);
}

async function storeList(user: string, products: string[]): Promise<void> {
  const items = products.map((productId, i) => ({ productId, score: products.length - i, reason: 'test' }));
  await storeChangedLists(db.pool, new Map([[user, items]]), NOW);
}

async function build(users: string[]): Promise<void> {
  await db.pool.query('INSERT INTO recommendation_rebuilds (user_id) SELECT unnest($1::text[])', [users]);
  await builder.settle();
}

const ids = (items: readonly Recommendation[] | undefined) => (items ?? []).map((i) => i.productId);
/** The test's own products (other tests' popular products fill lists too). */
const own = (prefix: string, items: readonly Recommendation[] | undefined) =>
  ids(items).filter((id) => id.startsWith(prefix));
/** Far from NOW: the first test's popular products are its own. */
const ELSEWHEN = new Date(NOW.getTime() - 30 * 24 * 3_600_000);

describe('recommendations respect stock', () => {
  it('a product at level 0 or below is never recommended, related or popular; one with no known level still is', async () => {
    await related('q-shopper', 'q-src', { 'q-zero': 9, 'q-unset': 3, 'q-norow': 2, 'q-stocked': 1 });
    await popular({ 'q-pop-back': 50, 'q-pop': 30, 'q-zero': 40 }, ELSEWHEN);
    await setLevels({ 'q-zero': 0, 'q-unset': null, 'q-stocked': 7, 'q-pop-back': -2, 'q-pop': 4 });

    const items = await listOf('q-shopper', {}, ELSEWHEN);
    expect(ids(items)).not.toContain('q-zero');
    expect(ids(items)).not.toContain('q-pop-back');
    // Ranked as if the products at 0 or less did not exist: scores and the popular floor are
    // those of the products left.
    expect(items).toEqual([
      { productId: 'q-unset', score: 3, reason: 'Often bought with q-src' },
      { productId: 'q-norow', score: 2, reason: 'Often bought with q-src' },
      { productId: 'q-stocked', score: 1, reason: 'Often bought with q-src' },
      { productId: 'q-pop', score: 0.5, reason: 'Popular right now' },
    ]);

    // Restocked, they are recommended again where they rank.
    await setLevels({ 'q-zero': 5, 'q-pop-back': 1 });
    expect(ids(await listOf('q-shopper', {}, ELSEWHEN))).toEqual([
      'q-zero',
      'q-unset',
      'q-norow',
      'q-stocked',
      'q-pop-back',
      'q-pop',
    ]);
  });

  it('a product out of stock does not take one of the K partner places: the next partner does', async () => {
    await related('k-shopper', 'k-src', { 'k-1': 4, 'k-2': 3, 'k-3': 2, 'k-4': 1 });
    await setLevels({ 'k-1': 0 });
    expect(own('k-', await listOf('k-shopper', { partnersPerProduct: 2 }))).toEqual(['k-2', 'k-3']);
  });

  it("the builder's stored list leaves out a product at 0, and keeps one with no known level", async () => {
    await related('b-shopper', 'b-src', { 'b-out': 5, 'b-unknown': 2, 'b-in': 1 });
    await setLevels({ 'b-out': 0, 'b-in': 3 });
    await build(['b-shopper']);
    expect(own('b-', await stored('b-shopper'))).toEqual(['b-unknown', 'b-in']);
    expect(await stored('b-shopper')).toEqual(await listOf('b-shopper'));
  });

  it('queueStockRebuilds queues exactly the shoppers whose list holds a product that ran out, records them, and queues them again on restock', async () => {
    const users = ['h-one', 'h-two', 'h-other', 'h-none'];
    await storeList('h-one', ['h-x', 'h-a']);
    await storeList('h-two', ['h-b', 'h-x', 'h-y']);
    await storeList('h-other', ['h-y', 'h-xx']); // a product id that only starts like h-x
    await storeList('h-none', []);

    // Ran out: its holders, once each, even with two products out at once.
    expect(
      await stockBatch({ 'h-x': 0, 'h-y': -1 }, [
        { productId: 'h-x', out: true },
        { productId: 'h-y', out: true },
      ]),
    ).toBe(true);
    expect(await queued(users)).toEqual(['h-one', 'h-other', 'h-two']);
    expect(await holds(['h-x', 'h-y'])).toEqual(['h-x:h-one', 'h-x:h-two', 'h-y:h-other', 'h-y:h-two']);
    await db.pool.query('DELETE FROM recommendation_rebuilds');

    // Came back (h-x only): its holders are queued again and its holds are gone; h-y's stay.
    expect(await stockBatch({ 'h-x': 2 }, [{ productId: 'h-x', out: false }])).toBe(true);
    expect(await queued(users)).toEqual(['h-one', 'h-two']);
    expect(await holds(['h-x', 'h-y'])).toEqual(['h-y:h-other', 'h-y:h-two']);
    await db.pool.query('DELETE FROM recommendation_rebuilds');

    // Nobody holds it, or nobody held it: nothing queued, nothing to publish.
    expect(await stockBatch({ 'h-lone': 0 }, [{ productId: 'h-lone', out: true }])).toBe(false);
    expect(await stockBatch({ 'h-x': 9 }, [{ productId: 'h-x', out: false }])).toBe(false);
    expect(await stockBatch({}, [])).toBe(false);
    expect(await queued(users)).toEqual([]);
    expect(await holds(['h-lone'])).toEqual([]);
  });

  it('queueStockRebuilds runs the same number of statements for one product as for two hundred', async () => {
    const count = async (changes: StockStateChange[]) =>
      withTransaction(db.pool, async (tx) => {
        let statements = 0;
        const counting = new Proxy(tx, {
          get: (target, key) =>
            key === 'query'
              ? (...args: Parameters<Tx['query']>) => {
                  statements++;
                  return (target.query as (...a: unknown[]) => unknown)(...args);
                }
              : Reflect.get(target, key),
        }) as Tx;
        await queueStockRebuilds(counting, changes);
        return statements;
      });
    const many = Array.from({ length: 200 }, (_, i) => `n-${i}`);
    for (const [i, product] of many.entries()) await storeList(`n-user-${i}`, [product]);
    const mixed = (products: string[]) => products.map((productId, i) => ({ productId, out: i % 2 === 0 }));
    expect(await count(mixed(many))).toBe(await count(mixed(['n-0', 'n-1'])));
    await db.pool.query('DELETE FROM recommendation_rebuilds');
  });

  it('after a run-out and a build the stored list no longer holds the product; after a restock and a build it does again', async () => {
    await related('r-shopper', 'r-src', { 'r-hot': 4, 'r-warm': 2 });
    await popular({ 'r-pop': 10 });
    await setLevels({ 'r-hot': 3 });
    await build(['r-shopper']);
    const before = await stored('r-shopper');
    expect(own('r-', before)).toEqual(['r-hot', 'r-warm', 'r-pop']);

    published.length = 0;
    expect(await stockBatch({ 'r-hot': 0 }, [{ productId: 'r-hot', out: true }])).toBe(true);
    await builder.settle();
    expect(own('r-', await stored('r-shopper'))).toEqual(['r-warm', 'r-pop']);
    expect(await stored('r-shopper')).toEqual(await listOf('r-shopper'));
    expect(published).toContain('recommendations:list');

    // Back to a low level (out → low) is back in stock.
    published.length = 0;
    expect(await stockBatch({ 'r-hot': 1 }, [{ productId: 'r-hot', out: false }])).toBe(true);
    await builder.settle();
    expect(await stored('r-shopper')).toEqual(before);
    expect(published).toContain('recommendations:list');
    expect(await holds(['r-hot'])).toEqual([]);
  });

  it('a run-out during a build waits for it, then finds the list it stored, so the list is rebuilt without the product', async () => {
    await related('w-shopper', 'w-src', { 'w-p': 2, 'w-q': 1 });
    await setLevels({ 'w-p': 5 });

    // A build in progress: it read the level (in stock) and stored a list holding w-p, not yet committed.
    const building = await db.pool.connect();
    let runOut: Promise<boolean> | undefined;
    try {
      await building.query('BEGIN');
      await lockStockForBuild(building);
      const lists = await computeLists(building, ['w-shopper'], NOW, settings);
      expect(own('w-', lists.get('w-shopper'))).toEqual(['w-p', 'w-q']);
      await storeChangedLists(building, lists, NOW);

      // w-p runs out meanwhile: the batch waits for the build instead of searching the lists now.
      runOut = stockBatch({ 'w-p': 0 }, [{ productId: 'w-p', out: true }]);
      await expect.poll(waitingForStockLock, { timeout: 10_000 }).toBe(1);
      await building.query('COMMIT');
    } finally {
      building.release();
    }
    expect(await runOut).toBe(true);
    expect(await queued(['w-shopper'])).toEqual(['w-shopper']);
    await builder.settle();
    expect(own('w-', await stored('w-shopper'))).toEqual(['w-q']);
  });
});

async function waitingForStockLock(): Promise<number> {
  const { rows } = await db.pool.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%recommendations:stock%'`,
  );
  return rows[0].n;
}
