// Guarantees that stored lists follow stock: when a product runs out, every shopper whose stored
// list holds it is queued for a rebuild (and remembered in recommendation_stock_holds); when it
// comes back, those shoppers are queued again. Committed with the stock change, so a builder that
// sees the queued row also sees the new level (computeLists skips products at 0 or less).
//
// Why no list holding a product that ran out is missed: a builder takes the shared stock lock
// (lockStockForBuild) after computing its lists, rechecks their products' levels under it and
// queues its shoppers again if one ran out, and holds it until it commits; a batch in which a
// product runs out takes it exclusively before it looks for the lists that hold the product. So
// either the recheck saw the new level, or the list was committed before the search saw it.
// A restock needs no lock: its queued rows are committed with the level, and a builder deletes
// only rows it saw committed (builder.ts), so a build that read the old level runs again.
import type { Tx } from '../../db/transaction.js';
import { compare } from './co-occurrence.js';
import { queueRebuilds } from './processor.js';

export type StockStateChange = {
  productId: string;
  /** true: the product just ran out (level at or below 0); false: it came back above 0. */
  out: boolean;
};

const STOCK_LOCK = `hashtextextended('recommendations:stock', 0)`;

/**
 * Queues the rebuilds that the products' new stock states call for, inside the transaction that
 * changed the levels (call it after the levels are written). A fixed number of statements,
 * however many products and shoppers. Returns true when it queued anyone: the caller then
 * publishes 'recommendations:rebuild' after COMMIT.
 */
export async function queueStockRebuilds(tx: Tx, changes: readonly StockStateChange[]): Promise<boolean> {
  // The last change of a product is its state now.
  const state = new Map<string, boolean>();
  for (const change of changes) state.set(change.productId, change.out);
  const ranOut = [...state].filter(([, out]) => out).map(([id]) => id);
  const cameBack = [...state].filter(([, out]) => !out).map(([id]) => id);
  ranOut.sort(compare);
  cameBack.sort(compare);

  const users = new Set<string>();
  if (ranOut.length > 0) {
    // Waits for builds in progress (each a bounded chunk), so their lists are seen below.
    await tx.query(`SELECT pg_advisory_xact_lock(${STOCK_LOCK})`);
    // The GIN index (jsonb_path_ops) finds the lists that hold each product.
    const { rows } = await tx.query<{ user_id: string }>(
      `WITH held AS (
         SELECT o.product_id, l.user_id
           FROM unnest($1::text[]) AS o(product_id)
           CROSS JOIN LATERAL (
             SELECT user_id FROM recommendation_lists
              WHERE items @> jsonb_build_array(jsonb_build_object('productId', o.product_id))
           ) l
       ),
       recorded AS (
         INSERT INTO recommendation_stock_holds (product_id, user_id)
         SELECT product_id, user_id FROM held ORDER BY product_id COLLATE "C", user_id COLLATE "C"
         ON CONFLICT DO NOTHING
       )
       SELECT DISTINCT user_id FROM held`,
      [ranOut],
    );
    for (const row of rows) users.add(row.user_id);
  }
  if (cameBack.length > 0) {
    const { rows } = await tx.query<{ user_id: string }>(
      `DELETE FROM recommendation_stock_holds WHERE product_id = ANY($1::text[]) RETURNING user_id`,
      [cameBack],
    );
    for (const row of rows) users.add(row.user_id);
  }
  if (users.size === 0) return false;
  await queueRebuilds(tx, [...users].sort(compare));
  return true;
}

/**
 * Taken by a builder after it computed its lists, held until it commits: a batch in which a
 * product runs out either committed before (and the builder's recheck sees it) or waits for the
 * build, then finds its list (see the top of this file). Held only for the recheck and the store,
 * so an inventory batch waits milliseconds, not a whole build.
 */
export async function lockStockForBuild(tx: Tx): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock_shared(${STOCK_LOCK})`);
}

/**
 * Under lockStockForBuild: the shoppers whose computed list holds a product that ran out since
 * the list was read. The caller queues them again, so the next build leaves the product out.
 */
export async function shoppersHoldingOutOfStock(
  tx: Tx,
  lists: ReadonlyMap<string, readonly { productId: string }[]>,
): Promise<string[]> {
  const products = new Set<string>();
  for (const items of lists.values()) for (const item of items) products.add(item.productId);
  if (products.size === 0) return [];
  const { rows } = await tx.query<{ product_id: string }>(
    'SELECT product_id FROM stock_levels WHERE product_id = ANY($1::text[]) AND quantity <= 0',
    [[...products]],
  );
  if (rows.length === 0) return [];
  const out = new Set(rows.map((row) => row.product_id));
  return [...lists].filter(([, items]) => items.some((item) => out.has(item.productId))).map(([user]) => user);
}
