// The refunds log: refund_events read by the sales and inventory processors, in commit order
// (see processing/log.ts).
import { positionOf } from '../../feed/feed.js';
import type { PgLog } from '../processing/log.js';
import type { LoggedRefundEvent, NewRefundEvent } from './types.js';

export const refundLog: PgLog<LoggedRefundEvent> = {
  name: 'refunds',
  table: 'refund_events',
  columns: 't.event_id, t.order_id, t.product_id, t.quantity, t.amount_minor, t.currency, t.restock, t.occurred_at',
  toEvent(row) {
    const { txId, seq } = positionOf(row);
    return {
      eventId: row.event_id as string,
      orderId: row.order_id as string,
      productId: row.product_id as string,
      quantity: row.quantity as number,
      amountMinor: BigInt(row.amount_minor as string),
      currency: row.currency as string,
      restock: row.restock as boolean,
      occurredAt: row.occurred_at as Date,
      txId,
      seq,
    };
  },
};

/** Only refunds that put units back on the shelf: all the inventory processor needs. */
export const RESTOCKS_ONLY = 't.restock AND t.quantity > 0';

export function sameRefund(stored: NewRefundEvent, resent: NewRefundEvent): boolean {
  return (
    stored.orderId === resent.orderId &&
    stored.productId === resent.productId &&
    stored.quantity === resent.quantity &&
    stored.amountMinor === resent.amountMinor &&
    stored.currency === resent.currency &&
    stored.restock === resent.restock &&
    // A resend that leaves occurredAt out gets a new arrival time: compare only what was sent.
    (resent.timeDefaulted === true || stored.occurredAt.getTime() === resent.occurredAt.getTime())
  );
}
