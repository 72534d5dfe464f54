// The stock_warnings table read as a feed: how rows become StockWarnings and how the filters
// (products, kinds, time range) apply, in SQL and in memory.
import { encodeCursor, type Position } from '../../feed/cursor.js';
import { type FeedSource, positionOf } from '../../feed/feed.js';
import type { StockWarning, StockWarningFilter, StockWarningKind } from './types.js';

export type StockWarningFeedItem = StockWarning & { position: Position };

export const stockWarningFeed: FeedSource<StockWarningFeedItem, StockWarningFilter> = {
  topic: 'inventory:warning',
  table: 'stock_warnings',
  columns: 't.product_id, t.kind, t.quantity, t.threshold, t.occurred_at',
  toItem(row) {
    const position = positionOf(row);
    return {
      position,
      cursor: encodeCursor(position),
      productId: row.product_id as string,
      kind: row.kind as StockWarningKind,
      quantity: row.quantity as number,
      threshold: row.threshold as number,
      occurredAt: row.occurred_at as Date,
    };
  },
  where(filter, params) {
    const conditions: string[] = [];
    const add = (sql: (n: number) => string, value: unknown) => {
      params.push(value);
      conditions.push(sql(params.length));
    };
    if (filter.productIds != null) add((n) => `t.product_id = ANY($${n}::text[])`, filter.productIds);
    if (filter.kinds != null && filter.kinds.length > 0) add((n) => `t.kind = ANY($${n}::text[])`, filter.kinds);
    if (filter.from != null) add((n) => `t.occurred_at >= $${n}`, filter.from);
    if (filter.to != null) add((n) => `t.occurred_at < $${n}`, filter.to);
    return conditions;
  },
  matches(warning, filter) {
    return (
      (filter.productIds == null || filter.productIds.includes(warning.productId)) &&
      (filter.kinds == null || filter.kinds.length === 0 || filter.kinds.includes(warning.kind)) &&
      (filter.from == null || warning.occurredAt >= filter.from) &&
      (filter.to == null || warning.occurredAt < filter.to)
    );
  },
};
