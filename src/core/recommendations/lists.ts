// Builds shoppers' lists from the stored signals, partner summaries and popularity (bounded: N
// recent products × K related each, plus the popular top), and stores them in the feed table,
// re-stamping a row only when its list changed. A product whose stock level is known to be 0 or less is never a
// candidate (it is skipped where the candidates are read, so the next one takes its place); one
// with no known level is.
import type { Queryable } from '../../feed/feed.js';
import { compare } from './co-occurrence.js';
import { strongestInStock } from './partners.js';
import { readPopular } from './popularity.js';
import { type RelatedCandidate, rankRecommendations } from './rank.js';
import { MAX_LIST_SIZE, type Recommendation, type RecommendationSettings } from './types.js';

/** Popular products read per build: twice a list, so that a list stays full after the owned ones go. */
const POPULAR_READ = MAX_LIST_SIZE * 2;

/** The current list (MAX_LIST_SIZE items) of each of `userIds`, computed at `now`. */
export async function computeLists(
  db: Queryable,
  userIds: readonly string[],
  now: Date,
  settings: RecommendationSettings,
): Promise<Map<string, Recommendation[]>> {
  const users = [...new Set(userIds)];
  // The shoppers' recent products, and the partner summaries of those products, in one round trip.
  const { rows } = await db.query(
    `WITH u AS (SELECT unnest($1::text[]) AS user_id),
       recent AS MATERIALIZED (
         SELECT u.user_id, s.product_id, s.weight FROM u CROSS JOIN LATERAL (
           SELECT product_id, weight FROM user_product_signals s WHERE s.user_id = u.user_id
            ORDER BY s.last_at DESC, s.product_id COLLATE "C" LIMIT $2) s
       )
     SELECT user_id, product_id, weight, NULL AS kind, NULL AS partners FROM recent
     UNION ALL
     SELECT NULL, p.product_id, NULL, p.kind, p.partners FROM product_partners p
      WHERE p.product_id IN (SELECT product_id FROM recent)`,
    [users, settings.recentProducts],
  );
  const partners = await strongestInStock(
    db,
    rows.filter((row) => row.user_id === null),
    settings.partnersPerProduct,
  );
  const popular = await readPopular(db, now, settings.popularWindowHours, POPULAR_READ);
  const related = new Map<string, RelatedCandidate[]>(users.map((u) => [u, []]));
  for (const row of rows) {
    if (row.user_id === null) continue;
    for (const partner of partners.get(row.product_id) ?? []) {
      related.get(row.user_id)?.push({
        sourceId: row.product_id,
        sourceWeight: Number(row.weight),
        productId: partner.productId,
        kind: partner.kind,
        pairScore: partner.score,
      });
    }
  }
  // Only the candidates need checking against what each shopper bought, however much that is.
  const askUsers: string[] = [];
  const askProducts: string[] = [];
  for (const user of users) {
    const candidates = new Set([
      ...(related.get(user) ?? []).map((c) => c.productId),
      ...popular.map((p) => p.productId),
    ]);
    for (const product of candidates) {
      askUsers.push(user);
      askProducts.push(product);
    }
  }
  const { rows: ownedRows } = await db.query(
    `SELECT s.user_id, s.product_id FROM user_product_signals s
       JOIN unnest($1::text[], $2::text[]) AS k(user_id, product_id) USING (user_id, product_id)
      WHERE s.purchased`,
    [askUsers, askProducts],
  );
  const owned = new Map<string, Set<string>>(users.map((u) => [u, new Set()]));
  for (const row of ownedRows) owned.get(row.user_id)?.add(row.product_id);

  return new Map(
    users.map((user) => [
      user,
      rankRecommendations({
        related: related.get(user) ?? [],
        popular,
        owned: owned.get(user) ?? new Set(),
        size: MAX_LIST_SIZE,
      }),
    ]),
  );
}

/**
 * Stores each list; a row whose items are unchanged is left alone (same tx_id and seq, so it is
 * not sent again), a changed one gets this transaction's position. Returns how many changed.
 */
export async function storeChangedLists(
  db: Queryable,
  lists: ReadonlyMap<string, Recommendation[]>,
  now: Date,
): Promise<number> {
  const users = [...lists.keys()].sort(compare);
  if (users.length === 0) return 0;
  const { rowCount } = await db.query(
    `INSERT INTO recommendation_lists AS l (user_id, items, updated_at)
     SELECT u, i::jsonb, $3 FROM unnest($1::text[], $2::text[]) AS x(u, i)
     ON CONFLICT (user_id) DO UPDATE
       SET items = EXCLUDED.items, updated_at = EXCLUDED.updated_at,
           tx_id = pg_current_xact_id()::text::bigint,
           seq = nextval(pg_get_serial_sequence('recommendation_lists', 'seq'))
       WHERE l.items IS DISTINCT FROM EXCLUDED.items`,
    [users, users.map((u) => JSON.stringify(lists.get(u))), now.toISOString()],
  );
  return rowCount ?? 0;
}
