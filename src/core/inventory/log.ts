// The inventory log: inventory_events read by the inventory processor, in commit order.
import { positionOf } from '../../feed/feed.js';
import type { PgLog } from '../processing/log.js';
import type { NewInventoryEvent } from './types.js';

export type LoggedInventoryEvent = NewInventoryEvent & { txId: bigint; seq: bigint };

export const inventoryLog: PgLog<LoggedInventoryEvent> = {
  name: 'inventory',
  table: 'inventory_events',
  columns: 't.event_id, t.product_id, t.quantity, t.delta, t.occurred_at',
  toEvent(row) {
    const { txId, seq } = positionOf(row);
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
};
