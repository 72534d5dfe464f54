// A stream's log table, declared once (core/<stream>/log.ts): its columns, how a row reads back as
// the stream's event, and from those the statements every log shares. Processors read it as a
// PgLog; ingest appends to it and reads back resent events.
//
// The append is set-based (one INSERT … SELECT FROM unnest per group). An eventId already stored is
// skipped by the unique index, so concurrent batches with the same ids store each event exactly
// once (invariant 2), and only the rows this call inserted come back. Rows go in in eventId order,
// so that two batches with overlapping ids wait for each other's unique-index entries in the same
// order instead of deadlocking; their seq values are taken first, in batch order, so that the log
// still lists a batch in the order it was sent.

import { positionOf, type Queryable } from '../../feed/feed.js';
import type { FeedTopic } from '../../feed/topics.js';
import type { LogName, PgLog } from '../processing/log.js';
import type { LogAppender, Logged } from './ingest.js';

export type LogTable<Event, Stored> = PgLog<Stored> & {
  /** Stores the events whose eventId is new, in one statement; returns those it stored, in seq order. */
  insert(db: Queryable, events: readonly Event[]): Promise<Logged[]>;
  /** The stored events with these eventIds, for comparing a resent event with the original. */
  readStored(db: Queryable, eventIds: readonly string[]): Promise<Map<string, Stored & Logged>>;
};

export function defineLog<Event extends { eventId: string }, Stored extends Event & { txId: bigint; seq: bigint }>({
  name,
  table,
  stored,
  values,
  toEvent,
}: {
  name: LogName;
  /** Has `tx_id`, a `seq` serial, a unique `event_id` and an index on (tx_id, seq). */
  table: string;
  /** Each column an event sets and its PostgreSQL type, `event_id text` first: `event_id text, …`. */
  stored: string;
  /** An event's values of those columns, in that order (bigints and dates as text). */
  values(event: Event): unknown[];
  /** A row of those columns, at its log position, as the event processors get. */
  toEvent(row: Record<string, unknown>, txId: bigint, seq: bigint): Stored;
}): LogTable<Event, Stored> {
  const columns = stored.split(',').map((column) => {
    const [columnName, type] = column.trim().split(/\s+/);
    return { name: columnName as string, type: type as string };
  });
  const names = columns.map((column) => column.name);
  if (names[0] !== 'event_id') throw new Error(`the log ${name}: its first column must be event_id`);
  const selected = names.map((column) => `t.${column}`).join(', ');
  // One round trip: seq values are taken in batch order and matched to the events by their place in
  // the batch (ord), while the rows themselves go in in eventId order.
  const insertSql = `WITH taken AS (
       SELECT row_number() OVER (ORDER BY s) AS ord, s AS seq
         FROM (SELECT nextval(pg_get_serial_sequence('${table}', 'seq')) AS s
                 FROM generate_series(1, cardinality($1::text[]))) n
     )
     INSERT INTO ${table} (seq, ${names.join(', ')})
     SELECT taken.seq, ${names.map((column) => `u.${column}`).join(', ')}
       FROM unnest(${columns.map(({ type }, i) => `$${i + 1}::${type}[]`).join(', ')})
            WITH ORDINALITY AS u(${names.join(', ')}, ord)
       JOIN taken USING (ord)
      ORDER BY u.event_id
     ON CONFLICT (event_id) DO NOTHING
     RETURNING event_id, tx_id, seq`;
  const readStoredSql = `SELECT ${selected}, t.tx_id, t.seq FROM ${table} t WHERE t.event_id = ANY($1::text[])`;
  const eventOf = (row: Record<string, unknown>) => {
    const { txId, seq } = positionOf(row);
    return toEvent(row, txId, seq);
  };

  return {
    name,
    table,
    columns: selected,
    toEvent: eventOf,
    async insert(db, events) {
      if (events.length === 0) return [];
      // One array per column, as unnest takes them.
      const arrays = names.map((): unknown[] => []);
      for (const event of events) {
        const row = values(event);
        for (let i = 0; i < arrays.length; i++) (arrays[i] as unknown[]).push(row[i]);
      }
      const { rows } = await db.query<{ event_id: string; tx_id: string; seq: string }>(insertSql, arrays);
      return rows
        .map((row) => ({ eventId: row.event_id, position: { txId: BigInt(row.tx_id), seq: BigInt(row.seq) } }))
        .sort((a, b) => (a.position.seq < b.position.seq ? -1 : 1));
    },
    async readStored(db, eventIds) {
      const { rows } = await db.query(readStoredSql, [eventIds]);
      const found = new Map<string, Stored & Logged>();
      for (const row of rows) {
        const event = eventOf(row);
        found.set(event.eventId, Object.assign(event, { position: { txId: event.txId, seq: event.seq } }));
      }
      return found;
    },
  };
}

/** How createLogIngest appends to `log`: a resend with `sameContent` is a duplicate, otherwise a conflict. */
export function logAppender<Event extends { eventId: string }, Stored extends Event>(
  log: LogTable<Event, Stored>,
  topic: FeedTopic,
  sameContent: (stored: Event, resent: Event) => boolean,
): LogAppender<Event> {
  return {
    stream: log.name,
    topic,
    insert: (db, events) => log.insert(db, events),
    readStored: (db, eventIds) => log.readStored(db, eventIds),
    sameContent,
  };
}
