// Reading inventory back: stock levels (current state) and stock warnings (history, in feed
// order, so that the last page's endCursor can be handed to the subscription with no gap).
import { decodeCursor, START } from '../../feed/cursor.js';
import { type Queryable, readAfter } from '../../feed/feed.js';
import { checkCategory, inCategory } from '../catalogue/read.js';
import { InvalidInput } from '../errors.js';
import { checkPageSize, MAX_PAGE_SIZE, type Page } from '../paging.js';
import { type StockWarningFeedItem, stockWarningFeed } from './feed-source.js';
import type { StockLevel, StockWarningFilter } from './types.js';

/** Most product ids one filter may name. */
export const MAX_PRODUCT_IDS = 1000;

export type StockLevelQuery = {
  productIds?: readonly string[] | null;
  /** true: at or below the threshold (LOW or OUT); false: above it; null: both. */
  belowThreshold?: boolean | null;
  /** Only products in this catalogue category. */
  category?: string | null;
  /** Products whose level was never set are left out unless this is true. */
  includeUnset?: boolean;
  /** Page size, 1 to 500 (default 500), and the last productId of the previous page. */
  first?: number | null;
  after?: string | null;
};

/** Levels in productId order. */
export async function readStockLevels(
  db: Queryable,
  query: StockLevelQuery,
  options: { defaultThreshold: number },
): Promise<StockLevel[]> {
  checkProductIds(query.productIds);
  const params: unknown[] = [options.defaultThreshold, checkPageSize(query.first, MAX_PAGE_SIZE)];
  const conditions: string[] = [];
  const add = (sql: (n: number) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(params.length));
  };
  if (!query.includeUnset) conditions.push('s.quantity IS NOT NULL');
  if (query.productIds != null) add((n) => `s.product_id = ANY($${n}::text[])`, query.productIds);
  if (query.after != null) add((n) => `s.product_id > $${n}`, query.after);
  if (query.category != null) add((n) => inCategory('s.product_id', n), checkCategory(query.category));
  if (query.belowThreshold != null) {
    conditions.push(`${query.belowThreshold ? '' : 'NOT '}(s.quantity <= COALESCE(s.threshold, $1))`);
  }
  const { rows } = await db.query(
    `SELECT s.product_id, s.quantity, COALESCE(s.threshold, $1) AS threshold, s.updated_at
       FROM stock_levels s
      ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY s.product_id
      LIMIT $2`,
    params,
  );
  return rows.map((row) => ({
    productId: row.product_id as string,
    // The contract's quantity is Int!: a product whose level was never set shows 0 with isSet false.
    quantity: (row.quantity as number | null) ?? 0,
    threshold: row.threshold as number,
    isSet: row.quantity !== null,
    updatedAt: row.updated_at as Date,
  }));
}

export async function readStockWarningPage(
  db: Queryable,
  filter: StockWarningFilter,
  page: { first?: number | null; after?: string | null },
): Promise<Page<StockWarningFeedItem>> {
  checkProductIds(filter.productIds);
  const first = checkPageSize(page.first);
  const after = page.after ? decodeCursor(page.after) : START;
  if (filter.from != null && filter.to != null && filter.from > filter.to) {
    throw new InvalidInput('from must not be after to');
  }
  // One extra row tells whether there is a next page.
  const result = await readAfter(db, stockWarningFeed, after, { filter, limit: first + 1 });
  const items = result.items.slice(0, first);
  return {
    items,
    hasNextPage: result.items.length > first || result.heldBack,
    endCursor: items.at(-1)?.cursor ?? page.after ?? null,
  };
}

export function checkProductIds(productIds: readonly string[] | null | undefined): void {
  if (productIds != null && productIds.length > MAX_PRODUCT_IDS) {
    throw new InvalidInput(`productIds may name at most ${MAX_PRODUCT_IDS} products, got ${productIds.length}`);
  }
}
