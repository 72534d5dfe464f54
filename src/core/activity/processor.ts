// The activity-summaries processor: follows the whole activity log and adds each batch to
// product_activity_hourly (per UTC hour of event time, product and currency) with ONE set-based
// upsert, so that topProducts reads hourly sums instead of scanning the log. The runner commits
// the rows with the checkpoint, so every event is counted exactly once (invariant 2); the
// increments are atomic (`x = x + EXCLUDED.x`), so no update is lost (invariant 3).
import type { Tx } from '../../db/transaction.js';
import { eventsOf, type Processor } from '../processing/runner.js';
import { lineTotal } from '../sales/money.js';
import { activityLog } from './log.js';
import type { InsertedActivityEvent } from './record.js';

/** Names the checkpoint that product_activity_hourly is up to date with (read by summaries.ts). */
export const ACTIVITY_SUMMARIES = 'activity-summaries';

/** Browses and carts go on the row with this currency; units and revenue on the purchase's. */
export const NO_CURRENCY = '';

const HOUR_MS = 3_600_000;

/** What one batch adds to one (hour, product, currency) row. */
export type HourlyDelta = {
  hour: Date;
  productId: string;
  currency: string;
  browses: number;
  carts: number;
  units: number;
  revenueMinor: bigint;
};

export function createActivitySummariesProcessor(): Processor {
  return {
    name: ACTIVITY_SUMMARIES,
    feed: null,
    follows: [{ log: activityLog }],
    async apply(tx, entries) {
      await addHourlyActivity(tx, hourlyDeltas(eventsOf(entries, activityLog)));
      return []; // nothing subscribes to the rollup: it only serves queries
    },
  };
}

/** The UTC hour that contains `at` (floored, also before 1970). */
export function hourOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}

/** Pure: the batch folded per (hour, product, currency), in key order. REMOVE_FROM_CART counts nothing. */
export function hourlyDeltas(events: readonly InsertedActivityEvent[]): HourlyDelta[] {
  const deltas = new Map<string, HourlyDelta>();
  const row = (event: InsertedActivityEvent, currency: string): HourlyDelta => {
    const hour = hourOf(event.occurredAt);
    const key = `${hour.toISOString()}\u0000${event.productId}\u0000${currency}`;
    let delta = deltas.get(key);
    if (!delta) {
      delta = { hour, productId: event.productId, currency, browses: 0, carts: 0, units: 0, revenueMinor: 0n };
      deltas.set(key, delta);
    }
    return delta;
  };
  for (const event of events) {
    if (event.type === 'BROWSE') row(event, NO_CURRENCY).browses++;
    else if (event.type === 'ADD_TO_CART') row(event, NO_CURRENCY).carts++;
    else if (event.type === 'PURCHASE') {
      // Ingest refuses a purchase without a price; were one stored anyway, its units still count
      // (as the log's own sum(quantity) would), its revenue in no currency.
      const priced = event.currency !== null && event.unitPriceMinor !== null;
      const delta = row(event, priced ? (event.currency as string) : NO_CURRENCY);
      delta.units += event.quantity;
      if (priced) delta.revenueMinor += lineTotal(event.unitPriceMinor as bigint, event.quantity);
    }
  }
  return [...deltas.values()];
}

/** One statement per batch, whatever its size. */
async function addHourlyActivity(tx: Tx, deltas: readonly HourlyDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  await tx.query(
    `INSERT INTO product_activity_hourly AS h (hour, product_id, currency, browses, carts, units, revenue_minor)
     SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                          $7::bigint[])
     -- Rows are locked in one order by every batch, so two batches cannot deadlock on them.
     ORDER BY 1, 2, 3
     ON CONFLICT (hour, product_id, currency) DO UPDATE SET
       browses = h.browses + EXCLUDED.browses,
       carts = h.carts + EXCLUDED.carts,
       units = h.units + EXCLUDED.units,
       revenue_minor = h.revenue_minor + EXCLUDED.revenue_minor`,
    [
      deltas.map((d) => d.hour.toISOString()),
      deltas.map((d) => d.productId),
      deltas.map((d) => d.currency),
      deltas.map((d) => d.browses),
      deltas.map((d) => d.carts),
      deltas.map((d) => d.units),
      deltas.map((d) => d.revenueMinor.toString()),
    ],
  );
}
