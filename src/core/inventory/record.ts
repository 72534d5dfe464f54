// Appends inventory events to the log set-based (one INSERT … SELECT FROM unnest per group). An
// event whose eventId is already stored is skipped by the unique index, so concurrent batches with
// the same ids store each event exactly once (invariant 2); only the rows inserted come back.
import type { Queryable } from '../../feed/feed.js';
import type { LogAppender, Logged } from '../ingest/ingest.js';
import { inventoryLog } from './log.js';
import type { NewInventoryEvent } from './types.js';

/** How recordInventory appends to the inventory log. */
export const inventoryAppender: LogAppender<NewInventoryEvent> = {
  stream: 'inventory',
  topic: 'inventory:event',
  insert: async (db, events) =>
    (await insertInventoryEvents(db, events)).map((e) => ({
      eventId: e.eventId,
      position: { txId: e.txId, seq: e.seq },
    })),
  async readStored(db, eventIds) {
    const { rows } = await db.query(
      `SELECT ${inventoryLog.columns}, t.tx_id, t.seq FROM inventory_events t WHERE t.event_id = ANY($1::text[])`,
      [eventIds],
    );
    return new Map(
      rows.map((row) => {
        const event = inventoryLog.toEvent(row);
        return [
          event.eventId,
          Object.assign(event, { position: { txId: event.txId, seq: event.seq } }) as NewInventoryEvent & Logged,
        ];
      }),
    );
  },
  sameContent: (stored, resent) =>
    stored.productId === resent.productId &&
    stored.quantity === resent.quantity &&
    stored.delta === resent.delta &&
    (resent.timeDefaulted === true || stored.occurredAt.getTime() === resent.occurredAt.getTime()),
};

export type InsertedInventoryEvent = NewInventoryEvent & { txId: bigint; seq: bigint };

/** Returns the inserted events in batch order (which is also their seq order). */
export async function insertInventoryEvents(
  db: Queryable,
  events: readonly NewInventoryEvent[],
): Promise<InsertedInventoryEvent[]> {
  if (events.length === 0) return [];
  // In eventId order, so that two batches with overlapping ids wait for each other's unique-index
  // entries in one order (no deadlock); seq values are taken in batch order first.
  const { rows } = await db.query<{ event_id: string; tx_id: string; seq: string }>(
    `WITH taken AS (
       SELECT row_number() OVER (ORDER BY s) AS ord, s AS seq
         FROM (SELECT nextval(pg_get_serial_sequence('inventory_events', 'seq')) AS s
                 FROM generate_series(1, cardinality($1::text[]))) n
     )
     INSERT INTO inventory_events (seq, event_id, product_id, quantity, delta, occurred_at)
     SELECT taken.seq, u.event_id, u.product_id, u.quantity, u.delta, u.occurred_at
       FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::timestamptz[])
            WITH ORDINALITY AS u(event_id, product_id, quantity, delta, occurred_at, ord)
       JOIN taken USING (ord)
      ORDER BY u.event_id
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id, tx_id, seq`,
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
    .map((row) => {
      // Fields listed, not spread: see activity/log.ts withPosition.
      const e = byId.get(row.event_id) as NewInventoryEvent;
      const { eventId, productId, quantity, delta, occurredAt } = e;
      return { eventId, productId, quantity, delta, occurredAt, txId: BigInt(row.tx_id), seq: BigInt(row.seq) };
    })
    .sort((a, b) => (a.seq < b.seq ? -1 : 1));
}
