// Pure validation: one incoming event → a normalised event or a rejection that says what
// was wrong. Needs neither database nor clock (the caller passes `now`).
import { isCurrencyCode } from '../../config.js';
import {
  ACTIVITY_TYPES,
  type ActivityEventInput,
  type ActivityType,
  type NewActivityEvent,
} from '../activity/types.js';
import type { InventoryEventInput, NewInventoryEvent } from '../inventory/types.js';
import { parseMoney } from '../sales/money.js';
import { REJECTION_CODES, type Rejection, type RejectionCode } from './rejections.js';

export type ValidationContext = { defaultCurrency: string; now: Date };

export type Validated<T> = { ok: true; event: T } | { ok: false; rejection: Rejection };

const MAX_ID_LENGTH = 200;
export const MAX_QUANTITY = 1_000_000;
/**
 * Builds the rejections of the event at `index`: the code's message, and what was sent instead
 * (or, given `detail`, the code's message and that).
 */
export function rejecter(index: number, eventId: unknown) {
  const id = typeof eventId === 'string' ? eventId : null;
  return (code: RejectionCode, got?: unknown, detail?: string): Validated<never> => ({
    ok: false,
    rejection: {
      index,
      eventId: id,
      code,
      message:
        detail !== undefined
          ? `${REJECTION_CODES[code]}: ${detail}`
          : got === undefined
            ? REJECTION_CODES[code]
            : `${REJECTION_CODES[code]}, got ${show(got)}`,
    },
  });
}

/** A character no text field of an event may hold, and where it is. */
export type ForbiddenCharacter = {
  code: 'CONTROL_CHARACTER' | 'UNPAIRED_SURROGATE';
  /** Offset in UTF-16 code units, from 0. */
  offset: number;
  /** U+0000, U+D800, … */
  character: string;
};

/**
 * The first character of `text` that no stored id or value may hold, or null:
 * - C0 controls, U+0000 to U+001F. No field of an event is free text (each is an id, a code, an
 *   amount or an instant), so tab, CR and LF are refused with the rest: there they are never
 *   meant, and they would split log lines and exports. NUL cannot even be stored in PostgreSQL
 *   text. (A free-text field, if one is ever added, could allow tab and line breaks.)
 * - Unpaired surrogates (not Unicode): the driver would store U+FFFD instead, and the stored
 *   event would no longer match its own eventId.
 */
export function findForbiddenCharacter(text: string): ForbiddenCharacter | null {
  for (let offset = 0; offset < text.length; offset++) {
    const unit = text.charCodeAt(offset);
    if (unit < 0x20) return { code: 'CONTROL_CHARACTER', offset, character: codePointName(unit) };
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const next = text.charCodeAt(offset + 1);
    if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      offset++; // a pair: one character outside the BMP
      continue;
    }
    return { code: 'UNPAIRED_SURROGATE', offset, character: codePointName(unit) };
  }
  return null;
}

/** What is wrong with a text `field`, for a message: `eventId "a\u0000b" has U+0000 at offset 1`. */
export function describeForbidden(field: string, text: string, found: ForbiddenCharacter): string {
  return `${field} ${show(text)} has ${found.character} at offset ${found.offset}`;
}

/** Every string field of an event is checked, whatever its name: a new field is covered too. */
export function rejectForbiddenText(input: object, reject: ReturnType<typeof rejecter>): Validated<never> | null {
  for (const [field, value] of Object.entries(input)) {
    if (typeof value !== 'string') continue;
    const found = findForbiddenCharacter(value);
    if (found) return reject(found.code, undefined, describeForbidden(field, value, found));
  }
  return null;
}

function codePointName(unit: number): string {
  return `U+${unit.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Clocks drift; an event stamped a little ahead of ours is still believed. */
const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;

export function validateActivityEvent(
  input: ActivityEventInput,
  index: number,
  context: ValidationContext,
): Validated<NewActivityEvent> {
  const reject = rejecter(index, input.eventId);

  const forbidden = rejectForbiddenText(input, reject);
  if (forbidden) return forbidden;
  if (!isId(input.eventId)) return reject('INVALID_EVENT_ID', input.eventId);
  if (!isId(input.userId)) return reject('INVALID_USER_ID', input.userId);
  if (!isId(input.productId)) return reject('INVALID_PRODUCT_ID', input.productId);
  if (!ACTIVITY_TYPES.includes(input.type as ActivityType)) return reject('INVALID_TYPE', input.type);
  const type = input.type as ActivityType;

  const quantity = input.quantity ?? 1;
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_QUANTITY) {
    return reject('INVALID_QUANTITY', quantity);
  }

  const orderId = input.orderId ?? null;
  if (orderId !== null && !isId(orderId)) return reject('INVALID_ORDER_ID', orderId);

  let currency: string | null = null;
  if (input.currency != null) {
    currency = String(input.currency).toUpperCase();
    if (!isCurrencyCode(currency)) return reject('INVALID_CURRENCY', input.currency);
  }

  let unitPriceMinor: bigint | null = null;
  if (input.unitPrice != null) {
    currency ??= context.defaultCurrency;
    const parsed = parseMoney(String(input.unitPrice), currency);
    if (!parsed.ok) {
      return parsed.reason === 'TOO_MANY_DECIMALS'
        ? reject('TOO_MANY_DECIMALS', `${input.unitPrice} ${currency}`)
        : reject('INVALID_PRICE', input.unitPrice);
    }
    unitPriceMinor = parsed.minor;
  } else if (type === 'PURCHASE') {
    // Decided (issue 4): a purchase without a price would make revenue silently wrong.
    return reject('MISSING_PRICE');
  }

  const time = readOccurredAt(input.occurredAt, context.now);
  if (!time.ok) return reject(time.code, time.got);
  const occurredAt = time.at;

  const event: NewActivityEvent = {
    eventId: input.eventId,
    userId: input.userId,
    type,
    productId: input.productId,
    quantity,
    unitPriceMinor,
    currency,
    orderId,
    occurredAt,
  };
  // Added after, not spread into the literal: Node 20's V8 takes a slow path for a spread
  // followed by fields (measured: 18 µs an event, most of the validation's cost and its GC).
  if (input.occurredAt == null) event.timeDefaulted = true;
  return { ok: true, event };
}

/** Stock levels and adjustments stay far inside INTEGER, so that sums of them can be checked. */
export const MAX_STOCK_LEVEL = 1_000_000_000;

export function validateInventoryEvent(
  input: InventoryEventInput,
  index: number,
  context: Pick<ValidationContext, 'now'>,
): Validated<NewInventoryEvent> {
  const reject = rejecter(index, input.eventId);

  const forbidden = rejectForbiddenText(input, reject);
  if (forbidden) return forbidden;
  if (!isId(input.eventId)) return reject('INVALID_EVENT_ID', input.eventId);
  if (!isId(input.productId)) return reject('INVALID_PRODUCT_ID', input.productId);
  const quantity = input.quantity ?? null;
  const delta = input.delta ?? null;
  if ((quantity === null) === (delta === null)) return reject('EXACTLY_ONE_OF_QUANTITY_AND_DELTA');
  if (quantity !== null && !(Number.isInteger(quantity) && quantity >= 0 && quantity <= MAX_STOCK_LEVEL)) {
    return reject('INVALID_LEVEL', quantity);
  }
  if (delta !== null && !(Number.isInteger(delta) && Math.abs(delta) <= MAX_STOCK_LEVEL)) {
    return reject('INVALID_DELTA', delta);
  }

  const time = readOccurredAt(input.occurredAt, context.now);
  if (!time.ok) return reject(time.code, time.got);
  const occurredAt = time.at;

  const event: NewInventoryEvent = { eventId: input.eventId, productId: input.productId, quantity, delta, occurredAt };
  if (input.occurredAt == null) event.timeDefaulted = true; // not spread: see validateActivityEvent
  return { ok: true, event };
}

/**
 * Validates a batch: one rejection per bad event (by index), and the valid events with a
 * repeated eventId removed: the first of a batch wins; a repeat with the same content counts as a
 * duplicate, one with other content is an EVENT_ID_CONFLICT (an eventId is a promise about content).
 */
export function validateBatch<Input, Event extends { eventId: string }>(
  inputs: readonly Input[],
  validate: (input: Input, index: number) => Validated<Event>,
  sameContent: (a: Event, b: Event) => boolean = () => true,
): { errors: Rejection[]; valid: Event[]; indexes: number[]; duplicates: number } {
  const errors: Rejection[] = [];
  const unique = new Map<string, { event: Event; index: number }>();
  let duplicates = 0;
  inputs.forEach((input, index) => {
    const result = validate(input, index);
    if (!result.ok) {
      errors.push(result.rejection);
      return;
    }
    const first = unique.get(result.event.eventId);
    if (!first) unique.set(result.event.eventId, { event: result.event, index });
    else if (sameContent(first.event, result.event)) duplicates++;
    else errors.push(conflict(index, result.event.eventId, `index ${first.index} of this batch`));
  });
  const kept = [...unique.values()];
  return { errors, valid: kept.map((k) => k.event), indexes: kept.map((k) => k.index), duplicates };
}

/** EVENT_ID_CONFLICT for the event at `index`: `where` says where the other content is. */
export function conflict(index: number, eventId: string, where: string): Rejection {
  return {
    index,
    eventId,
    code: 'EVENT_ID_CONFLICT',
    message: `${REJECTION_CODES.EVENT_ID_CONFLICT}; the other event is at ${where}`,
  };
}

/** An event's time: `now` when absent; refused when unreadable or too far ahead of ours. */
export function readOccurredAt(
  value: Date | string | null | undefined,
  now: Date,
): { ok: true; at: Date } | { ok: false; code: RejectionCode; got: unknown } {
  if (value == null) return { ok: true, at: now };
  const parsed = value instanceof Date ? value : parseInstant(value);
  if (parsed === null || Number.isNaN(parsed.getTime())) return { ok: false, code: 'INVALID_OCCURRED_AT', got: value };
  if (parsed.getTime() > now.getTime() + FUTURE_TOLERANCE_MS) {
    return { ok: false, code: 'OCCURRED_IN_FUTURE', got: parsed.toISOString() };
  }
  return { ok: true, at: parsed };
}

/** ISO-8601 with an explicit offset; a bare local time would depend on the server's zone. */
export function parseInstant(text: unknown): Date | null {
  if (typeof text !== 'string') return null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i.test(text)) return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function isId(value: unknown): value is string {
  return typeof value === 'string' && value.trim().length > 0 && value.length <= MAX_ID_LENGTH;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
