// The crossing rule, pure: which warning (if any) a change of level or threshold raises. Warnings
// are edge-triggered: they follow changes of state, never individual events, so a product that
// stays low through many sales is reported low once.

import type { StockWarningKind } from './types.js';

/**
 * OUT: at or below zero (a backorder is out of stock too). LOW: from 1 to the threshold.
 * OK: above the threshold. NONE: no level was ever set.
 */
export type StockState = 'NONE' | 'OUT' | 'LOW' | 'OK';

export function stockStateOf(level: number | null, threshold: number): StockState {
  if (level === null) return 'NONE';
  if (level <= 0) return 'OUT';
  return level <= threshold ? 'LOW' : 'OK';
}

/**
 * The warning raised by moving from `before` to `after`, or null.
 * - into LOW from above (or from no level): LOW_STOCK. A first level at or below the threshold
 *   is a crossing too, so a product that starts low is reported.
 * - into OUT from anywhere else: OUT_OF_STOCK only (a drop straight to zero is one warning).
 * - into LOW from OUT (a partial restock from zero, still under the threshold): LOW_STOCK, so a
 *   subscriber learns the product is buyable again, and that it is low.
 * - into OK from LOW or OUT: RESTOCKED.
 * - staying in one state: nothing.
 */
export function crossingOf(before: StockState, after: StockState): StockWarningKind | null {
  if (before === after) return null;
  switch (after) {
    case 'OUT':
      return 'OUT_OF_STOCK';
    case 'LOW':
      return 'LOW_STOCK';
    case 'OK':
      return before === 'NONE' ? null : 'RESTOCKED';
    case 'NONE':
      return null;
  }
}

/** The warning raised by a level change (`before` null: never set) at one threshold. */
export function crossing(
  before: number | null,
  after: number | null,
  threshold: number,
  thresholdAfter = threshold,
): StockWarningKind | null {
  return crossingOf(stockStateOf(before, threshold), stockStateOf(after, thresholdAfter));
}
