// The inventory log: inventory_events read by the inventory processor, in commit order.
import { defineLog } from '../ingest/log-table.js';
import type { NewInventoryEvent } from './types.js';

export type LoggedInventoryEvent = NewInventoryEvent & { txId: bigint; seq: bigint };

export const inventoryLog = defineLog<NewInventoryEvent, LoggedInventoryEvent>({
  name: 'inventory',
  table: 'inventory_events',
  stored: 'event_id text, product_id text, quantity int, delta int, occurred_at timestamptz',
  values: (e) => [e.eventId, e.productId, e.quantity, e.delta, e.occurredAt.toISOString()],
  toEvent(row, txId, seq) {
    return {
      txId,
      seq,
      eventId: row.event_id as string,
      productId: row.product_id as string,
      quantity: row.quantity as number | null,
      delta: row.delta as number | null,
      occurredAt: row.occurred_at as Date,
    };
  },
});
