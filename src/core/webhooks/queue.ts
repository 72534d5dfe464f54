// Queues webhook deliveries inside the transaction that writes the items, so an item and its
// deliveries commit together or not at all: a crash can lose neither (the transactional outbox).
// One statement, whatever the number of endpoints; nothing is written when none subscribes.
import type { Tx } from '../../db/transaction.js';

/** The kinds of items an endpoint may receive. */
export const WEBHOOK_KINDS = ['STOCK_WARNING', 'SALES_ALERT'] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

/** An item to deliver: `key` names it uniquely among its kind's items (a feed row's seq). */
export type WebhookItem = { key: string; payload: Record<string, unknown> };

/**
 * Inserts one delivery per (enabled endpoint that takes `kind`, item), due now. The webhook-id
 * is derived from the endpoint and the item, so every attempt and replay of it carries the same.
 */
export async function queueWebhookDeliveries(tx: Tx, kind: WebhookKind, items: readonly WebhookItem[]): Promise<void> {
  if (items.length === 0) return;
  await tx.query(
    `INSERT INTO webhook_deliveries (endpoint_id, kind, item_key, webhook_id, payload, next_attempt_at)
     SELECT e.id, $1, i.key, 'msg_' || replace(e.id::text, '-', '') || '_' || i.key, i.payload, now()
       FROM unnest($2::text[], $3::jsonb[]) WITH ORDINALITY AS i(key, payload, ord)
       JOIN webhook_endpoints e ON e.enabled AND $1 = ANY(e.kinds)
      ORDER BY e.id, i.ord
     ON CONFLICT (endpoint_id, item_key) DO NOTHING`,
    [kind, items.map((i) => i.key), items.map((i) => JSON.stringify(i.payload))],
  );
}
