// Summaries of stored activity, answered on query from activity_events (occurred_at, event
// time). Each part is one range scan per activity type over the covering index
// activity_events(type, occurred_at) INCLUDE (user_id, product_id, quantity, unit_price_minor,
// currency), so no heap is read; see bench/summaries.ts for the figures at a million events.
import type { Queryable } from '../../feed/feed.js';
import { InvalidInput } from '../errors.js';
import { formatMoney, requireCurrency } from '../sales/money.js';

export type TimeRange = { from?: Date | null; to?: Date | null };

export type Funnel = {
  from: Date | null;
  to: Date | null;
  browsers: number;
  carters: number;
  purchasers: number;
  /** purchasers / browsers; 0 when there are no browsers. */
  conversionRate: number;
};

export const PRODUCT_METRICS = ['BROWSES', 'CARTS', 'PURCHASES', 'REVENUE'] as const;
export type ProductMetric = (typeof PRODUCT_METRICS)[number];

export type ProductStat = { productId: string; metric: ProductMetric; value: string };

export const MAX_TOP_PRODUCTS = 100;
export const DEFAULT_TOP_PRODUCTS = 10;

/** Distinct users who browsed, carted and purchased with occurredAt in [from, to). */
export async function readFunnel(db: Queryable, range: TimeRange): Promise<Funnel> {
  const [from, to] = bounds(range);
  const distinctUsers = (type: string) =>
    `(SELECT count(*) FROM (SELECT DISTINCT user_id FROM activity_events
        WHERE type = '${type}' AND occurred_at >= $1 AND occurred_at < $2) u)::int`;
  const { rows } = await db.query(
    `SELECT ${distinctUsers('BROWSE')} AS browsers, ${distinctUsers('ADD_TO_CART')} AS carters,
            ${distinctUsers('PURCHASE')} AS purchasers`,
    [from, to],
  );
  const { browsers, carters, purchasers } = rows[0] as { browsers: number; carters: number; purchasers: number };
  return {
    from: range.from ?? null,
    to: range.to ?? null,
    browsers,
    carters,
    purchasers,
    conversionRate: browsers === 0 ? 0 : purchasers / browsers,
  };
}

const METRIC_SQL: Record<ProductMetric, { type: string; value: string }> = {
  BROWSES: { type: 'BROWSE', value: 'count(*)' },
  CARTS: { type: 'ADD_TO_CART', value: 'count(*)' },
  // Units bought, not purchase lines: what a shop means by "sold most".
  PURCHASES: { type: 'PURCHASE', value: 'sum(quantity)' },
  REVENUE: { type: 'PURCHASE', value: 'sum(quantity::bigint * unit_price_minor)' },
};

/**
 * The `limit` products with the highest value of `by` in [from, to), highest first, ties by
 * productId. REVENUE is summed in one currency only (amounts in different currencies do not add).
 */
export async function readTopProducts(
  db: Queryable,
  query: TimeRange & { by: ProductMetric; limit?: number | null; currency: string },
): Promise<ProductStat[]> {
  const limit = query.limit ?? DEFAULT_TOP_PRODUCTS;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TOP_PRODUCTS) {
    throw new InvalidInput(`limit must be a whole number from 1 to ${MAX_TOP_PRODUCTS}, got ${limit}`);
  }
  const [from, to] = bounds(query);
  const currency = requireCurrency(query.currency);
  const { type, value } = METRIC_SQL[query.by];
  const params: unknown[] = [type, from, to, limit];
  let byCurrency = '';
  if (query.by === 'REVENUE') {
    params.push(currency);
    byCurrency = 'AND currency = $5';
  }
  const { rows } = await db.query<{ product_id: string; value: string }>(
    `SELECT product_id, ${value}::text AS value
       FROM activity_events
      WHERE type = $1 AND occurred_at >= $2 AND occurred_at < $3 ${byCurrency}
      GROUP BY product_id
      ORDER BY ${value} DESC, product_id
      LIMIT $4`,
    params,
  );
  return rows.map((row) => ({
    productId: row.product_id,
    metric: query.by,
    value: query.by === 'REVENUE' ? formatMoney(BigInt(row.value), currency) : row.value,
  }));
}

/** [from, to) as SQL parameters; an open end is unbounded. */
function bounds(range: TimeRange): [string, string] {
  if (range.from && range.to && range.to.getTime() < range.from.getTime()) {
    throw new InvalidInput(`to (${range.to.toISOString()}) is before from (${range.from.toISOString()})`);
  }
  return [range.from?.toISOString() ?? '-infinity', range.to?.toISOString() ?? 'infinity'];
}
