// The vocabulary of refunds and returns, named as in the schema (RefundEventInput).

/** A refund as an integration sends it: nothing is trusted yet. */
export type RefundEventInput = {
  eventId: string;
  /** The order line refunded: the purchases with this orderId and productId. */
  orderId: string;
  productId: string;
  /** Units refunded; 0 for money only (a price adjustment). */
  quantity: number;
  /** Money refunded, a decimal string ("19.99"). */
  amount: string;
  currency?: string | null;
  /** The units go back to stock (a return). */
  restock: boolean;
  occurredAt?: Date | string | null;
};

/** A validated, normalised refund, ready to check against its order line and store. */
export type NewRefundEvent = {
  eventId: string;
  orderId: string;
  productId: string;
  quantity: number;
  amountMinor: bigint;
  currency: string;
  restock: boolean;
  occurredAt: Date;
  /** occurredAt was not sent (it is the arrival time): a resend is compared without it. */
  timeDefaulted?: boolean;
};

/** A stored refund with its log position. */
export type LoggedRefundEvent = NewRefundEvent & { txId: bigint; seq: bigint };
