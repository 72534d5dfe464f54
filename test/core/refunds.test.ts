// The pure rules of refunds: validation, the order-line check, the window a refund counts in, and
// the simulator's refunds (issue 16).
import { describe, expect, it } from 'vitest';
import { createShop, type RefundInput } from '../../src/cli/simulate.js';
import { checkRefunds, lineKey, type OrderLineFacts } from '../../src/core/refunds/order-lines.js';
import type { LoggedRefundEvent, NewRefundEvent } from '../../src/core/refunds/types.js';
import { validateRefundEvent } from '../../src/core/refunds/validate.js';
import { windowDeltas } from '../../src/core/sales/aggregate.js';

const now = new Date('2026-12-01T12:00:00Z');
const context = { defaultCurrency: 'USD', now };
const valid = { eventId: 'r-1', orderId: 'o-1', productId: 'p-1', quantity: 1, amount: '9.99', restock: false };

function refund(eventId: string, quantity: number, amountMinor: bigint, currency = 'USD'): NewRefundEvent {
  return {
    eventId,
    orderId: 'o-1',
    productId: 'p-1',
    quantity,
    amountMinor,
    currency,
    restock: false,
    occurredAt: now,
  };
}

/** o-1/p-1 sold 3 units for 30.00 USD, with 1 unit and 10.00 USD refunded before. */
function facts(): OrderLineFacts {
  return new Map([
    [
      lineKey('o-1', 'p-1'),
      {
        sold: new Map([['USD', { units: 3n, minor: 3000n }]]),
        refunded: new Map([['USD', { units: 1n, minor: 1000n }]]),
      },
    ],
  ]);
}

describe('validateRefundEvent', () => {
  it('normalises a valid refund: exact minor units, the default currency, now for a missing occurredAt', () => {
    const result = validateRefundEvent(valid, 0, context);
    expect(result).toEqual({
      ok: true,
      event: {
        eventId: 'r-1',
        orderId: 'o-1',
        productId: 'p-1',
        quantity: 1,
        amountMinor: 999n,
        currency: 'USD',
        restock: false,
        occurredAt: now,
        timeDefaulted: true,
      },
    });
  });

  it.each([
    [{ quantity: -1 }, 'INVALID_REFUND_QUANTITY', 'got -1'],
    [{ quantity: 1.5 }, 'INVALID_REFUND_QUANTITY', 'got 1.5'],
    [{ amount: '-1.00' }, 'INVALID_AMOUNT', 'got "-1.00"'],
    [{ amount: '1e3' }, 'INVALID_AMOUNT', 'got "1e3"'],
    [{ amount: '1.5', currency: 'JPY' }, 'INVALID_AMOUNT', '"1.5" has more decimals than JPY allows'],
    [{ quantity: 0, amount: '0.00' }, 'EMPTY_REFUND', 'or both'],
    [{ currency: 'XX' }, 'INVALID_CURRENCY', 'got "XX"'],
    [{ orderId: '' }, 'INVALID_ORDER_ID', 'got ""'],
    [{ productId: 'a\u0000b' }, 'CONTROL_CHARACTER', 'productId "a\\u0000b" has U+0000 at offset 1'],
    [{ occurredAt: '2026-12-01T13:00:00Z' }, 'OCCURRED_IN_FUTURE', 'more than 5 minutes in the future'],
  ])('refuses %j with %s', (change, code, detail) => {
    const result = validateRefundEvent({ ...valid, ...change }, 4, context);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rejection).toMatchObject({ index: 4, eventId: 'r-1', code });
    expect(result.rejection.message).toContain(detail);
  });

  it('accepts a money-only refund (quantity 0) and a refund of units for nothing (amount 0)', () => {
    expect(validateRefundEvent({ ...valid, quantity: 0 }, 0, context).ok).toBe(true);
    expect(validateRefundEvent({ ...valid, amount: '0' }, 0, context).ok).toBe(true);
  });
});

describe('checkRefunds', () => {
  it('counts each accepted refund against its line for the ones after it', () => {
    const line = facts();
    const refused = checkRefunds(
      [refund('a', 1, 1000n), refund('b', 1, 1001n), refund('c', 1, 1000n), refund('d', 1, 0n)],
      line,
    );
    // a fits (2 units, 20.00 refunded); b asks 10.01 of the 10.00 left; c takes the last unit and money; d has no unit left.
    expect([...refused].map(([id, r]) => [id, r.code])).toEqual([
      ['b', 'REFUND_EXCEEDS_SALE'],
      ['d', 'REFUND_EXCEEDS_SALE'],
    ]);
    expect(refused.get('b')?.detail).toBe(
      'order "o-1", product "p-1" sold 3 units for 30.00 USD; refunded before: 2 units, 20.00 USD; this refund: 1 units, 10.01 USD',
    );
    expect(line.get(lineKey('o-1', 'p-1'))?.refunded.get('USD')).toEqual({ units: 3n, minor: 3000n });
  });

  it('refuses a line that sold nothing, and a refund in another currency than the line', () => {
    const refused = checkRefunds(
      [{ ...refund('x', 1, 1n), orderId: 'o-2' }, refund('y', 1, 1n, 'EUR')],
      new Map([...facts(), [lineKey('o-2', 'p-1'), { sold: new Map(), refunded: new Map() }]]),
    );
    expect(refused.get('x')).toEqual({
      code: 'UNKNOWN_ORDER_LINE',
      detail: 'no purchase of order "o-2", product "p-1" is stored',
    });
    expect(refused.get('y')).toEqual({
      code: 'CURRENCY_MISMATCH',
      detail: 'order "o-1", product "p-1" was sold in USD, this refund is in EUR',
    });
  });

  it('tells order lines apart whatever characters their ids hold', () => {
    expect(lineKey('a|b', 'c')).not.toBe(lineKey('a', 'b|c'));
  });
});

describe('windowDeltas with refunds', () => {
  it('counts a refund in the windows of its own occurredAt, apart from the sales of those windows', () => {
    const late: LoggedRefundEvent = {
      ...refund('r', 2, 1550n),
      occurredAt: new Date('2021-09-03T10:30:15Z'),
      txId: 1n,
      seq: 1n,
    };
    const deltas = windowDeltas([], undefined, [late]);
    expect(
      deltas.map((d) => [d.size, d.start.toISOString(), d.refunds, d.refundUnits, d.refundMinor, d.revenueMinor]),
    ).toEqual([
      ['DAY', '2021-09-03T00:00:00.000Z', 1, 2, 1550n, 0n],
      ['HOUR', '2021-09-03T10:00:00.000Z', 1, 2, 1550n, 0n],
      ['MINUTE', '2021-09-03T10:30:00.000Z', 1, 2, 1550n, 0n],
    ]);
  });
});

describe('the simulator', () => {
  it('refunds only lines it bought, never more than it paid for them, some back to stock', () => {
    const shop = createShop({ shoppers: 30, products: 10, seed: 7, refundShare: 0.5, runId: 't' });
    const bought = new Map<string, { units: number; minor: bigint; currency: string }>();
    const refunds: RefundInput[] = [];
    for (let i = 0; i < 400; i++) {
      const traffic = shop.next(20);
      // Refunds due now refer to purchases of earlier ticks.
      for (const r of traffic.refunds) {
        const line = bought.get(`${r.orderId}|${r.productId}`);
        expect(line, `refund ${r.eventId} of a line never bought`).toBeDefined();
        if (!line) continue;
        expect(r.currency).toBe(line.currency);
        expect(r.quantity).toBeLessThanOrEqual(line.units);
        expect(BigInt(r.amount.replace('.', ''))).toBeLessThanOrEqual(line.minor);
        refunds.push(r);
      }
      for (const e of traffic.activity) {
        if (e.type !== 'PURCHASE' || !e.orderId || !e.unitPrice) continue;
        const quantity = e.quantity ?? 1;
        bought.set(`${e.orderId}|${e.productId}`, {
          units: quantity,
          minor: BigInt(e.unitPrice.replace('.', '')) * BigInt(quantity),
          currency: e.currency as string,
        });
      }
    }
    expect(refunds.length).toBeGreaterThan(10);
    expect(refunds.some((r) => r.restock)).toBe(true);
    expect(refunds.some((r) => !r.restock)).toBe(true);
  });

  it('sends no refunds unless asked (the benchmarks use the shop as it was)', () => {
    const shop = createShop({ shoppers: 30, products: 10, seed: 7 });
    for (let i = 0; i < 200; i++) expect(shop.next(20).refunds).toEqual([]);
  });
});
