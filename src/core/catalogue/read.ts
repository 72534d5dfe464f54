// Reading the catalogue back: products by id (batched: one query for a page of any size), the
// catalogue page by page, and each sales window's revenue per category.
import type { Queryable } from '../../feed/feed.js';
import { InvalidInput } from '../errors.js';
import { checkPageSize } from '../paging.js';
import { formatMoney } from '../sales/money.js';
import type { Product } from './types.js';
import { MAX_CATEGORY_LENGTH } from './validate.js';

/** Most product ids one query may name (as stockLevels). */
const MAX_PRODUCT_IDS = 1000;

const COLUMNS = 'p.product_id, p.name, p.category, p.list_price_minor, p.currency, p.occurred_at, p.updated_at';

/** The catalogue's products among `productIds`; an id the catalogue does not know is absent. */
export async function readProducts(db: Queryable, productIds: readonly string[]): Promise<Map<string, Product>> {
  const products = new Map<string, Product>();
  if (productIds.length === 0) return products;
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM products p WHERE p.product_id = ANY($1::text[])`, [
    [...new Set(productIds)],
  ]);
  for (const row of rows) products.set(row.product_id, productOf(row));
  return products;
}

export type ProductQuery = {
  productIds?: readonly string[] | null;
  category?: string | null;
  /** Page size, 1 to 500 (default 50), and the last productId of the previous page. */
  first?: number | null;
  after?: string | null;
};

/** Products in productId order. */
export async function listProducts(db: Queryable, query: ProductQuery): Promise<Product[]> {
  if (query.productIds != null && query.productIds.length > MAX_PRODUCT_IDS) {
    throw new InvalidInput(`productIds may name at most ${MAX_PRODUCT_IDS} products, got ${query.productIds.length}`);
  }
  const params: unknown[] = [checkPageSize(query.first, 50)];
  const conditions: string[] = [];
  const add = (sql: (n: number) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(params.length));
  };
  if (query.productIds != null) add((n) => `p.product_id = ANY($${n}::text[])`, query.productIds);
  if (query.category != null) add((n) => `p.category = $${n}`, checkCategory(query.category));
  if (query.after != null) add((n) => `p.product_id > $${n}`, query.after);
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM products p
      ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY p.product_id LIMIT $1`,
    params,
  );
  return rows.map(productOf);
}

/**
 * A category argument as stored (trimmed). Checked like a catalogue entry's, so a typo'd filter
 * that can never match (empty, too long) is an error rather than an empty answer.
 */
export function checkCategory(category: string): string {
  const trimmed = category.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_CATEGORY_LENGTH) {
    throw new InvalidInput(`category must be 1 to ${MAX_CATEGORY_LENGTH} characters, got ${JSON.stringify(category)}`);
  }
  return trimmed;
}

/**
 * SQL that holds when the product in `column` is in the category of parameter `$n` (by the
 * catalogue now; a product the catalogue does not know is in no category). Uses the products
 * primary key per row, or products_category_product_id_idx when the planner starts from the category.
 */
export function inCategory(column: string, n: number): string {
  return `EXISTS (SELECT 1 FROM products cat WHERE cat.product_id = ${column} AND cat.category = $${n})`;
}

/** Most windows one call asks about (a sales query answers at most 10,000). */
export const MAX_CATEGORY_WINDOWS = 10_000;

export type CategorySalesWindow = { start: Date; end: Date; currency: string };

/** One category's share of a sales window: `category` null for products the catalogue does not know. */
export type CategorySales = { category: string | null; currency: string; revenue: string; units: number };

/**
 * Revenue and units per category of the purchases in each window ([start, end), its currency), by
 * each product's category in the catalogue now, biggest revenue first. Counted up to the sales
 * processor's checkpoint in the activity log, so a window's categories add up to its own revenue
 * and units as the processor has them. One query for all the windows of a page.
 */
export async function readCategorySales(
  db: Queryable,
  windows: readonly CategorySalesWindow[],
): Promise<CategorySales[][]> {
  if (windows.length > MAX_CATEGORY_WINDOWS) {
    throw new InvalidInput(`at most ${MAX_CATEGORY_WINDOWS} windows at once, got ${windows.length}`);
  }
  const result: CategorySales[][] = windows.map(() => []);
  if (windows.length === 0) return result;
  const { rows } = await db.query<{ ord: string; category: string | null; revenue: string; units: string }>(
    `WITH checkpoint AS (
       SELECT coalesce(max(tx_id), 0) AS tx_id, coalesce(max(seq), 0) AS seq
         FROM processor_checkpoints WHERE processor = 'sales' AND log = 'activity'
     )
     SELECT w.ord, cat.category, sum(a.unit_price_minor * a.quantity)::text AS revenue, sum(a.quantity)::text AS units
       FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[]) WITH ORDINALITY AS w(start, end_, currency, ord)
       JOIN activity_events a
         ON a.type = 'PURCHASE' AND a.occurred_at >= w.start AND a.occurred_at < w.end_ AND a.currency = w.currency
        AND a.unit_price_minor IS NOT NULL
        AND (a.tx_id, a.seq) <= ((SELECT tx_id FROM checkpoint), (SELECT seq FROM checkpoint))
       LEFT JOIN products cat ON cat.product_id = a.product_id
      GROUP BY w.ord, cat.category
      ORDER BY w.ord, sum(a.unit_price_minor * a.quantity) DESC, cat.category NULLS LAST`,
    [
      windows.map((w) => w.start.toISOString()),
      windows.map((w) => w.end.toISOString()),
      windows.map((w) => w.currency),
    ],
  );
  for (const row of rows) {
    const i = Number(row.ord) - 1;
    const window = windows[i] as CategorySalesWindow;
    (result[i] as CategorySales[]).push({
      category: row.category,
      currency: window.currency,
      revenue: formatMoney(BigInt(row.revenue), window.currency),
      units: Number(row.units),
    });
  }
  return result;
}

function productOf(row: Record<string, unknown>): Product {
  return {
    productId: row.product_id as string,
    name: row.name as string,
    category: row.category as string,
    listPriceMinor: row.list_price_minor === null ? null : BigInt(row.list_price_minor as string),
    currency: row.currency as string | null,
    occurredAt: row.occurred_at as Date,
    updatedAt: row.updated_at as Date,
  };
}
