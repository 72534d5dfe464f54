// applyStockChanges: the one function through which stock changes (absolute level, adjustment,
// purchase, threshold), so every path meets the same crossing rule (issue 3).
//
// Concurrency (invariant 3): the touched stock_levels rows are locked (SELECT … FOR UPDATE, in
// product order so that two batches never wait on each other in a cycle) for the rest of the
// transaction. While a batch holds a product's row, no other batch can read or change that
// product's level, so the old level each change starts from is the level the previous committed
// change left: no update is lost, and every crossing is seen by exactly one batch.
import type { Tx } from '../../db/transaction.js';
import { LimitExceeded } from '../errors.js';
import { stockWarningWebhook } from '../webhooks/payloads.js';
import { queueWebhookDeliveries } from '../webhooks/queue.js';
import { crossing } from './crossing.js';
import type { EventTime } from './event-time.js';
import type { NewStockWarning, StockChange } from './types.js';

/** Levels are INTEGER in the database; a level past this is refused rather than overflowing. */
export const MAX_ABS_LEVEL = 2_000_000_000;

/** A locked row: `quantity` null = never set, `threshold` null = LOW_STOCK_THRESHOLD. */
export type LockedStock = {
  quantity: number | null;
  threshold: number | null;
  /** Feed position (tx_id) of the product's last warning, if any. */
  lastWarningTxId?: bigint | null;
  /** Event time of the latest absolute count (event-time.ts); null before the first. */
  counted?: EventTime | null;
};

export type StockOptions = {
  /** LOW_STOCK_THRESHOLD: the threshold of a product that has none of its own. */
  defaultThreshold: number;
  now: Date;
};

/**
 * Locks the stock rows of `productIds` for the rest of the transaction and returns them.
 * With `create`, a missing row is created first (no level, no threshold), so it can be locked.
 */
export async function lockStockLevels(
  tx: Tx,
  productIds: Iterable<string>,
  options: { create: boolean },
): Promise<Map<string, LockedStock>> {
  const ids = [...new Set(productIds)];
  if (ids.length === 0) return new Map();
  if (options.create) {
    // In product order too: two batches creating the same new products queue on them in one order.
    await tx.query(
      `INSERT INTO stock_levels (product_id)
       SELECT id FROM unnest($1::text[]) AS u(id) ORDER BY id
       ON CONFLICT (product_id) DO NOTHING`,
      [ids],
    );
  }
  const { rows } = await tx.query<{
    product_id: string;
    quantity: number | null;
    threshold: number | null;
    last_warning_tx_id: string | null;
    counted_at: Date | null;
    counted_tx_id: string | null;
    counted_seq: string | null;
  }>(
    `SELECT product_id, quantity, threshold, last_warning_tx_id, counted_at, counted_tx_id, counted_seq
       FROM stock_levels
      WHERE product_id = ANY($1::text[])
      ORDER BY product_id
      FOR UPDATE`,
    [ids],
  );
  return new Map(
    rows.map((row) => [
      row.product_id,
      {
        quantity: row.quantity,
        threshold: row.threshold,
        lastWarningTxId: row.last_warning_tx_id === null ? null : BigInt(row.last_warning_tx_id),
        counted:
          row.counted_at === null
            ? null
            : { at: row.counted_at.getTime(), txId: BigInt(row.counted_tx_id ?? 0), seq: BigInt(row.counted_seq ?? 0) },
      },
    ]),
  );
}

/**
 * Applies `changes` in their order and stores the warnings they raise, all inside `tx`.
 * A change of a level, an adjustment or a threshold creates the product's row when missing; a
 * purchase does not, and a purchase of a product whose level was never set changes nothing.
 * Each change is checked against the level left by the one before it, so a batch that goes low
 * and back up reports both crossings, in order. Returns the warnings written.
 */
export async function applyStockChanges(
  tx: Tx,
  changes: readonly StockChange[],
  options: StockOptions,
): Promise<NewStockWarning[]> {
  if (changes.length === 0) return [];
  const creating = changes.filter((c) => c.kind !== 'purchase').map((c) => c.productId);
  if (creating.length > 0) await lockStockLevels(tx, creating, { create: true });
  const stock = await lockStockLevels(
    tx,
    changes.map((c) => c.productId),
    { create: false },
  );

  const { warnings, touched } = foldStockChanges(stock, changes, options.defaultThreshold);
  if (touched.size === 0) return [];

  await writeStock(tx, stock, touched, warnings, options.now);
  return warnings;
}

/**
 * Stores the new state of the `touched` rows of `stock` (locked by the caller) and `warnings`,
 * in two statements. The one write path of every stock change.
 */
export async function writeStock(
  tx: Tx,
  stock: Map<string, LockedStock>,
  touched: ReadonlySet<string>,
  warnings: readonly NewStockWarning[],
  now: Date,
): Promise<void> {
  if (touched.size === 0) return;
  const txId = warnings.length > 0 ? await warningPosition(tx, warnings, stock) : null;
  const warned = new Set(warnings.map((w) => w.productId));
  const updates = [...touched].map((productId) => ({ productId, ...(stock.get(productId) as LockedStock) }));
  await tx.query(
    `UPDATE stock_levels s
        SET quantity = u.quantity, threshold = u.threshold, updated_at = $5,
            last_warning_tx_id = COALESCE(u.last_warning_tx_id, s.last_warning_tx_id),
            counted_at = u.counted_at, counted_tx_id = u.counted_tx_id, counted_seq = u.counted_seq
       FROM unnest($1::text[], $2::int[], $3::int[], $4::bigint[], $6::timestamptz[], $7::bigint[], $8::bigint[])
            AS u(product_id, quantity, threshold, last_warning_tx_id, counted_at, counted_tx_id, counted_seq)
      WHERE s.product_id = u.product_id`,
    [
      updates.map((u) => u.productId),
      updates.map((u) => u.quantity),
      updates.map((u) => u.threshold),
      updates.map((u) => (warned.has(u.productId) ? txId : null)),
      now.toISOString(),
      updates.map((u) => (u.counted ? new Date(u.counted.at).toISOString() : null)),
      updates.map((u) => u.counted?.txId.toString() ?? null),
      updates.map((u) => u.counted?.seq.toString() ?? null),
    ],
  );

  if (warnings.length > 0) {
    const { rows } = await tx.query<{
      seq: string;
      product_id: string;
      kind: NewStockWarning['kind'];
      quantity: number;
      threshold: number;
      occurred_at: Date;
    }>(
      `INSERT INTO stock_warnings (tx_id, product_id, kind, quantity, threshold, occurred_at)
       SELECT $1::bigint, u.product_id, u.kind, u.quantity, u.threshold, u.occurred_at
         FROM unnest($2::text[], $3::text[], $4::int[], $5::int[], $6::timestamptz[])
              WITH ORDINALITY AS u(product_id, kind, quantity, threshold, occurred_at, ord)
        ORDER BY u.ord
       RETURNING seq, product_id, kind, quantity, threshold, occurred_at`,
      [
        txId,
        warnings.map((w) => w.productId),
        warnings.map((w) => w.kind),
        warnings.map((w) => w.quantity),
        warnings.map((w) => w.threshold),
        warnings.map((w) => w.occurredAt.toISOString()),
      ],
    );
    // Webhooks: queued in this same transaction (the processor's batch, or setStockThreshold),
    // so a warning and its deliveries commit together.
    await queueWebhookDeliveries(
      tx,
      'STOCK_WARNING',
      rows.map((row) => stockWarningWebhook(row, BigInt(txId as string))),
    );
  }
}

/**
 * The feed position (tx_id) of this batch's warnings. The feed orders rows by writing
 * transaction, then seq, and a transaction's id is taken at its first write, which may be
 * before it waited for these row locks. A batch that waited could so carry a smaller id than
 * the batch it waited for, and its RESTOCKED would be read before the LOW_STOCK it recovers
 * from. So the position is the larger of our own id and the position of the last warning of
 * each product we warn about (kept on its stock row, read under the lock): for one product,
 * positions grow in the order the locks were held, and seq breaks ties. It is never below our
 * own id, so readers see the rows only after we commit (invariant 5); and it is the id of a
 * transaction that has ended or is ours, so the horizon passes it as soon as we and the
 * transactions older than it have ended.
 */
async function warningPosition(
  tx: Tx,
  warnings: readonly NewStockWarning[],
  stock: Map<string, LockedStock>,
): Promise<string> {
  let floor = 0n;
  for (const warning of warnings) {
    const last = stock.get(warning.productId)?.lastWarningTxId ?? 0n;
    if (last > floor) floor = last;
  }
  const { rows } = await tx.query<{ tx_id: string }>(
    'SELECT GREATEST(pg_current_xact_id()::text::bigint, $1::bigint)::text AS tx_id',
    [floor.toString()],
  );
  return (rows[0] as { tx_id: string }).tx_id;
}

/**
 * The pure part: applies `changes` in order to `stock` (mutated in place) and collects one
 * warning per crossing. Exported for the unit tests.
 */
export function foldStockChanges(
  stock: Map<string, LockedStock>,
  changes: readonly StockChange[],
  defaultThreshold: number,
): { warnings: NewStockWarning[]; touched: Set<string> } {
  const warnings: NewStockWarning[] = [];
  const touched = new Set<string>();
  for (const change of changes) {
    const row = stock.get(change.productId);
    if (!row) continue; // a purchase of a product with no stock row
    let quantity = row.quantity;
    let threshold = row.threshold;
    switch (change.kind) {
      case 'level':
        quantity = change.quantity;
        break;
      case 'delta':
        // An adjustment of a product never counted starts from nothing on the shelf.
        quantity = (quantity ?? 0) + change.delta;
        break;
      case 'purchase':
        // No level, nothing to take from. Otherwise a purchase is a fact that already happened:
        // it is taken even past zero, and a negative level is a backorder (still OUT).
        if (quantity === null) continue;
        quantity -= change.quantity;
        break;
      case 'threshold':
        threshold = change.threshold;
        break;
    }
    if (quantity !== null && Math.abs(quantity) > MAX_ABS_LEVEL) {
      throw new LimitExceeded(
        'LEVEL_OUT_OF_RANGE',
        `the stock of product ${change.productId} would become ${quantity}, beyond ±${MAX_ABS_LEVEL}; nothing was stored`,
        { productId: change.productId },
      );
    }
    const before = row.threshold ?? defaultThreshold;
    const after = threshold ?? defaultThreshold;
    const kind = crossing(row.quantity, quantity, before, after);
    if (kind !== null && quantity !== null) {
      warnings.push({ productId: change.productId, kind, quantity, threshold: after, occurredAt: change.occurredAt });
    }
    row.quantity = quantity;
    row.threshold = threshold;
    touched.add(change.productId);
  }
  return { warnings, touched };
}
