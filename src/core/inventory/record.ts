// Stores inventory events set-based (one INSERT … SELECT FROM unnest per batch). An event whose
// eventId is already stored is skipped by the unique index, so concurrent batches with the same
// ids store (and apply) each event exactly once (invariant 2); only the rows inserted come back.
import type { Tx } from '../../db/transaction.js';
import type { NewInventoryEvent } from './types.js';

export type InsertedInventoryEvent = NewInventoryEvent & { seq: bigint };

/** Returns the inserted events in batch order (which is also their seq order). */
export async function insertInventoryEvents(
  tx: Tx,
  events: readonly NewInventoryEvent[],
): Promise<InsertedInventoryEvent[]> {
  if (events.length === 0) return [];
  const { rows } = await tx.query<{ event_id: string; seq: string }>(
    `INSERT INTO inventory_events (event_id, product_id, quantity, delta, occurred_at)
     SELECT u.event_id, u.product_id, u.quantity, u.delta, u.occurred_at
       FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::timestamptz[])
            WITH ORDINALITY AS u(event_id, product_id, quantity, delta, occurred_at, ord)
      ORDER BY u.ord
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id, seq`,
    [
      events.map((e) => e.eventId),
      events.map((e) => e.productId),
      events.map((e) => e.quantity),
      events.map((e) => e.delta),
      events.map((e) => e.occurredAt.toISOString()),
    ],
  );
  const byId = new Map(events.map((e) => [e.eventId, e]));
  return rows
    .map((row) => ({ ...(byId.get(row.event_id) as NewInventoryEvent), seq: BigInt(row.seq) }))
    .sort((a, b) => (a.seq < b.seq ? -1 : 1));
}
