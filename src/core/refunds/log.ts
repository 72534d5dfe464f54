// The refunds log: refund_events read by the sales and inventory processors, in commit order
// (see processing/log.ts).
import { defineLog } from '../ingest/log-table.js';
import type { LoggedRefundEvent, NewRefundEvent } from './types.js';

export const refundLog = defineLog<NewRefundEvent, LoggedRefundEvent>({
  name: 'refunds',
  table: 'refund_events',
  stored:
    'event_id text, order_id text, product_id text, quantity int, amount_minor bigint, currency text, restock boolean, occurred_at timestamptz',
  values: (e) => [
    e.eventId,
    e.orderId,
    e.productId,
    e.quantity,
    e.amountMinor.toString(),
    e.currency,
    e.restock,
    e.occurredAt.toISOString(),
  ],
  toEvent(row, txId, seq) {
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
});

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
