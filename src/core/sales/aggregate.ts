// Adds newly stored purchases to their MINUTE, HOUR and DAY windows, inside the batch's
// transaction, with ONE set-based statement per batch: the batch is pre-aggregated per
// (size, window_start, currency) here, then upserted atomically
// (`revenue_minor = sales_windows.revenue_minor + EXCLUDED.revenue_minor`), so concurrent
// batches from any number of connections never lose an amount (invariant 3). Only events the
// ingest path newly inserted arrive here, so a duplicate never counts twice (invariant 2).
import type { Tx } from '../../db/transaction.js';
import type { FeedTopic } from '../../feed/topics.js';
import type { InsertedActivityEvent } from '../activity/record.js';
import type { LoggedRefundEvent } from '../refunds/types.js';
import { lineTotal } from './money.js';
import {
  createShopCalendar,
  LONGEST_WINDOW_MS,
  SALES_WINDOW_SIZES,
  type SalesWindowSize,
  type ShopCalendar,
} from './window.js';

/** What one batch adds to one window, before the orderIds are checked against earlier batches. */
export type WindowDelta = {
  size: SalesWindowSize;
  start: Date;
  end: Date;
  /** The start on the shop's clock, with its offset (window.ts). */
  localStart: string;
  currency: string;
  revenueMinor: bigint;
  units: number;
  /** Purchases without an orderId: each is an order of its own. */
  looseOrders: number;
  /** Distinct orderIds of this batch in this window; counted only if no earlier batch had them. */
  orderIds: Set<string>;
  /** Refunds whose own occurredAt lies in the window (issue 16): count, units, money. */
  refunds: number;
  refundUnits: number;
  refundMinor: bigint;
};

const UTC_CALENDAR = createShopCalendar();

/**
 * Pure: the batch's purchases and refunds summed per window (on the shop's clock) and currency,
 * ordered by (size, start, currency). A refund counts in the window of its own event time, not
 * in its purchase's.
 */
export function windowDeltas(
  events: readonly InsertedActivityEvent[],
  calendar: ShopCalendar = UTC_CALENDAR,
  refunds: readonly LoggedRefundEvent[] = [],
): WindowDelta[] {
  const deltas = new Map<string, WindowDelta>();
  const deltaOf = (size: SalesWindowSize, occurredAt: Date, currency: string): WindowDelta => {
    const { start, end, localStart } = calendar.windowOf(size, occurredAt);
    const key = deltaKey(size, start, currency);
    let delta = deltas.get(key);
    if (!delta) {
      delta = {
        size,
        start,
        end,
        localStart,
        currency,
        revenueMinor: 0n,
        units: 0,
        looseOrders: 0,
        orderIds: new Set(),
        refunds: 0,
        refundUnits: 0,
        refundMinor: 0n,
      };
      deltas.set(key, delta);
    }
    return delta;
  };
  for (const event of events) {
    if (event.type !== 'PURCHASE' || event.unitPriceMinor === null || event.currency === null) continue;
    for (const size of SALES_WINDOW_SIZES) {
      const delta = deltaOf(size, event.occurredAt, event.currency);
      delta.revenueMinor += lineTotal(event.unitPriceMinor, event.quantity);
      delta.units += event.quantity;
      if (event.orderId === null) delta.looseOrders++;
      else delta.orderIds.add(event.orderId);
    }
  }
  for (const refund of refunds) {
    for (const size of SALES_WINDOW_SIZES) {
      const delta = deltaOf(size, refund.occurredAt, refund.currency);
      delta.refunds++;
      delta.refundUnits += refund.quantity;
      delta.refundMinor += refund.amountMinor;
    }
  }
  return [...deltas.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, delta]) => delta);
}

function deltaKey(size: SalesWindowSize, start: Date, currency: string): string {
  // Fixed-width parts, so that string order is (size, start, currency) order.
  return `${size.padEnd(6)}|${start.toISOString()}|${currency}`;
}

/**
 * The sales processor (an ActivityProcessor): one statement records the new orderIds
 * (INSERT … ON CONFLICT DO NOTHING RETURNING: only a first sighting counts) and upserts every
 * touched window, re-stamping its feed position so that it is published again. Then the orderIds
 * of windows that ended more than `orderLatenessHours` ago are forgotten (pruneWindowOrders).
 */
export async function applySalesWindows(
  tx: Tx,
  events: readonly InsertedActivityEvent[],
  settings: { orderLatenessHours: number; calendar?: ShopCalendar },
  refunds: readonly LoggedRefundEvent[] = [],
): Promise<FeedTopic[]> {
  const deltas = windowDeltas(events, settings.calendar, refunds);
  if (deltas.length === 0) return [];
  // Sorted by the statement itself (ORDER BY), so every transaction locks in the same order.
  const orders = deltas.flatMap((d) => [...d.orderIds].map((orderId) => ({ d, orderId })));
  await tx.query(
    `WITH new_orders AS (
       INSERT INTO sales_window_orders (size, window_start, currency, order_id)
       SELECT * FROM unnest($7::text[], $8::timestamptz[], $9::text[], $10::text[])
       ORDER BY 1, 2, 3, 4
       ON CONFLICT DO NOTHING
       RETURNING size, window_start, currency
     ), counted AS (
       SELECT size, window_start, currency, count(*) AS n FROM new_orders GROUP BY 1, 2, 3
     ), batch AS (
       SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                            $11::timestamptz[], $12::text[], $13::bigint[], $14::bigint[], $15::bigint[])
         AS b(size, window_start, currency, revenue_minor, units, loose_orders, window_end, local_start,
              refunds, refund_units, refund_minor)
     )
     INSERT INTO sales_windows AS w (size, window_start, currency, revenue_minor, units, orders, window_end, local_start,
                                     refunds, refund_units, refund_minor)
     SELECT b.size, b.window_start, b.currency, b.revenue_minor, b.units, b.loose_orders + coalesce(c.n, 0),
            b.window_end, b.local_start, b.refunds, b.refund_units, b.refund_minor
       FROM batch b LEFT JOIN counted c USING (size, window_start, currency)
      -- Every batch locks windows in this one order, so two batches cannot deadlock on them.
      ORDER BY b.size, b.window_start, b.currency
     ON CONFLICT (size, window_start, currency) DO UPDATE SET
       revenue_minor = w.revenue_minor + EXCLUDED.revenue_minor,
       units = w.units + EXCLUDED.units,
       orders = w.orders + EXCLUDED.orders,
       refunds = w.refunds + EXCLUDED.refunds,
       refund_units = w.refund_units + EXCLUDED.refund_units,
       refund_minor = w.refund_minor + EXCLUDED.refund_minor,
       revision = w.revision + 1,
       -- Re-stamped: the window moves to the end of the feed and is published again.
       seq = nextval(pg_get_serial_sequence('sales_windows', 'seq')),
       tx_id = pg_current_xact_id()::text::bigint,
       updated_at = now()`,
    [
      deltas.map((d) => d.size),
      deltas.map((d) => d.start.toISOString()),
      deltas.map((d) => d.currency),
      deltas.map((d) => d.revenueMinor.toString()),
      deltas.map((d) => d.units),
      deltas.map((d) => d.looseOrders),
      orders.map((o) => o.d.size),
      orders.map((o) => o.d.start.toISOString()),
      orders.map((o) => o.d.currency),
      orders.map((o) => o.orderId),
      deltas.map((d) => d.end.toISOString()),
      deltas.map((d) => d.localStart),
      deltas.map((d) => d.refunds),
      deltas.map((d) => d.refundUnits),
      deltas.map((d) => d.refundMinor.toString()),
    ],
  );
  await pruneWindowOrders(tx, settings.orderLatenessHours, PRUNE_AT_LEAST + 2 * orders.length);
  return ['sales:window'];
}

// The watermark (one lookup in the primary key of sales_windows) less the lateness ($1 hours).
const HORIZON = `((SELECT max(window_start) FROM sales_windows WHERE size = 'MINUTE') - make_interval(hours => $1))`;

/** Rows pruned per batch at least; a batch prunes twice what it added too, so pruning keeps up. */
export const PRUNE_AT_LEAST = 1000;

/**
 * Deletes at most `limit` rows of sales_window_orders whose window ended more than
 * `latenessHours` before the latest sale, in event time (the watermark: the start of the latest
 * MINUTE window, so a replay of old history keeps its own orderIds). Those orderIds only served to
 * count a late purchase of an already counted order once; past the lateness, such a purchase
 * counts its order again (revenue and units stay exact). One processor owner at a time, so no
 * other transaction touches these rows. Returns how many rows went.
 */
export async function pruneWindowOrders(tx: Tx, latenessHours: number, limit: number): Promise<number> {
  // A window's end is taken as its start plus the longest such window (a 25-hour DAY), so a
  // shop's longer day keeps its orderIds long enough. One range scan of the primary key (size, window_start, …) per size: cheap when nothing is due.
  const due = SALES_WINDOW_SIZES.map(
    (size) =>
      `(SELECT ctid FROM sales_window_orders
         WHERE size = '${size}' AND window_start < ${HORIZON} - interval '${LONGEST_WINDOW_MS[size]} milliseconds'
         LIMIT $2)`,
  ).join(' UNION ALL ');
  const { rowCount } = await tx.query(`DELETE FROM sales_window_orders WHERE ctid = ANY (ARRAY(${due} LIMIT $2))`, [
    latenessHours,
    limit,
  ]);
  return rowCount ?? 0;
}
