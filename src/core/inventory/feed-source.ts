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
  where(filter, bind) {
    const conditions: string[] = [];
    if (filter.productIds != null) conditions.push(`t.product_id = ANY(${bind(filter.productIds)}::text[])`);
    if (filter.kinds != null && filter.kinds.length > 0) conditions.push(`t.kind = ANY(${bind(filter.kinds)}::text[])`);
    if (filter.from != null) conditions.push(`t.occurred_at >= ${bind(filter.from)}`);
    if (filter.to != null) conditions.push(`t.occurred_at < ${bind(filter.to)}`);
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
