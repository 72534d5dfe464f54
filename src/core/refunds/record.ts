// Appends refunds to their log set-based (one INSERT … SELECT FROM unnest per group), like the
// other logs: an eventId already stored is skipped by the unique index, rows go in in eventId
// order (no deadlock between overlapping batches), seq values are taken in batch order.
import type { Queryable } from '../../feed/feed.js';
import type { Logged } from '../ingest/ingest.js';
import { refundLog } from './log.js';
import type { LoggedRefundEvent, NewRefundEvent } from './types.js';

/** Returns the events this call inserted, in seq order. */
export async function insertRefundEvents(db: Queryable, events: readonly NewRefundEvent[]): Promise<Logged[]> {
  if (events.length === 0) return [];
  const { rows } = await db.query<{ event_id: string; tx_id: string; seq: string }>(
    `WITH taken AS (
       SELECT row_number() OVER (ORDER BY s) AS ord, s AS seq
         FROM (SELECT nextval(pg_get_serial_sequence('refund_events', 'seq')) AS s
                 FROM generate_series(1, cardinality($1::text[]))) n
     )
     INSERT INTO refund_events
       (seq, event_id, order_id, product_id, quantity, amount_minor, currency, restock, occurred_at)
     SELECT taken.seq, u.event_id, u.order_id, u.product_id, u.quantity, u.amount_minor, u.currency, u.restock,
            u.occurred_at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::text[], $7::boolean[],
                   $8::timestamptz[]) WITH ORDINALITY
            AS u(event_id, order_id, product_id, quantity, amount_minor, currency, restock, occurred_at, ord)
       JOIN taken USING (ord)
      ORDER BY u.event_id
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id, tx_id, seq`,
    [
      events.map((e) => e.eventId),
      events.map((e) => e.orderId),
      events.map((e) => e.productId),
      events.map((e) => e.quantity),
      events.map((e) => e.amountMinor.toString()),
      events.map((e) => e.currency),
      events.map((e) => e.restock),
      events.map((e) => e.occurredAt.toISOString()),
    ],
  );
  return rows
    .map((row) => ({ eventId: row.event_id, position: { txId: BigInt(row.tx_id), seq: BigInt(row.seq) } }))
    .sort((a, b) => (a.position.seq < b.position.seq ? -1 : 1));
}

/** The stored refunds with these eventIds, for comparing a resent refund with the original. */
export async function readStoredRefunds(
  db: Queryable,
  eventIds: readonly string[],
): Promise<Map<string, LoggedRefundEvent & Logged>> {
  const { rows } = await db.query(
    `SELECT ${refundLog.columns}, t.tx_id, t.seq FROM refund_events t WHERE t.event_id = ANY($1::text[])`,
    [eventIds],
  );
  return new Map(
    rows.map((row) => {
      const event = refundLog.toEvent(row);
      return [event.eventId, Object.assign(event, { position: { txId: event.txId, seq: event.seq } })];
    }),
  );
}
