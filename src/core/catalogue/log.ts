// The catalogue log: product_events read by the catalogue processor, in commit order.
import { positionOf } from '../../feed/feed.js';
import type { PgLog } from '../processing/log.js';
import type { NewProductEvent } from './types.js';

export type LoggedProductEvent = NewProductEvent & { txId: bigint; seq: bigint };

export const catalogueLog: PgLog<LoggedProductEvent> = {
  name: 'catalogue',
  table: 'product_events',
  columns: 't.event_id, t.product_id, t.name, t.category, t.list_price_minor, t.currency, t.occurred_at',
  toEvent(row) {
    const { txId, seq } = positionOf(row);
    return {
      txId,
      seq,
      eventId: row.event_id as string,
      productId: row.product_id as string,
      name: row.name as string,
      category: row.category as string,
      listPriceMinor: row.list_price_minor === null ? null : BigInt(row.list_price_minor as string),
      currency: row.currency as string | null,
      occurredAt: row.occurred_at as Date,
    };
  },
};
