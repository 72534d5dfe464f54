import { describe, expect, it } from 'vitest';
import type { ActivityEventInput } from '../../src/core/activity/types.js';
import { validateActivityEvent } from '../../src/core/ingest/validate.js';

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
