import { describe, expect, it } from 'vitest';
import type { ActivityEventInput } from '../../src/core/activity/types.js';
import {
  findForbiddenCharacter,
  validateActivityEvent,
  validateInventoryEvent,
} from '../../src/core/ingest/validate.js';

const now = new Date('2026-11-25T12:00:00Z');
const context = { defaultCurrency: 'USD', now };
const base: ActivityEventInput = { eventId: 'e1', userId: 'u1', type: 'BROWSE', productId: 'p1' };

const rejectionOf = (input: Partial<ActivityEventInput> & Record<string, unknown>) => {
  const result = validateActivityEvent({ ...base, ...input } as ActivityEventInput, 7, context);
  if (result.ok) throw new Error('expected a rejection');
  return result.rejection;
};

describe('validateActivityEvent', () => {
  it('fills the defaults: quantity 1, occurredAt now, no price', () => {
    const result = validateActivityEvent(base, 0, context);
    expect(result).toEqual({
      ok: true,
      event: {
        eventId: 'e1',
        userId: 'u1',
        type: 'BROWSE',
        productId: 'p1',
        quantity: 1,
        unitPriceMinor: null,
        currency: null,
        orderId: null,
        occurredAt: now,
        // A resend is compared without its arrival time.
        timeDefaulted: true,
      },
    });
  });

  it('turns a purchase price into minor units of the default currency', () => {
    const result = validateActivityEvent({ ...base, type: 'PURCHASE', quantity: 3, unitPrice: '19.99' }, 0, context);
    expect(result.ok && result.event).toMatchObject({ quantity: 3, unitPriceMinor: 1999n, currency: 'USD' });
  });

  it('keeps an explicit occurredAt with its offset as the same instant', () => {
    const result = validateActivityEvent({ ...base, occurredAt: '2021-09-01T02:00:00+02:00' }, 0, context);
    expect(result.ok && result.event.occurredAt.toISOString()).toBe('2021-09-01T00:00:00.000Z');
  });

  it.each([
    [{ eventId: '' }, 'INVALID_EVENT_ID'],
    [{ eventId: 'x'.repeat(201) }, 'INVALID_EVENT_ID'],
    [{ userId: '  ' }, 'INVALID_USER_ID'],
    [{ productId: '' }, 'INVALID_PRODUCT_ID'],
    [{ type: 'LIKE' }, 'INVALID_TYPE'],
    [{ quantity: 0 }, 'INVALID_QUANTITY'],
    [{ quantity: -2 }, 'INVALID_QUANTITY'],
    [{ quantity: 1.5 }, 'INVALID_QUANTITY'],
    [{ type: 'PURCHASE' }, 'MISSING_PRICE'],
    [{ type: 'PURCHASE', unitPrice: '1e3' }, 'INVALID_PRICE'],
    [{ type: 'PURCHASE', unitPrice: '-1.00' }, 'INVALID_PRICE'],
    [{ type: 'PURCHASE', unitPrice: '1.999' }, 'TOO_MANY_DECIMALS'],
    [{ type: 'PURCHASE', unitPrice: '5.5', currency: 'JPY' }, 'TOO_MANY_DECIMALS'],
    [{ type: 'PURCHASE', unitPrice: '5', currency: 'XYZ' }, 'INVALID_CURRENCY'],
    [{ orderId: '' }, 'INVALID_ORDER_ID'],
    [{ occurredAt: 'yesterday' }, 'INVALID_OCCURRED_AT'],
    [{ occurredAt: '2026-11-25T12:00:00' }, 'INVALID_OCCURRED_AT'],
    [{ occurredAt: '2026-11-25T13:00:00Z' }, 'OCCURRED_IN_FUTURE'],
  ])('rejects %j with %s, naming its index and eventId', (input, code) => {
    const rejection = rejectionOf(input);
    expect(rejection.code).toBe(code);
    expect(rejection.index).toBe(7);
    expect(rejection.message.length).toBeGreaterThan(10);
  });

  it('says what it got in the message', () => {
    expect(rejectionOf({ quantity: -2 }).message).toBe('quantity must be a whole number from 1 to 1000000, got -2');
  });

  it('accepts a price with trailing zeros beyond the currency precision', () => {
    const result = validateActivityEvent({ ...base, type: 'PURCHASE', unitPrice: '10.500' }, 0, context);
    expect(result.ok && result.event.unitPriceMinor).toBe(1050n);
  });
});

describe('control characters and unpaired surrogates in an event', () => {
  const TEXT_FIELDS = ['eventId', 'userId', 'type', 'productId', 'unitPrice', 'currency', 'orderId', 'occurredAt'];

  it.each(TEXT_FIELDS)('NUL in %s is CONTROL_CHARACTER, naming the field and where the character is', (field) => {
    const rejection = rejectionOf({ [field]: 'ab\u0000c' });
    expect(rejection).toEqual({
      index: 7,
      eventId: field === 'eventId' ? 'ab\u0000c' : 'e1',
      code: 'CONTROL_CHARACTER',
      message: `no field may contain a control character (U+0000 to U+001F): ${field} "ab\\u0000c" has U+0000 at offset 2`,
    });
  });

  // No field of an event is free text, so tab and line breaks are refused like the rest of C0.
  it.each([
    ['\u0001', 'U+0001'],
    ['\t', 'U+0009'],
    ['\n', 'U+000A'],
    ['\r', 'U+000D'],
    ['\u001b', 'U+001B'],
    ['\u001f', 'U+001F'],
  ])('%j is refused too (%s)', (character, name) => {
    const rejection = rejectionOf({ userId: `u${character}` });
    expect(rejection.code).toBe('CONTROL_CHARACTER');
    expect(rejection.message).toContain(`userId ${JSON.stringify(`u${character}`)} has ${name} at offset 1`);
  });

  it('checks every string field of the input, whatever its name', () => {
    expect(rejectionOf({ note: 'x\u0000' }).message).toContain('note "x\\u0000" has U+0000');
  });

  it('reports the first such character before any other problem of the event', () => {
    expect(rejectionOf({ eventId: '', userId: 'u\u0000', quantity: -1 }).code).toBe('CONTROL_CHARACTER');
  });

  it.each([
    ['a lone high surrogate', 'x\ud800', 'U+D800'],
    ['a lone low surrogate', 'x\udc00y', 'U+DC00'],
    ['a reversed pair', 'x\udc00\ud800', 'U+DC00'],
  ])('%s is UNPAIRED_SURROGATE', (_what, text, name) => {
    const rejection = rejectionOf({ productId: text });
    expect(rejection.code).toBe('UNPAIRED_SURROGATE');
    expect(rejection.message).toContain(`productId ${JSON.stringify(text)} has ${name} at offset 1`);
  });

  it('accepts the rest of Unicode: space, DEL, accents, other scripts and characters outside the BMP', () => {
    for (const text of ['a b', 'del\u007f', 'café', 'товар-7', '商品', 'gift-🎁', '\u{10FFFF}']) {
      expect(validateActivityEvent({ ...base, productId: text }, 0, context).ok, text).toBe(true);
    }
  });

  it('applies to inventory events too', () => {
    const result = validateInventoryEvent({ eventId: 'i1', productId: 'p\u0000', quantity: 1 }, 3, { now });
    expect(!result.ok && result.rejection).toMatchObject({ index: 3, eventId: 'i1', code: 'CONTROL_CHARACTER' });
  });
});

describe('findForbiddenCharacter', () => {
  it('finds the first C0 control or unpaired surrogate, with its offset', () => {
    expect(findForbiddenCharacter('')).toBeNull();
    expect(findForbiddenCharacter('plain id 42')).toBeNull();
    expect(findForbiddenCharacter('🎁\u0000')).toEqual({ code: 'CONTROL_CHARACTER', offset: 2, character: 'U+0000' });
    expect(findForbiddenCharacter('\u001f')).toEqual({ code: 'CONTROL_CHARACTER', offset: 0, character: 'U+001F' });
    expect(findForbiddenCharacter('ab\ud83c')).toEqual({ code: 'UNPAIRED_SURROGATE', offset: 2, character: 'U+D83C' });
    expect(findForbiddenCharacter(' ')).toBeNull();
  });
});
