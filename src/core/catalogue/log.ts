// The catalogue log: product_events read by the catalogue processor, in commit order.
import { defineLog } from '../ingest/log-table.js';
import type { NewProductEvent } from './types.js';

export type LoggedProductEvent = NewProductEvent & { txId: bigint; seq: bigint };

export const catalogueLog = defineLog<NewProductEvent, LoggedProductEvent>({
  name: 'catalogue',
  table: 'product_events',
  stored:
    'event_id text, product_id text, name text, category text, list_price_minor bigint, currency text, occurred_at timestamptz',
  values: (e) => [
    e.eventId,
    e.productId,
    e.name,
    e.category,
    e.listPriceMinor?.toString() ?? null,
    e.currency,
    e.occurredAt.toISOString(),
  ],
  toEvent(row, txId, seq) {
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
});
