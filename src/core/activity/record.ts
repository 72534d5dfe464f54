// Stores activity events set-based (one INSERT … SELECT FROM unnest per batch). An event whose
// eventId is already stored is skipped by the unique index, so concurrent batches with the same
// ids store each event exactly once (invariant 2); only the rows this call inserted come back.
//
// Rows are inserted in eventId order, so that two batches with overlapping ids wait for each
// other's unique-index entries in the same order instead of deadlocking; their seq values are
// taken first, in batch order, so that the feed still lists a batch in the order it was sent.
import type { Queryable } from '../../feed/feed.js';
import type { LogAppender, Logged } from '../ingest/ingest.js';
import { activityLog, withPosition } from './log.js';
import type { NewActivityEvent } from './types.js';

export type InsertedActivityEvent = NewActivityEvent & { txId: bigint; seq: bigint };

/** How recordActivity appends to the activity log. */
export const activityAppender: LogAppender<NewActivityEvent> = {
  stream: 'activity',
  topic: 'activity:event',
  insert: async (db, events) =>
    (await insertActivityEvents(db, events)).map((e) => ({
      eventId: e.eventId,
      position: { txId: e.txId, seq: e.seq },
    })),
  async readStored(db, eventIds) {
    const { rows } = await db.query(
      `SELECT ${activityLog.columns}, t.tx_id, t.seq FROM activity_events t WHERE t.event_id = ANY($1::text[])`,
      [eventIds],
    );
    return new Map(
      rows.map((row) => {
        const event = activityLog.toEvent(row);
        return [
          event.eventId,
          Object.assign(event, { position: { txId: event.txId, seq: event.seq } }) as NewActivityEvent & Logged,
        ];
      }),
    );
  },
  sameContent: (stored, resent) =>
    stored.userId === resent.userId &&
    stored.type === resent.type &&
    stored.productId === resent.productId &&
    stored.quantity === resent.quantity &&
    stored.unitPriceMinor === resent.unitPriceMinor &&
    stored.currency === resent.currency &&
    stored.orderId === resent.orderId &&
    // A resend that leaves occurredAt out gets a new arrival time: compare only what was sent.
    (resent.timeDefaulted === true || stored.occurredAt.getTime() === resent.occurredAt.getTime()),
};

export async function insertActivityEvents(
  db: Queryable,
  events: readonly NewActivityEvent[],
): Promise<InsertedActivityEvent[]> {
  if (events.length === 0) return [];
  // One round trip: the batch's seq values are taken, sorted, and matched to the events by their
  // position in the batch (ord), while the rows themselves go in in eventId order.
  const { rows } = await db.query<{ event_id: string; tx_id: string; seq: string }>(
    `WITH taken AS (
       SELECT row_number() OVER (ORDER BY s) AS ord, s AS seq
         FROM (SELECT nextval(pg_get_serial_sequence('activity_events', 'seq')) AS s
                 FROM generate_series(1, cardinality($1::text[]))) n
     )
     INSERT INTO activity_events
       (seq, event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id, occurred_at)
     SELECT taken.seq, u.event_id, u.user_id, u.type, u.product_id, u.quantity, u.unit_price_minor, u.currency,
            u.order_id, u.occurred_at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                   $6::bigint[], $7::text[], $8::text[], $9::timestamptz[]) WITH ORDINALITY
            AS u(event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id, occurred_at, ord)
       JOIN taken USING (ord)
      ORDER BY u.event_id
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
    ],
  );
  const byId = new Map(events.map((e) => [e.eventId, e]));
  return rows
    .map((row) => withPosition(byId.get(row.event_id) as NewActivityEvent, BigInt(row.tx_id), BigInt(row.seq)))
    .sort((a, b) => (a.seq < b.seq ? -1 : 1));
}
