// The inventory processor: follows the inventory log (counts and adjustments), the purchases
// of the activity log and the restocking refunds (returns) of the refunds log, in log order, and keeps stock levels in event time (event-time.ts), the
// stock movements behind them, and the edge-triggered warnings. One batch, one transaction (the
// runner's): rows of the batch's products are locked in product order, so setStockThreshold, the
// only other writer, waits for the batch and sees its result.
import type { Tx } from '../../db/transaction.js';
import type { FeedTopic } from '../../feed/topics.js';
import { activityLog, PURCHASES_ONLY } from '../activity/log.js';
import type { Clock } from '../clock.js';
import type { Entry, Processor } from '../processing/runner.js';
import { queueStockRebuilds } from '../recommendations/stock.js';
import { RESTOCKS_ONLY, refundLog } from '../refunds/log.js';
import { stockStateOf } from './crossing.js';
import { foldStockEvents, type Movement, type StockEvent } from './event-time.js';
import { stockWarningFeed } from './feed-source.js';
import { inventoryLog } from './log.js';
import { lockStockLevels, writeStock } from './stock.js';

export function createInventoryProcessor(options: { defaultThreshold: number; clock: Clock }): Processor {
  return {
    name: 'inventory',
    feed: stockWarningFeed.table,
    follows: [
      { log: inventoryLog },
      { log: activityLog, where: PURCHASES_ONLY },
      { log: refundLog, where: RESTOCKS_ONLY },
    ],
    async apply(tx, entries) {
      const events = stockEventsOf(entries);
      if (events.length === 0) return [];
      const stock = await lockStockLevels(
        tx,
        events.map((e) => e.productId),
        { create: true },
      );
      const outBefore = new Map([...stock].map(([id, row]) => [id, isOut(row, options.defaultThreshold)]));
      const known = await readMovementsForCounts(tx, events);
      const { warnings, touched } = foldStockEvents(stock, known, events, options.defaultThreshold);
      await storeMovements(tx, events);
      await writeStock(tx, stock, touched, warnings, options.clock.now());

      // Recommendations respect stock: lists that hold a product change when it runs out and when it comes back.
      const changed = [...touched]
        .map((productId) => ({ productId, out: isOut(stock.get(productId), options.defaultThreshold) }))
        .filter(({ productId, out }) => outBefore.get(productId) !== out);
      const topics: FeedTopic[] = [];
      if (warnings.length > 0) topics.push('inventory:warning');
      if (changed.length > 0 && (await queueStockRebuilds(tx, changed))) topics.push('recommendations:rebuild');
      return topics;
    },
  };
}

function isOut(row: { quantity: number | null; threshold: number | null } | undefined, defaultThreshold: number) {
  return row !== undefined && stockStateOf(row.quantity, row.threshold ?? defaultThreshold) === 'OUT';
}

/** Counts, adjustments, purchases and returns of a batch as stock events, in log order. */
export function stockEventsOf(entries: readonly Entry[]): StockEvent[] {
  const events: StockEvent[] = [];
  for (const entry of entries) {
    if (entry.log === inventoryLog.name) {
      const e = entry.event as ReturnType<typeof inventoryLog.toEvent>;
      events.push({
        productId: e.productId,
        kind: e.quantity !== null ? 'COUNT' : 'ADJUSTMENT',
        amount: e.quantity ?? (e.delta as number),
        occurredAt: e.occurredAt,
        position: entry.position,
        eventId: e.eventId,
      });
    } else if (entry.log === refundLog.name) {
      const e = entry.event as ReturnType<typeof refundLog.toEvent>;
      if (!e.restock || e.quantity === 0) continue;
      events.push({
        productId: e.productId,
        kind: 'RETURN',
        amount: e.quantity,
        occurredAt: e.occurredAt,
        position: entry.position,
        eventId: e.eventId,
      });
    } else {
      const e = entry.event as ReturnType<typeof activityLog.toEvent>;
      if (e.type !== 'PURCHASE') continue;
      events.push({
        productId: e.productId,
        kind: 'PURCHASE',
        amount: -e.quantity,
        occurredAt: e.occurredAt,
        position: entry.position,
        eventId: e.eventId,
      });
    }
  }
  return events;
}

/** For each product counted in the batch: the stored adjustments and purchases at or after its earliest count. */
async function readMovementsForCounts(tx: Tx, events: readonly StockEvent[]): Promise<Map<string, Movement[]>> {
  const since = new Map<string, Date>();
  for (const e of events) {
    if (e.kind !== 'COUNT') continue;
    const earliest = since.get(e.productId);
    if (!earliest || e.occurredAt < earliest) since.set(e.productId, e.occurredAt);
  }
  const known = new Map<string, Movement[]>();
  for (const id of since.keys()) known.set(id, []);
  if (since.size === 0) return known;
  const { rows } = await tx.query<{
    product_id: string;
    occurred_at: Date;
    tx_id: string;
    seq: string;
    amount: number;
  }>(
    `SELECT m.product_id, m.occurred_at, m.tx_id, m.seq, m.amount
       FROM unnest($1::text[], $2::timestamptz[]) AS u(product_id, since)
       JOIN stock_movements m ON m.product_id = u.product_id AND m.occurred_at >= u.since
      WHERE m.kind <> 'COUNT'`,
    [[...since.keys()], [...since.values()].map((d) => d.toISOString())],
  );
  for (const row of rows) {
    known.get(row.product_id)?.push({
      time: { at: row.occurred_at.getTime(), txId: BigInt(row.tx_id), seq: BigInt(row.seq) },
      amount: row.amount,
    });
  }
  return known;
}

/** Every event of the batch, as the product's history in event time (stockMovements, late counts). */
async function storeMovements(tx: Tx, events: readonly StockEvent[]): Promise<void> {
  await tx.query(
    `INSERT INTO stock_movements (product_id, occurred_at, tx_id, seq, kind, amount, event_id)
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::text[], $6::int[], $7::text[])
     ON CONFLICT DO NOTHING`,
    [
      events.map((e) => e.productId),
      events.map((e) => e.occurredAt.toISOString()),
      events.map((e) => e.position.txId.toString()),
      events.map((e) => e.position.seq.toString()),
      events.map((e) => e.kind),
      events.map((e) => e.amount),
      events.map((e) => e.eventId),
    ],
  );
}
