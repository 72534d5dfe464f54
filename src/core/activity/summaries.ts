// Summaries of stored activity over event time (occurred_at), exact for any [from, to) and as of
// the moment of the query. topProducts reads the hourly rollup that the activity-summaries
// processor keeps (processor.ts) for the whole UTC hours of the range, and the log itself for the
// partial hours at its edges and for the events the processor has not applied yet; the funnel
// reads the log. Log reads are range scans over the covering index activity_events(type,
// occurred_at) INCLUDE (user_id, product_id, quantity, unit_price_minor, currency).
import type { Queryable } from '../../feed/feed.js';
import { checkCategory, inCategory } from '../catalogue/read.js';
import { InvalidInput } from '../errors.js';
import { formatMoney, requireCurrency } from '../sales/money.js';
import { ACTIVITY_SUMMARIES } from './processor.js';

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

/**
 * A true funnel over [from, to): browsers browsed in the range; carters are browsers who added to
 * cart at or after their first browse; purchasers are carters who bought at or after that first
 * cart. Each step is at most the one before, so conversionRate is at most 1.
 *
 * It reads the log, not a rollup: whether a shopper counts depends on the order of their own events
 * inside the range, and an ordered funnel over an arbitrary range does not decompose into hourly
 * sums. One statement: three index-only range scans, joined per shopper.
 */
export async function readFunnel(db: Queryable, range: TimeRange): Promise<Funnel> {
  const [from, to] = bounds(range);
  const { rows } = await db.query<{ browsers: number; carters: number; purchasers: number }>(
    `WITH browsers AS (
       SELECT user_id, min(occurred_at) AS first_at FROM activity_events
        WHERE type = 'BROWSE' AND occurred_at >= $1 AND occurred_at < $2
        GROUP BY user_id
     ), carters AS (
       SELECT e.user_id, min(e.occurred_at) AS first_at
         FROM activity_events e JOIN browsers b ON b.user_id = e.user_id
        WHERE e.type = 'ADD_TO_CART' AND e.occurred_at >= $1 AND e.occurred_at < $2 AND e.occurred_at >= b.first_at
        GROUP BY e.user_id
     ), purchasers AS (
       SELECT DISTINCT e.user_id
         FROM activity_events e JOIN carters c ON c.user_id = e.user_id
        WHERE e.type = 'PURCHASE' AND e.occurred_at >= $1 AND e.occurred_at < $2 AND e.occurred_at >= c.first_at
     )
     SELECT (SELECT count(*) FROM browsers)::int AS browsers, (SELECT count(*) FROM carters)::int AS carters,
            (SELECT count(*) FROM purchasers)::int AS purchasers`,
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

/** Each metric as one event adds it (the log) and as an hourly row holds it (the rollup). */
const METRIC_SQL: Record<ProductMetric, { type: string; event: string; rollup: string }> = {
  BROWSES: { type: 'BROWSE', event: '1', rollup: 'browses' },
  CARTS: { type: 'ADD_TO_CART', event: '1', rollup: 'carts' },
  // Units bought, not purchase lines: what a shop means by "sold most".
  PURCHASES: { type: 'PURCHASE', event: 'quantity', rollup: 'units' },
  REVENUE: { type: 'PURCHASE', event: 'quantity::bigint * unit_price_minor', rollup: 'revenue_minor' },
};

const HOUR_MS = 3_600_000;

/**
 * The `limit` products with the highest value of `by` in [from, to), highest first, ties by
 * productId. REVENUE is summed in one currency only (amounts in different currencies do not add).
 *
 * One statement, so one snapshot: the rollup for the whole hours inside the range, the log for the
 * partial hours at its edges, and the log for the whole hours too where the processor has not
 * reached yet (events after its checkpoint, which commits with the rollup). So the answer is exact
 * even while the processor lags, or rebuilds the rollup from the start of the log.
 */
export async function readTopProducts(
  db: Queryable,
  query: TimeRange & { by: ProductMetric; limit?: number | null; currency: string; category?: string | null },
): Promise<ProductStat[]> {
  const limit = query.limit ?? DEFAULT_TOP_PRODUCTS;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TOP_PRODUCTS) {
    throw new InvalidInput(`limit must be a whole number from 1 to ${MAX_TOP_PRODUCTS}, got ${limit}`);
  }
  const [from, to] = bounds(query);
  const [wholeFrom, wholeTo] = wholeHours(query);
  const currency = requireCurrency(query.currency);
  const { type, event, rollup } = METRIC_SQL[query.by];
  const revenue = query.by === 'REVENUE';
  // A product is listed when it has at least one event of the type (a free purchase still counts).
  const rollupWhere = revenue ? 'currency = $8' : `${rollup} > 0`;
  const eventWhere = revenue ? 'AND currency = $8' : '';
  const params: unknown[] = [
    type,
    from,
    wholeFrom,
    wholeTo,
    to,
    limit,
    ACTIVITY_SUMMARIES,
    ...(revenue ? [currency] : []),
  ];
  // Only the products the catalogue has in this category (issue 16).
  if (query.category != null) params.push(checkCategory(query.category));
  const categoryWhere = query.category != null ? `WHERE ${inCategory('v.product_id', params.length)}` : '';
  const { rows } = await db.query<{ product_id: string; value: string }>(
    `WITH checkpoint AS (
       SELECT coalesce(max(tx_id), 0) AS tx_id, coalesce(max(seq), 0) AS seq
         FROM processor_checkpoints WHERE processor = $7 AND log = 'activity'
     )
     SELECT product_id, sum(value)::text AS value FROM (
         SELECT product_id, ${rollup} AS value FROM product_activity_hourly
          WHERE hour >= $3 AND hour < $4 AND ${rollupWhere}
       UNION ALL
         SELECT product_id, ${event} FROM activity_events
          WHERE type = $1 AND occurred_at >= $2 AND occurred_at < $3 ${eventWhere}
       UNION ALL
         SELECT product_id, ${event} FROM activity_events
          WHERE type = $1 AND occurred_at >= $4 AND occurred_at < $5 ${eventWhere}
       UNION ALL
         SELECT product_id, ${event} FROM activity_events
          WHERE (tx_id, seq) > ((SELECT tx_id FROM checkpoint), (SELECT seq FROM checkpoint))
            AND type = $1 AND occurred_at >= $3 AND occurred_at < $4 ${eventWhere}
     ) v
     ${categoryWhere}
     GROUP BY product_id
     ORDER BY sum(value) DESC, product_id
     LIMIT $6`,
    params,
  );
  return rows.map((row) => ({
    productId: row.product_id,
    metric: query.by,
    value: revenue ? formatMoney(BigInt(row.value), currency) : row.value,
  }));
}

/**
 * The whole UTC hours inside [from, to), as [first hour, end of the last): the rollup answers for
 * them, the log for [from, first hour) and [end of the last, to). A range within one hour has none
 * (an empty [to, to)).
 */
function wholeHours(range: TimeRange): [string, string] {
  const first = range.from ? Math.ceil(range.from.getTime() / HOUR_MS) * HOUR_MS : -Infinity;
  const end = range.to ? Math.floor(range.to.getTime() / HOUR_MS) * HOUR_MS : Infinity;
  if (first > end) {
    const to = (range.to as Date).toISOString();
    return [to, to];
  }
  return [instant(first), instant(end)];
}

function instant(ms: number): string {
  if (ms === -Infinity) return '-infinity';
  if (ms === Infinity) return 'infinity';
  return new Date(ms).toISOString();
}

/** [from, to) as SQL parameters; an open end is unbounded. */
function bounds(range: TimeRange): [string, string] {
  if (range.from && range.to && range.to.getTime() < range.from.getTime()) {
    throw new InvalidInput(`to (${range.to.toISOString()}) is before from (${range.from.toISOString()})`);
  }
  return [range.from?.toISOString() ?? '-infinity', range.to?.toISOString() ?? 'infinity'];
}
