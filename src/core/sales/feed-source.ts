// The sales_windows table read as a STATE feed: every change re-stamps a window's (tx_id, seq),
// so a replay after a cursor yields the latest state of each window changed since, and keyOf
// lets a slow subscriber's queue keep only the latest state per window (invariant 6).
import { encodeCursor } from '../../feed/cursor.js';
import { type FeedSource, positionOf } from '../../feed/feed.js';
import type { SalesFilter, SalesWindow } from './types.js';
import type { SalesWindowSize } from './window.js';

export const SALES_WINDOW_COLUMNS = `t.size, t.window_start, t.currency, t.revenue_minor, t.orders, t.units,
            t.revision, t.updated_at, t.window_end, t.local_start, t.refunds, t.refund_units, t.refund_minor`;

export function toSalesWindow(row: Record<string, unknown>): SalesWindow {
  const position = positionOf(row);
  const size = row.size as SalesWindowSize;
  const start = row.window_start as Date;
  return {
    position,
    cursor: encodeCursor(position),
    size,
    start,
    // Stored as computed on the shop's clock (a DAY may last 23 or 25 hours).
    end: row.window_end as Date,
    localStart: row.local_start as string,
    currency: row.currency as string,
    revenueMinor: BigInt(row.revenue_minor as string),
    orders: Number(row.orders),
    units: Number(row.units),
    refunds: Number(row.refunds),
    refundUnits: Number(row.refund_units),
    refundMinor: BigInt(row.refund_minor as string),
    revision: row.revision as number,
    updatedAt: row.updated_at as Date,
  };
}

export const salesFeed: FeedSource<SalesWindow, SalesFilter> = {
  topic: 'sales:window',
  table: 'sales_windows',
  columns: SALES_WINDOW_COLUMNS,
  toItem: toSalesWindow,
  where(filter, bind) {
    const conditions = [`t.size = ${bind(filter.size)}`];
    if (filter.currency != null) conditions.push(`t.currency = ${bind(filter.currency)}`);
    return conditions;
  },
  matches(window, filter) {
    return window.size === filter.size && (filter.currency == null || window.currency === filter.currency);
  },
  keyOf: (window) => `${window.size}|${window.start.toISOString()}|${window.currency}`,
};
