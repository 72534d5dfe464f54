// Pure validation of catalogue entries: one incoming entry → a normalised event or a rejection
// that says what was wrong and where. Needs neither database nor clock.
import { isCurrencyCode } from '../../config.js';
import { isId, readOccurredAt, rejecter, rejectForbiddenText, type Validated } from '../ingest/validate.js';
import { parseMoney } from '../sales/money.js';
import type { NewProductEvent, ProductEventInput } from './types.js';

export const MAX_NAME_LENGTH = 200;
export const MAX_CATEGORY_LENGTH = 100;

export function validateProductEvent(
  input: ProductEventInput,
  index: number,
  context: { defaultCurrency: string; now: Date },
): Validated<NewProductEvent> {
  const reject = rejecter(index, input.eventId);

  const forbidden = rejectForbiddenText(input, reject);
  if (forbidden) return forbidden;
  if (!isId(input.eventId)) return reject('INVALID_EVENT_ID', input.eventId);
  if (!isId(input.productId)) return reject('INVALID_PRODUCT_ID', input.productId);
  // Stored trimmed: " Mug " and "Mug" are one name, and one category to filter by.
  const name = typeof input.name === 'string' ? input.name.trim() : '';
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return reject('INVALID_NAME', input.name);
  const category = typeof input.category === 'string' ? input.category.trim() : '';
  if (category.length === 0 || category.length > MAX_CATEGORY_LENGTH) {
    return reject('INVALID_CATEGORY', input.category);
  }

  let currency: string | null = null;
  if (input.currency != null) {
    currency = String(input.currency).trim().toUpperCase();
    if (!isCurrencyCode(currency)) return reject('INVALID_CURRENCY', input.currency);
  }
  let listPriceMinor: bigint | null = null;
  if (input.listPrice != null) {
    currency ??= context.defaultCurrency;
    const parsed = parseMoney(String(input.listPrice), currency);
    if (!parsed.ok) {
      return parsed.reason === 'TOO_MANY_DECIMALS'
        ? reject('TOO_MANY_DECIMALS', `${input.listPrice} ${currency}`)
        : reject('INVALID_LIST_PRICE', input.listPrice);
    }
    listPriceMinor = parsed.minor;
  } else if (currency !== null) {
    return reject('CURRENCY_WITHOUT_PRICE', input.currency);
  }

  const time = readOccurredAt(input.occurredAt, context.now);
  if (!time.ok) return reject(time.code, time.got);

  const event: NewProductEvent = {
    eventId: input.eventId,
    productId: input.productId,
    name,
    category,
    listPriceMinor,
    currency,
    occurredAt: time.at,
  };
  if (input.occurredAt == null) event.timeDefaulted = true; // not spread: see validateActivityEvent
  return { ok: true, event };
}
