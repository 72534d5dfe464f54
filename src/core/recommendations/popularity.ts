// "Popular right now": weighted actions per product and hour of event time, summed over the last
// `popularWindowHours` hourly buckets (the current one included). Buckets are UTC hours computed
// here, not with date_trunc, so that no session time zone can move them.
import type { Write } from '../../db/together.js';
import type { Queryable } from '../../feed/feed.js';
import { type Action, compare, weightOf } from './co-occurrence.js';
import type { PopularProduct } from './rank.js';
import type { RecommendationSettings } from './types.js';

const HOUR_MS = 3_600_000;

export function bucketOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}

/** The first bucket that is still "right now" at `now`. */
export function windowStart(now: Date, hours: number): Date {
  return new Date(bucketOf(now).getTime() - (hours - 1) * HOUR_MS);
}

/** Adds the batch's weighted actions to their products' hourly buckets. */
export function popularityWrite(actions: readonly Action[], weights: RecommendationSettings['weights']): Write | null {
  const sums = new Map<string, { productId: string; bucket: Date; score: number }>();
  for (const action of actions) {
    const weight = weightOf(action.type, weights);
    if (weight <= 0) continue;
    const bucket = bucketOf(action.occurredAt);
    const key = `${action.productId}\u0000${bucket.getTime()}`;
    const sum = sums.get(key);
    if (sum) sum.score += weight;
    else sums.set(key, { productId: action.productId, bucket, score: weight });
  }
  if (sums.size === 0) return null;
  // A fixed order: concurrent batches lock hot rows in the same order, so they do not deadlock.
  const rows = [...sums.values()].sort(
    (a, b) => compare(a.productId, b.productId) || a.bucket.getTime() - b.bucket.getTime(),
  );
  return {
    text: `INSERT INTO product_popularity (product_id, bucket_start, score)
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[])
     ON CONFLICT (product_id, bucket_start) DO UPDATE SET score = product_popularity.score + EXCLUDED.score`,
    values: [rows.map((r) => r.productId), rows.map((r) => r.bucket.toISOString()), rows.map((r) => r.score)],
  };
}

/**
 * The `limit` most popular products at `now` that can be recommended, best first (ties: smaller id
 * first): a product whose stock level is known to be 0 or less is left out.
 */
export async function readPopular(db: Queryable, now: Date, hours: number, limit: number): Promise<PopularProduct[]> {
  const { rows } = await db.query(
    `SELECT p.product_id, p.score FROM (
       SELECT product_id, sum(score) AS score FROM product_popularity
        WHERE bucket_start >= $1 AND bucket_start <= $2
        GROUP BY product_id
     ) p
     WHERE NOT EXISTS (SELECT 1 FROM stock_levels sl WHERE sl.product_id = p.product_id AND sl.quantity <= 0)
     ORDER BY p.score DESC, p.product_id COLLATE "C"
     LIMIT $3`,
    [windowStart(now, hours).toISOString(), now.toISOString(), limit],
  );
  return rows.map((row) => ({ productId: row.product_id as string, score: Number(row.score) }));
}
