// The catalogue processor: follows the catalogue log and keeps one row per product with the entry
// latest in event time (occurredAt, then log position, as stock counts): a later entry replaces
// the row, an older one that arrives late changes nothing. One set-based upsert per batch, in the
// runner's transaction with the checkpoint, so each entry is applied exactly once (invariant 2),
// and the comparison is in the statement, so concurrent writers cannot lose the newest (3).
import { eventsOf, type Processor } from '../processing/runner.js';
import { catalogueLog, type LoggedProductEvent } from './log.js';

export const CATALOGUE = 'catalogue';

export function createCatalogueProcessor(): Processor {
  return {
    name: CATALOGUE,
    feed: null,
    follows: [{ log: catalogueLog }],
    async apply(tx, entries) {
      const latest = latestPerProduct(eventsOf(entries, catalogueLog));
      if (latest.length === 0) return [];
      await tx.query(
        `INSERT INTO products AS p (product_id, name, category, list_price_minor, currency, occurred_at, tx_id, seq)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[],
                              $7::bigint[], $8::bigint[])
         -- Rows are locked in one order by every batch, so two batches cannot deadlock on them.
         ORDER BY 1
         ON CONFLICT (product_id) DO UPDATE SET
           name = EXCLUDED.name,
           category = EXCLUDED.category,
           list_price_minor = EXCLUDED.list_price_minor,
           currency = EXCLUDED.currency,
           occurred_at = EXCLUDED.occurred_at,
           tx_id = EXCLUDED.tx_id,
           seq = EXCLUDED.seq,
           updated_at = now()
         WHERE (EXCLUDED.occurred_at, EXCLUDED.tx_id, EXCLUDED.seq) > (p.occurred_at, p.tx_id, p.seq)`,
        [
          latest.map((e) => e.productId),
          latest.map((e) => e.name),
          latest.map((e) => e.category),
          latest.map((e) => (e.listPriceMinor === null ? null : e.listPriceMinor.toString())),
          latest.map((e) => e.currency),
          latest.map((e) => e.occurredAt.toISOString()),
          latest.map((e) => e.txId.toString()),
          latest.map((e) => e.seq.toString()),
        ],
      );
      return []; // nothing subscribes to the catalogue: it serves reads
    },
  };
}

/** Pure: the batch's latest entry per product (occurredAt, then log order: a later one wins a tie). */
export function latestPerProduct(events: readonly LoggedProductEvent[]): LoggedProductEvent[] {
  const latest = new Map<string, LoggedProductEvent>();
  for (const event of events) {
    const held = latest.get(event.productId);
    // Events come in log order, so at equal occurredAt the later one is the newer.
    if (!held || event.occurredAt.getTime() >= held.occurredAt.getTime()) latest.set(event.productId, event);
  }
  return [...latest.values()];
}
