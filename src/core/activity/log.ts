// The activity log: activity_events read by the processors, in commit order (see processing/log.ts).
import { positionOf } from '../../feed/feed.js';
import type { PgLog } from '../processing/log.js';
import type { InsertedActivityEvent } from './record.js';
import type { ActivityType, NewActivityEvent } from './types.js';

export const activityLog: PgLog<InsertedActivityEvent> = {
  name: 'activity',
  table: 'activity_events',
  columns: `t.event_id, t.user_id, t.type, t.product_id, t.quantity, t.unit_price_minor, t.currency,
            t.order_id, t.occurred_at`,
  toEvent(row) {
    const { txId, seq } = positionOf(row);
    return { txId, seq, ...activityEventOf(row) };
  },
};

/** An activity_events row (aliased columns as selected above) as a NewActivityEvent; the feed reads it too. */
export function activityEventOf(row: Record<string, unknown>): NewActivityEvent {
  return {
    eventId: row.event_id as string,
    userId: row.user_id as string,
    type: row.type as ActivityType,
    productId: row.product_id as string,
    quantity: row.quantity as number,
    unitPriceMinor: row.unit_price_minor === null ? null : BigInt(row.unit_price_minor as string),
    currency: row.currency as string | null,
    orderId: row.order_id as string | null,
    occurredAt: row.occurred_at as Date,
  };
}

/** Only purchases: for the processors that need nothing else (stock, sales). */
export const PURCHASES_ONLY = "t.type = 'PURCHASE'";
