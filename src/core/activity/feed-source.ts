// The activity_events table read as a feed: how rows become ActivityEvents and how the
// contract's filters (userId, types, productId, time range) apply, in SQL and in memory.
import { encodeCursor } from '../../feed/cursor.js';
import { type FeedSource, positionOf } from '../../feed/feed.js';
import { activityEventOf } from './log.js';
import type { ActivityEvent, ActivityFilter } from './types.js';

export type ActivityFeedItem = ActivityEvent & { position: ReturnType<typeof positionOf> };

export const activityFeed: FeedSource<ActivityFeedItem, ActivityFilter> = {
  topic: 'activity:event',
  table: 'activity_events',
  isLog: true,
  columns: `t.event_id, t.user_id, t.type, t.product_id, t.quantity, t.unit_price_minor,
            t.currency, t.order_id, t.occurred_at, t.received_at`,
  toItem(row) {
    const position = positionOf(row);
    const e = activityEventOf(row);
    // Fields listed, not spread: see activity/log.ts withPosition.
    return {
      position,
      cursor: encodeCursor(position),
      eventId: e.eventId,
      userId: e.userId,
      type: e.type,
      productId: e.productId,
      quantity: e.quantity,
      unitPriceMinor: e.unitPriceMinor,
      currency: e.currency,
      orderId: e.orderId,
      occurredAt: e.occurredAt,
      receivedAt: row.received_at as Date,
    };
  },
  where(filter, bind) {
    const conditions: string[] = [];
    if (filter.userId != null) conditions.push(`t.user_id = ${bind(filter.userId)}`);
    if (filter.types != null && filter.types.length > 0) conditions.push(`t.type = ANY(${bind(filter.types)}::text[])`);
    if (filter.productId != null) conditions.push(`t.product_id = ${bind(filter.productId)}`);
    if (filter.from != null) conditions.push(`t.occurred_at >= ${bind(filter.from)}`);
    if (filter.to != null) conditions.push(`t.occurred_at < ${bind(filter.to)}`);
    return conditions;
  },
  // A shopper's own stream is the common case: offer each event only to its shopper's subscribers.
  route: { ofItem: (event) => event.userId, ofFilter: (filter) => filter.userId ?? null },
  matches(event, filter) {
    return (
      (filter.userId == null || event.userId === filter.userId) &&
      (filter.types == null || filter.types.length === 0 || filter.types.includes(event.type)) &&
      (filter.productId == null || event.productId === filter.productId) &&
      (filter.from == null || event.occurredAt >= filter.from) &&
      (filter.to == null || event.occurredAt < filter.to)
    );
  },
};
