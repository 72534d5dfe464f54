// Builds shoppers' lists from the stored signals, partner summaries and popularity (bounded: N
// recent products × K related each, plus the popular top), and stores them in the feed table,
// re-stamping a row only when its list changed. A product whose stock level is known to be 0 or less is never a
// candidate (it is skipped where the candidates are read, so the next one takes its place); one
// with no known level is.
import type { Queryable } from '../../feed/feed.js';
import { compare } from './co-occurrence.js';
import { strongestInStock } from './partners.js';
import { readPopular } from './popularity.js';
import { POPULAR_REASON, type PopularProduct, type RelatedCandidate, rankRecommendations } from './rank.js';
import { MAX_LIST_SIZE, type Recommendation, type RecommendationSettings } from './types.js';

/** Popular products read per build: twice a list, so that a list stays full after the owned ones go. */
const POPULAR_READ = MAX_LIST_SIZE * 2;

/** The current list (MAX_LIST_SIZE items) of each of `userIds`, computed at `now`. */
export async function computeLists(
  db: Queryable,
  userIds: readonly string[],
  now: Date,
  settings: RecommendationSettings,
  { ownedRounds = OWNED_ROUNDS }: { ownedRounds?: number } = {},
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
  return rankOwnedAware(db, users, related, popular, ownedRounds);
}

/**
 * From this check of a build on, a shopper's remaining candidates are all checked at once (1: all
 * of them in the first). Most shoppers need one check (the products of their list) or two (the
 * replacements of those they bought).
 */
export const OWNED_ROUNDS = 3;

/**
 * Ranks each shopper's list, asking PostgreSQL whether the shopper bought a product only for the
 * products that decide the list: those in it, and the most popular one that scales the popular
 * fill (rank.ts). A product left unchecked is ranked as not bought; the list is final once every
 * product deciding it was checked, and it is then the list that checking every candidate would
 * give, because leaving out products that are neither in it nor its scale changes nothing. A list
 * holds 50 products and a shopper has up to about 180 candidates (80 related, 100 popular): in the
 * batched-ingest benchmark these checks took 0.6 s of PostgreSQL's time instead of 2.2 s, when
 * they were a third of the builder's.
 */
async function rankOwnedAware(
  db: Queryable,
  users: readonly string[],
  related: ReadonlyMap<string, RelatedCandidate[]>,
  popular: readonly PopularProduct[],
  ownedRounds: number,
): Promise<Map<string, Recommendation[]>> {
  const lists = new Map<string, Recommendation[]>();
  const checked = new Map<string, Set<string>>(users.map((u) => [u, new Set()]));
  const owned = new Map<string, Set<string>>(users.map((u) => [u, new Set()]));
  let pending = users;
  for (let round = 1; pending.length > 0; round++) {
    const askUsers: string[] = [];
    const askProducts: string[] = [];
    const next: string[] = [];
    for (const user of pending) {
      const mine = checked.get(user) as Set<string>;
      const bought = owned.get(user) as Set<string>;
      const candidates = related.get(user) ?? [];
      const items = rankRecommendations({ related: candidates, popular, owned: bought, size: MAX_LIST_SIZE });
      const unknown = decidingProducts(items, popular, bought).filter((product) => !mine.has(product));
      if (unknown.length === 0) {
        lists.set(user, items);
        continue;
      }
      next.push(user);
      const ask =
        round < ownedRounds
          ? unknown
          : [...new Set([...candidates.map((c) => c.productId), ...popular.map((p) => p.productId)])].filter(
              (product) => !mine.has(product),
            );
      for (const product of ask) {
        mine.add(product);
        askUsers.push(user);
        askProducts.push(product);
      }
    }
    if (askUsers.length > 0) {
      const { rows } = await db.query(
        `SELECT s.user_id, s.product_id FROM user_product_signals s
           JOIN unnest($1::text[], $2::text[]) AS k(user_id, product_id) USING (user_id, product_id)
          WHERE s.purchased`,
        [askUsers, askProducts],
      );
      for (const row of rows) owned.get(row.user_id)?.add(row.product_id);
    }
    pending = next;
  }
  return lists;
}

/** The products a list depends on being not bought: its items, and the popular fill's scale. */
function decidingProducts(
  items: readonly Recommendation[],
  popular: readonly PopularProduct[],
  bought: ReadonlySet<string>,
): string[] {
  const out = items.map((item) => item.productId);
  if (!items.some((item) => item.reason === POPULAR_REASON)) return out;
  // The fill is scaled by the strongest popular product neither bought nor in the list as a
  // related item (popular is best first, so the first such one): in the list, or past its end.
  const relatedInList = new Set(items.filter((item) => item.reason !== POPULAR_REASON).map((item) => item.productId));
  const top = popular.find((p) => p.score > 0 && !bought.has(p.productId) && !relatedInList.has(p.productId));
  if (top && !out.includes(top.productId)) out.push(top.productId);
  return out;
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
