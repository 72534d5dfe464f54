// Pure validation of one refund: a normalised event or a rejection that says what was wrong.
// Whether its order line exists and still has that much to refund is checked where the
// purchases are, in the append's transaction (order-lines.ts).
import { isCurrencyCode } from '../../config.js';
import {
  isId,
  MAX_QUANTITY,
  readOccurredAt,
  rejecter,
  rejectForbiddenText,
  type Validated,
  type ValidationContext,
} from '../ingest/validate.js';
import { parseMoney } from '../sales/money.js';
import type { NewRefundEvent, RefundEventInput } from './types.js';

export function validateRefundEvent(
  input: RefundEventInput,
  index: number,
  context: ValidationContext,
): Validated<NewRefundEvent> {
  const reject = rejecter(index, input.eventId);

  const forbidden = rejectForbiddenText(input, reject);
  if (forbidden) return forbidden;
  if (!isId(input.eventId)) return reject('INVALID_EVENT_ID', input.eventId);
  if (!isId(input.orderId)) return reject('INVALID_ORDER_ID', input.orderId);
  if (!isId(input.productId)) return reject('INVALID_PRODUCT_ID', input.productId);

  const quantity = input.quantity;
  if (!Number.isInteger(quantity) || quantity < 0 || quantity > MAX_QUANTITY) {
    return reject('INVALID_REFUND_QUANTITY', quantity);
  }

  const currency = input.currency == null ? context.defaultCurrency : String(input.currency).toUpperCase();
  if (!isCurrencyCode(currency)) return reject('INVALID_CURRENCY', input.currency);
  const parsed = typeof input.amount === 'string' ? parseMoney(input.amount, currency) : null;
  if (!parsed?.ok) {
    return parsed?.reason === 'TOO_MANY_DECIMALS'
      ? reject('INVALID_AMOUNT', undefined, `${JSON.stringify(input.amount)} has more decimals than ${currency} allows`)
      : reject('INVALID_AMOUNT', input.amount);
  }
  if (quantity === 0 && parsed.minor === 0n) return reject('EMPTY_REFUND');

  const time = readOccurredAt(input.occurredAt, context.now);
  if (!time.ok) return reject(time.code, time.got);

  const event: NewRefundEvent = {
    eventId: input.eventId,
    orderId: input.orderId,
    productId: input.productId,
    quantity,
    amountMinor: parsed.minor,
    currency,
    restock: input.restock === true,
    occurredAt: time.at,
  };
  // Added after, not spread (see validateActivityEvent).
  if (input.occurredAt == null) event.timeDefaulted = true;
  return { ok: true, event };
}
