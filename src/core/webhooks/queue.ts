// Queues webhook deliveries inside the transaction that writes the items, so an item, its
// deliveries and their pg-boss jobs commit together or not at all: a crash can lose none (the
// transactional outbox). Two statements, whatever the number of endpoints; none when none subscribes.
import type { Tx } from '../../db/transaction.js';
import { addDeliveryJobs } from './jobs.js';

/** The kinds of items an endpoint may receive. */
export const WEBHOOK_KINDS = ['STOCK_WARNING', 'SALES_ALERT'] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

/** An item to deliver: `key` names it uniquely among its kind's items (a feed row's seq). */
export type WebhookItem = { key: string; payload: Record<string, unknown> };

/**
 * Inserts one delivery per (enabled endpoint that takes `kind`, item), with its job, due now. The
 * webhook-id is derived from the endpoint and the item, so every attempt and replay of it carries the same.
 */
export async function queueWebhookDeliveries(tx: Tx, kind: WebhookKind, items: readonly WebhookItem[]): Promise<void> {
  if (items.length === 0) return;
  const { rows } = await tx.query<{ id: string; jobId: string }>(
    `INSERT INTO webhook_deliveries (endpoint_id, kind, item_key, webhook_id, payload, next_attempt_at, job_id)
     SELECT e.id, $1, i.key, 'msg_' || replace(e.id::text, '-', '') || '_' || i.key, i.payload, now(), gen_random_uuid()
       FROM unnest($2::text[], $3::jsonb[]) WITH ORDINALITY AS i(key, payload, ord)
       JOIN webhook_endpoints e ON e.enabled AND $1 = ANY(e.kinds)
      ORDER BY e.id, i.ord
     ON CONFLICT (endpoint_id, item_key) DO NOTHING
     RETURNING id::text, job_id::text AS "jobId"`,
    [kind, items.map((i) => i.key), items.map((i) => JSON.stringify(i.payload))],
  );
  await addDeliveryJobs(tx, rows);
}
