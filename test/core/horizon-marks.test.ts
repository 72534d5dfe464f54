// The horizon marks (src/feed/feed.ts): a feed reader waits for every open transaction that may
// still write its table, and for no other. One marked NO_LOG_WRITES may write any feed, so it
// holds every feed back; one marked as writing only one feed table (the inventory and sales
// processors, the list builder) holds back that feed alone; one marked NO_FEED_WRITES (the
// recommendations and summaries processors) holds back none.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stockWarningFeed } from '../../src/core/inventory/feed-source.js';
import { NO_FEED_WRITES, NO_LOG_WRITES, readAfter, writesOnly } from '../../src/feed/feed.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const START = { txId: 0n, seq: 0n };

describe('horizon marks', () => {
  let db: TestDatabase;
  let reader: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase();
    reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
  });
  afterAll(async () => {
    await reader?.end();
    await db?.drop();
  });

  /** Opens a transaction with an id (it wrote a row of its own), under `mark` if given. */
  async function openWriter(mark: string | null) {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('BEGIN');
    if (mark) await client.query(`SELECT set_config('application_name', $1, true)`, [mark]);
    await client.query(`INSERT INTO recommendation_rebuilds (user_id) VALUES ('horizon-test')`);
    return {
      async end() {
        await client.query('ROLLBACK');
        await client.end();
      },
    };
  }

  /** Commits a stock warning after the open writer took its id. */
  async function commitWarning(productId: string) {
    await reader.query(
      `INSERT INTO stock_warnings (product_id, kind, quantity, threshold, occurred_at)
       VALUES ($1, 'LOW_STOCK', 3, 10, now())`,
      [productId],
    );
  }

  const seen = async (productId: string) => {
    const page = await readAfter(reader, stockWarningFeed, START, { limit: 100 });
    return { delivered: page.items.some((i) => i.productId === productId), heldBack: page.heldBack };
  };

  it.each([
    { mark: null, product: 'hm-unmarked' },
    { mark: NO_LOG_WRITES, product: 'hm-no-log' },
    { mark: writesOnly('stock_warnings'), product: 'hm-only-warnings' },
  ])('an open transaction marked $mark holds a later warning back until it ends', async ({ mark, product }) => {
    const writer = await openWriter(mark);
    await commitWarning(product);
    expect(await seen(product)).toEqual({ delivered: false, heldBack: true });
    await writer.end();
    expect((await seen(product)).delivered).toBe(true);
  });

  it.each([
    { mark: NO_FEED_WRITES, product: 'hm-no-feed' },
    { mark: writesOnly('sales_windows'), product: 'hm-only-sales' },
    { mark: writesOnly('recommendation_lists'), product: 'hm-only-lists' },
  ])('a transaction marked $mark does not hold a warning back', async ({ mark, product }) => {
    const writer = await openWriter(mark);
    try {
      await commitWarning(product);
      expect(await seen(product)).toEqual({ delivered: true, heldBack: false });
    } finally {
      await writer.end();
    }
  });
});
