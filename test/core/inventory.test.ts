import { describe, expect, it } from 'vitest';
import { validateInventoryEvent } from '../../src/core/ingest/validate.js';
import { crossing, crossingOf, type StockState, stockStateOf } from '../../src/core/inventory/crossing.js';
import { foldStockChanges, type LockedStock } from '../../src/core/inventory/stock.js';
import type { StockChange } from '../../src/core/inventory/types.js';

describe('the crossing rule', () => {
  // old level (null: never set), new level, threshold → warning
  const table: Array<[number | null, number, number, string | null]> = [
    [null, 100, 10, null], // first level above the threshold: nothing to report
    [null, 50, 10, null],
    [null, 11, 10, null],
    [null, 10, 10, 'LOW_STOCK'], // a first level at the threshold is low
    [null, 5, 10, 'LOW_STOCK'],
    [null, 0, 10, 'OUT_OF_STOCK'], // a first level of zero is out (and only out)
    [20, 15, 10, null], // OK → OK
    [11, 10, 10, 'LOW_STOCK'], // OK → LOW, at the threshold
    [20, 1, 10, 'LOW_STOCK'],
    [20, 0, 10, 'OUT_OF_STOCK'], // straight to zero: one warning, OUT_OF_STOCK
    [20, -3, 10, 'OUT_OF_STOCK'], // a backorder is out of stock
    [10, 5, 10, null], // LOW → LOW
    [5, 0, 10, 'OUT_OF_STOCK'], // LOW → OUT
    [5, 11, 10, 'RESTOCKED'], // LOW → OK
    [10, 11, 10, 'RESTOCKED'],
    [0, 5, 10, 'LOW_STOCK'], // OUT → LOW: a partial restock is buyable again, and low
    [0, 10, 10, 'LOW_STOCK'],
    [0, 11, 10, 'RESTOCKED'], // OUT → OK
    [-4, 50, 10, 'RESTOCKED'],
    [0, -2, 10, null], // OUT → OUT
    [0, 0, 10, null],
    [5, 3, 0, null], // threshold 0: OK → OK, there is no LOW band
    [3, 0, 0, 'OUT_OF_STOCK'],
    [0, 1, 0, 'RESTOCKED'],
  ];
  it.each(table)('level %s → %s at threshold %s gives %s', (before, after, threshold, expected) => {
    expect(crossing(before, after, threshold)).toBe(expected);
  });

  it('is a function of the states only, and staying in a state never warns', () => {
    const states: StockState[] = ['NONE', 'OUT', 'LOW', 'OK'];
    for (const state of states) expect(crossingOf(state, state)).toBeNull();
    expect(stockStateOf(null, 10)).toBe('NONE');
    expect(stockStateOf(-1, 10)).toBe('OUT');
    expect(stockStateOf(1, 10)).toBe('LOW');
    expect(stockStateOf(11, 10)).toBe('OK');
  });

  it('re-evaluates a level against a changed threshold: 8 becomes LOW when 5 → 10, OK again when 10 → 5', () => {
    expect(crossing(8, 8, 5, 10)).toBe('LOW_STOCK');
    expect(crossing(8, 8, 10, 5)).toBe('RESTOCKED');
    expect(crossing(null, null, 5, 10)).toBeNull();
  });
});

describe('foldStockChanges', () => {
  const at = new Date('2026-11-25T12:00:00Z');
  const level = (productId: string, quantity: number): StockChange => ({
    kind: 'level',
    productId,
    quantity,
    occurredAt: at,
  });
  const delta = (productId: string, d: number): StockChange => ({ kind: 'delta', productId, delta: d, occurredAt: at });
  const purchase = (productId: string, quantity: number): StockChange => ({
    kind: 'purchase',
    productId,
    quantity,
    occurredAt: at,
  });
  const fresh = (...ids: string[]) =>
    new Map<string, LockedStock>(ids.map((id) => [id, { quantity: null, threshold: null }]));

  it('the seed scenario (101 → 100, 102 → 50, 103 → 0) gives one OUT_OF_STOCK for 103 and nothing else', () => {
    const { warnings } = foldStockChanges(
      fresh('101', '102', '103'),
      [level('101', 100), level('102', 50), level('103', 0)],
      10,
    );
    expect(warnings).toEqual([{ productId: '103', kind: 'OUT_OF_STOCK', quantity: 0, threshold: 10, occurredAt: at }]);
  });

  it('reports every crossing inside one batch once, in order, and none per event', () => {
    const stock = fresh('p');
    const { warnings } = foldStockChanges(
      stock,
      [level('p', 20), delta('p', -12), delta('p', -1), delta('p', -7), delta('p', 3), delta('p', 30), delta('p', -1)],
      10,
    );
    expect(warnings.map((w) => [w.kind, w.quantity])).toEqual([
      ['LOW_STOCK', 8],
      ['OUT_OF_STOCK', 0],
      ['LOW_STOCK', 3],
      ['RESTOCKED', 33],
    ]);
    expect(stock.get('p')).toEqual({ quantity: 32, threshold: null });
  });

  it('a purchase of a product whose level was never set changes nothing; a delta starts from 0', () => {
    const stock = fresh('never', 'delta');
    stock.set('threshold-only', { quantity: null, threshold: 3 });
    const { warnings, touched } = foldStockChanges(
      stock,
      [purchase('never', 1), purchase('unknown', 1), purchase('threshold-only', 1), delta('delta', 4)],
      10,
    );
    expect([...touched]).toEqual(['delta']);
    expect(stock.get('never')).toEqual({ quantity: null, threshold: null });
    expect(stock.get('delta')).toEqual({ quantity: 4, threshold: null });
    expect(warnings.map((w) => [w.productId, w.kind])).toEqual([['delta', 'LOW_STOCK']]);
  });

  it('a purchase past zero is taken anyway and leaves a backorder', () => {
    const stock = new Map<string, LockedStock>([['p', { quantity: 2, threshold: null }]]);
    const { warnings } = foldStockChanges(stock, [purchase('p', 5)], 10);
    expect(stock.get('p')?.quantity).toBe(-3);
    expect(warnings.map((w) => [w.kind, w.quantity])).toEqual([['OUT_OF_STOCK', -3]]);
  });

  it('refuses a level past the INTEGER range instead of overflowing', () => {
    const stock = new Map<string, LockedStock>([['p', { quantity: 1_500_000_000, threshold: null }]]);
    expect(() => foldStockChanges(stock, [delta('p', 1_000_000_000)], 10)).toThrow(/beyond/);
  });
});

describe('validateInventoryEvent', () => {
  const now = new Date('2026-11-25T12:00:00Z');
  const codeOf = (input: Record<string, unknown>) => {
    const result = validateInventoryEvent({ eventId: 'e', productId: 'p', ...input } as never, 3, { now });
    return result.ok ? 'ok' : result.rejection.code;
  };

  it('accepts exactly one of quantity and delta, and defaults occurredAt to now', () => {
    expect(validateInventoryEvent({ eventId: 'e', productId: 'p', quantity: 0 }, 0, { now })).toEqual({
      ok: true,
      // timeDefaulted: a resend is compared without its arrival time.
      event: { eventId: 'e', productId: 'p', quantity: 0, delta: null, occurredAt: now, timeDefaulted: true },
    });
    expect(codeOf({ delta: -2 })).toBe('ok');
    expect(codeOf({ delta: 0 })).toBe('ok');
  });

  it.each([
    [{}, 'EXACTLY_ONE_OF_QUANTITY_AND_DELTA'],
    [{ quantity: 1, delta: 1 }, 'EXACTLY_ONE_OF_QUANTITY_AND_DELTA'],
    [{ quantity: -1 }, 'INVALID_LEVEL'],
    [{ quantity: 1.5 }, 'INVALID_LEVEL'],
    [{ quantity: 1_000_000_001 }, 'INVALID_LEVEL'],
    [{ delta: 1_000_000_001 }, 'INVALID_DELTA'],
    [{ delta: 0.5 }, 'INVALID_DELTA'],
    [{ quantity: 1, eventId: '' }, 'INVALID_EVENT_ID'],
    [{ quantity: 1, productId: ' ' }, 'INVALID_PRODUCT_ID'],
    [{ quantity: 1, occurredAt: '2026-11-25 12:00' }, 'INVALID_OCCURRED_AT'],
    [{ quantity: 1, occurredAt: '2026-11-26T12:00:00Z' }, 'OCCURRED_IN_FUTURE'],
  ])('rejects %j with %s', (input, code) => {
    expect(codeOf(input)).toBe(code);
  });
});
