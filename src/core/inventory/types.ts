// The vocabulary of the inventory stream, named as in contract.graphql.

export const STOCK_WARNING_KINDS = ['LOW_STOCK', 'OUT_OF_STOCK', 'RESTOCKED'] as const;
export type StockWarningKind = (typeof STOCK_WARNING_KINDS)[number];

/** An inventory event as an integration sends it: nothing is trusted yet. */
export type InventoryEventInput = {
  eventId: string;
  productId: string;
  /** Absolute level. Exactly one of quantity and delta. */
  quantity?: number | null;
  /** Relative adjustment. Exactly one of quantity and delta. */
  delta?: number | null;
  occurredAt?: Date | string | null;
};

/** A validated inventory event: exactly one of `quantity` and `delta` is a number. */
export type NewInventoryEvent = {
  eventId: string;
  productId: string;
  quantity: number | null;
  delta: number | null;
  occurredAt: Date;
  /** occurredAt was not sent (it is the arrival time): a resend is compared without it. */
  timeDefaulted?: boolean;
};

/**
 * One change to a product's stock, in the order it is applied. Every path that changes stock
 * (absolute level, adjustment, purchase, threshold) is one of these and goes through
 * applyStockChanges, so all of them meet the same crossing rule.
 */
export type StockChange =
  | { kind: 'level'; productId: string; quantity: number; occurredAt: Date }
  | { kind: 'delta'; productId: string; delta: number; occurredAt: Date }
  /** Units bought; applies only to a product whose level was set (no level, no stock to take from). */
  | { kind: 'purchase'; productId: string; quantity: number; occurredAt: Date }
  | { kind: 'threshold'; productId: string; threshold: number; occurredAt: Date };

/** A product's stock as the API shows it. */
export type StockLevel = {
  productId: string;
  /** The level; 0 for a product whose level was never set (see `isSet`). */
  quantity: number;
  /** The product's own threshold, or LOW_STOCK_THRESHOLD when it has none. */
  threshold: number;
  /** False until a level (absolute or adjustment) was recorded for the product. */
  isSet: boolean;
  updatedAt: Date;
};

/** A warning as written by applyStockChanges, before it has a feed position. */
export type NewStockWarning = {
  productId: string;
  kind: StockWarningKind;
  /** Stock level right after the change that caused the warning. */
  quantity: number;
  threshold: number;
  occurredAt: Date;
};

/** A stored warning with its place in the feed. */
export type StockWarning = NewStockWarning & { cursor: string };

export type StockWarningFilter = {
  productIds?: readonly string[] | null;
  kinds?: readonly StockWarningKind[] | null;
  from?: Date | null;
  to?: Date | null;
};
