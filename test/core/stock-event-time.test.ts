// Stock in event time, the pure fold (src/core/inventory/event-time.ts): counts are ordered by
// occurredAt (log position breaks ties), and changes before the latest count are already in it.
import { describe, expect, it } from 'vitest';
import { foldStockEvents, type Movement, type StockEvent } from '../../src/core/inventory/event-time.js';
import type { LockedStock } from '../../src/core/inventory/stock.js';

let seq = 0n;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 30, 10, minute));
function event(kind: StockEvent['kind'], amount: number, minute: number, productId = 'p'): StockEvent {
  seq++;
  return {
    productId,
    kind,
    amount,
    occurredAt: at(minute),
    position: { txId: 100n + seq, seq },
    eventId: `e${seq}`,
  };
}
const count = (level: number, minute: number) => event('COUNT', level, minute);
const adjust = (delta: number, minute: number) => event('ADJUSTMENT', delta, minute);
const purchase = (units: number, minute: number) => event('PURCHASE', -units, minute);

/** Folds `events` in log order over a product with no level yet; returns the level and warnings. */
function fold(events: StockEvent[], start: LockedStock = { quantity: null, threshold: null }) {
  const stock = new Map<string, LockedStock>([['p', { ...start }]]);
  const known = new Map<string, Movement[]>();
  const { warnings } = foldStockEvents(stock, known, events, 10);
  return { level: stock.get('p')?.quantity, warnings: warnings.map((w) => `${w.kind}@${w.quantity}`) };
}

describe('stock in event time', () => {
  it('a count replaces the level as of its time', () => {
    expect(fold([count(100, 0), purchase(5, 1), count(40, 2)]).level).toBe(40);
  });

  it('a late count older than the latest count changes nothing', () => {
    const result = fold([count(100, 0), count(50, 5), count(70, 3)]);
    expect(result.level).toBe(50);
  });

  it('a late purchase that the latest count already includes is not taken again', () => {
    // Counted 20 at 10:05; the purchase at 10:02 arrives afterwards: it is in the count.
    const result = fold([count(100, 0), count(20, 5), purchase(15, 2)]);
    expect(result.level).toBe(20);
    expect(result.warnings).toEqual([]);
  });

  it('a late purchase after the latest count is taken', () => {
    expect(fold([count(20, 5), purchase(3, 7)]).level).toBe(17);
  });

  it('a late count is the count plus the movements after it', () => {
    // Purchases at 10:30 and 10:40 were applied; a count of 50 made at 10:35 arrives late.
    const result = fold([count(100, 0), purchase(5, 30), purchase(2, 40), count(50, 35)]);
    expect(result.level).toBe(48);
  });

  it('ties at the same occurredAt go by log order', () => {
    // The adjustment is logged after the count with the same time: it comes after the count.
    expect(fold([count(30, 10), adjust(5, 10)]).level).toBe(35);
    // A count logged after an adjustment with the same time includes it.
    expect(fold([adjust(5, 10), count(30, 10)]).level).toBe(30);
  });

  it('a partial restock from zero below the threshold is a LOW_STOCK', () => {
    const result = fold([count(12, 0), purchase(12, 1), adjust(4, 2)]);
    expect(result.warnings).toEqual(['OUT_OF_STOCK@0', 'LOW_STOCK@4']);
  });

  it('every transition between in stock, low and out is reported once', () => {
    const result = fold([count(50, 0), purchase(41, 1), purchase(1, 2), purchase(8, 3), adjust(20, 4), adjust(1, 5)]);
    expect(result.warnings).toEqual(['LOW_STOCK@9', 'OUT_OF_STOCK@0', 'RESTOCKED@20']);
  });

  it('a purchase of a product never counted changes nothing, and a later count of an earlier time includes it', () => {
    const result = fold([purchase(2, 20), count(30, 10)]);
    expect(result.level).toBe(28);
  });

  it('stored movements after a late count are added to it', () => {
    const stock = new Map<string, LockedStock>([
      ['p', { quantity: 95, threshold: null, counted: { at: at(0).getTime(), txId: 1n, seq: 1n } }],
    ]);
    const known = new Map<string, Movement[]>([
      ['p', [{ time: { at: at(30).getTime(), txId: 2n, seq: 2n }, amount: -5 }]],
    ]);
    foldStockEvents(stock, known, [count(60, 20)], 10);
    expect(stock.get('p')?.quantity).toBe(55);
  });
});
