// Appends catalogue entries to the log set-based (one INSERT … SELECT FROM unnest per group). An
// entry whose eventId is already stored is skipped by the unique index, so concurrent batches with
// the same ids store each entry exactly once (invariant 2); only the rows inserted come back.
import type { Queryable } from '../../feed/feed.js';
import type { LogAppender, Logged } from '../ingest/ingest.js';
import { catalogueLog } from './log.js';
import type { NewProductEvent } from './types.js';

/** How recordProducts appends to the catalogue log. */
export const catalogueAppender: LogAppender<NewProductEvent> = {
  stream: 'catalogue',
  topic: 'catalogue:event',
  insert: (db, events) => insertProductEvents(db, events),
  async readStored(db, eventIds) {
    const { rows } = await db.query(
      `SELECT ${catalogueLog.columns}, t.tx_id, t.seq FROM product_events t WHERE t.event_id = ANY($1::text[])`,
      [eventIds],
    );
    const stored = new Map<string, NewProductEvent & Logged>();
    for (const row of rows) {
      const event = catalogueLog.toEvent(row);
      stored.set(event.eventId, Object.assign(event, { position: { txId: event.txId, seq: event.seq } }));
    }
    return stored;
  },
  sameContent: (stored, resent) =>
    stored.productId === resent.productId &&
    stored.name === resent.name &&
    stored.category === resent.category &&
    stored.listPriceMinor === resent.listPriceMinor &&
    stored.currency === resent.currency &&
    (resent.timeDefaulted === true || stored.occurredAt.getTime() === resent.occurredAt.getTime()),
};

async function insertProductEvents(db: Queryable, events: readonly NewProductEvent[]): Promise<Logged[]> {
  if (events.length === 0) return [];
  // In eventId order, so that two batches with overlapping ids wait for each other's unique-index
  // entries in one order (no deadlock); seq values are taken in batch order first (as inventory's).
  const { rows } = await db.query<{ event_id: string; tx_id: string; seq: string }>(
    `WITH taken AS (
       SELECT row_number() OVER (ORDER BY s) AS ord, s AS seq
         FROM (SELECT nextval(pg_get_serial_sequence('product_events', 'seq')) AS s
                 FROM generate_series(1, cardinality($1::text[]))) n
     )
     INSERT INTO product_events (seq, event_id, product_id, name, category, list_price_minor, currency, occurred_at)
     SELECT taken.seq, u.event_id, u.product_id, u.name, u.category, u.list_price_minor, u.currency, u.occurred_at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[])
            WITH ORDINALITY AS u(event_id, product_id, name, category, list_price_minor, currency, occurred_at, ord)
       JOIN taken USING (ord)
      ORDER BY u.event_id
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id, tx_id, seq`,
    [
      events.map((e) => e.eventId),
      events.map((e) => e.productId),
      events.map((e) => e.name),
      events.map((e) => e.category),
      events.map((e) => (e.listPriceMinor === null ? null : e.listPriceMinor.toString())),
      events.map((e) => e.currency),
      events.map((e) => e.occurredAt.toISOString()),
    ],
  );
  return rows
    .map((row) => ({ eventId: row.event_id, position: { txId: BigInt(row.tx_id), seq: BigInt(row.seq) } }))
    .sort((a, b) => (a.position.seq < b.position.seq ? -1 : 1));
}
