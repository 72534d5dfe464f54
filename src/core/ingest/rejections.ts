// The closed list of reasons an event is rejected. Codes are part of the public API
// (IngestError.code): add new ones, never rename.
import type { Position } from '../../feed/cursor.js';

export const REJECTION_CODES = {
  INVALID_EVENT_ID: 'eventId must be 1 to 200 characters',
  INVALID_USER_ID: 'userId must be 1 to 200 characters',
  INVALID_PRODUCT_ID: 'productId must be 1 to 200 characters',
  INVALID_ORDER_ID: 'orderId must be 1 to 200 characters',
  INVALID_TYPE: 'type must be one of BROWSE, ADD_TO_CART, REMOVE_FROM_CART, PURCHASE',
  INVALID_QUANTITY: 'quantity must be a whole number from 1 to 1000000',
  MISSING_PRICE: 'a PURCHASE needs unitPrice (the price of one unit)',
  INVALID_PRICE: 'unitPrice must be a decimal string such as "19.99", at least 0',
  TOO_MANY_DECIMALS: 'unitPrice has more decimals than its currency allows',
  INVALID_CURRENCY: 'currency must be an ISO 4217 code such as USD',
  INVALID_OCCURRED_AT: 'occurredAt must be an ISO-8601 instant with offset',
  OCCURRED_IN_FUTURE: 'occurredAt is more than 5 minutes in the future',
  EXACTLY_ONE_OF_QUANTITY_AND_DELTA: 'give exactly one of quantity (an absolute level) and delta (an adjustment)',
  INVALID_LEVEL: 'quantity (a stock level) must be a whole number from 0 to 1000000000',
  INVALID_DELTA: 'delta must be a whole number from -1000000000 to 1000000000',
  INVALID_NAME: 'name must be 1 to 200 characters, not only spaces',
  INVALID_CATEGORY: 'category must be 1 to 100 characters, not only spaces',
  INVALID_LIST_PRICE: 'listPrice must be a decimal string such as "19.99", at least 0',
  CURRENCY_WITHOUT_PRICE: 'currency says which currency listPrice is in; give listPrice with it, or neither',
  CONTROL_CHARACTER: 'no field may contain a control character (U+0000 to U+001F)',
  UNPAIRED_SURROGATE: 'no field may contain an unpaired surrogate (U+D800 to U+DFFF): it is not Unicode text',
  INVALID_REFUND_QUANTITY: "a refund's quantity must be a whole number from 0 (money only) to 1000000",
  INVALID_AMOUNT: 'amount must be a decimal string such as "19.99", at least 0',
  EMPTY_REFUND: 'a refund must give back units (quantity) or money (amount), or both',
  UNKNOWN_ORDER_LINE:
    'no purchase of this productId with this orderId is stored; a refund is checked against the purchases stored when it arrives, so send it after its purchase was acknowledged',
  CURRENCY_MISMATCH: "currency differs from the currency of the order line's purchases",
  REFUND_EXCEEDS_SALE:
    'this refund, with the earlier refunds of its order line, gives back more than was sold on that line (units or amount); nothing was stored',
  EVENT_ID_CONFLICT:
    'this eventId was already used for an event with other content; nothing was stored (a new event needs a new eventId)',
} as const;

export type RejectionCode = keyof typeof REJECTION_CODES;

/** One rejected event: where it was in its batch, and why. */
export type Rejection = {
  index: number;
  eventId: string | null;
  code: RejectionCode;
  message: string;
};

export type IngestReport = {
  /** Stored (and, with ack PROCESSED, processed). */
  accepted: number;
  /** Seen before (same eventId and content, in this batch or an earlier one); nothing changed. */
  duplicates: number;
  errors: Rejection[];
  /**
   * Log position of the batch: the last of its events (stored now or before). Derived state has
   * caught up with the batch once every processor has passed it. Null when nothing was valid.
   */
  position: Position | null;
};

/** When a mutation answers: at COMMIT of the log append, or once every processor passed it. */
export const INGEST_ACKS = ['STORED', 'PROCESSED'] as const;
export type IngestAck = (typeof INGEST_ACKS)[number];
