// Stores activity events set-based (one INSERT … SELECT FROM unnest per batch). An event whose
// eventId is already stored is skipped by the unique index, so concurrent batches with the same
// ids store each event exactly once (invariant 2); only the rows this call inserted come back.
//
// Rows are inserted in eventId order, so that two batches with overlapping ids wait for each
// other's unique-index entries in the same order instead of deadlocking; their seq values are
// taken first, in batch order, so that the feed still lists a batch in the order it was sent.
import type { Tx } from '../../db/transaction.js';
import type { NewActivityEvent } from './types.js';

export type InsertedActivityEvent = NewActivityEvent & { txId: bigint; seq: bigint };

export async function insertActivityEvents(
  tx: Tx,
  events: readonly NewActivityEvent[],
): Promise<InsertedActivityEvent[]> {
  if (events.length === 0) return [];
  const { rows: taken } = await tx.query<{ seq: string }>(
    `SELECT nextval(pg_get_serial_sequence('activity_events', 'seq'))::text AS seq FROM generate_series(1, $1)`,
    [events.length],
  );
  const seqs = taken.map((row) => BigInt(row.seq)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const { rows } = await tx.query<{ event_id: string; tx_id: string; seq: string }>(
    `INSERT INTO activity_events
       (seq, event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id, occurred_at)
     SELECT * FROM unnest($10::bigint[], $1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                          $6::bigint[], $7::text[], $8::text[], $9::timestamptz[])
       AS u(seq, event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id, occurred_at)
     ORDER BY event_id
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id, tx_id, seq`,
    [
      events.map((e) => e.eventId),
      events.map((e) => e.userId),
      events.map((e) => e.type),
      events.map((e) => e.productId),
      events.map((e) => e.quantity),
      events.map((e) => e.unitPriceMinor?.toString() ?? null),
      events.map((e) => e.currency),
      events.map((e) => e.orderId),
      events.map((e) => e.occurredAt.toISOString()),
      seqs.map(String),
    ],
  );
  const byId = new Map(events.map((e) => [e.eventId, e]));
  return rows
    .map((row) => ({
      ...(byId.get(row.event_id) as NewActivityEvent),
      txId: BigInt(row.tx_id),
      seq: BigInt(row.seq),
    }))
    .sort((a, b) => (a.seq < b.seq ? -1 : 1));
}
