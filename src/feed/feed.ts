// The feed: every published item is a row of a feed table, ordered by (tx_id, seq), and a
// reader only ever sees a prefix of that order that can no longer grow in the middle.
//
// Why (tx_id, seq) and not seq alone (invariant 5): a sequence value is taken at INSERT, not at
// COMMIT, so transactions can commit out of sequence order and a reader that passed seq 105
// would never see seq 104. Rows are instead ordered by the id of the transaction that wrote
// them, and read only below the oldest transaction still in flight. Every transaction below that
// horizon has ended, and every transaction that starts later gets a larger id, so nothing can
// appear below it.
//
// The horizon ignores transactions that provably belong to another database on the same server
// (they cannot write our tables), so a long transaction elsewhere does not hold our feed back.
// "Provably": an in-flight xid of our snapshot counts unless pg_stat_activity shows it running
// in another database. A transaction that ended between the snapshot and that look-up still
// counts, which can only delay a read, never skip a row.
import type pg from 'pg';
import type { Position } from './cursor.js';
import type { FeedTopic } from './topics.js';

export type Queryable = Pick<pg.Pool, 'query'>;

/** A row of a feed table, with its position in the feed. */
export type FeedItem = { position: Position };

/** How one feed table is read and filtered; each stream declares its own. */
export type FeedSource<Item extends FeedItem, Filter> = {
  topic: FeedTopic;
  /** Table name; it has `tx_id` and `seq` columns with an index on (tx_id, seq). */
  table: string;
  /** A log table (written only by ingest): read below LOG_HORIZON. */
  isLog?: boolean;
  /** SELECT list, e.g. "t.event_id, t.user_id" (the table is aliased `t`). */
  columns: string;
  toItem(row: Record<string, unknown>): Item;
  /** SQL conditions for the filter; `bind(value)` adds a query parameter and returns its `$n`. */
  where(filter: Filter, bind: (value: unknown) => string): string[];
  /** The same filter applied to a live item in memory. */
  matches(item: Item, filter: Filter): boolean;
  /** State streams: items with the same key supersede each other (conflation). */
  keyOf?: (item: Item) => string;
  /**
   * For filters that pin one value (a shopper's own stream): the tailer then offers an item only
   * to the subscribers pinned to its value, and to those whose filter pins none, instead of
   * testing every subscriber. `ofFilter` returns null when the filter pins nothing.
   */
  route?: { ofItem(item: Item): string; ofFilter(filter: Filter): string | null };
};

export type FeedPage<Item> = {
  items: Item[];
  /** Committed rows exist beyond the horizon: read again soon. */
  heldBack: boolean;
};

/**
 * Marks a transaction that never writes a log table (activity_events, inventory_events) but may
 * write any feed table: the logs' readers leave it out of their horizon, every feed's readers
 * wait for it. Ours mark themselves more narrowly (markWritesOnly, NO_FEED_WRITES); this one is
 * for a writer that cannot name its feed. Safe because the mark is set before the transaction
 * has an id, and a transaction is left out only while pg_stat_activity shows that very id under
 * the mark.
 */
export const NO_LOG_WRITES = 'shopstream:derive';

/**
 * `leaveOut` is a condition on `a`, a row of pg_stat_get_activity(NULL): the function under the
 * pg_stat_activity view, read directly because the view's joins (pg_database, pg_authid) tripled
 * the time PostgreSQL spent planning every read of the feed (about 0.25 against 0.6 ms). Its
 * database is `a.datid`; OUR_DATABASE is this database's oid.
 */
function horizon(leaveOut: string): string {
  return `(
  WITH s AS (SELECT pg_current_snapshot() AS snap)
  SELECT coalesce(
    (SELECT min(xip::text::bigint)
       FROM s, pg_snapshot_xip(s.snap) AS xip
      WHERE NOT EXISTS (
        SELECT 1 FROM pg_stat_get_activity(NULL) a
         WHERE a.backend_xid IS NOT NULL
           AND a.backend_xid::text::bigint = xip::text::bigint % 4294967296
           AND (${leaveOut}))),
    (SELECT pg_snapshot_xmax(s.snap)::text::bigint FROM s)))`;
}

/** This database's oid, for a.datid (a backend outside any database has none: NULL or 0). */
const OUR_DATABASE = '(SELECT d.oid FROM pg_database d WHERE d.datname = current_database())';

/**
 * Marks a transaction that writes neither a log nor a feed table (the recommendations and
 * summaries processors): every horizon leaves it out, so its batch never
 * holds back a stock warning or a window update. Safe for the same reason as NO_LOG_WRITES.
 */
export const NO_FEED_WRITES = 'shopstream:private';

export const MARK_NO_FEED_WRITES = `set_config('application_name', '${NO_FEED_WRITES}', true)`;

/**
 * Marks a transaction that writes no log table and, of the feed tables, only `table` (the
 * inventory and sales processors, the list builder): only the readers of that feed wait for it,
 * so a list build never holds back a stock warning, nor a sales batch a list. Safe for the same
 * reason as NO_LOG_WRITES. The name fits application_name (63 bytes) for every feed table.
 */
export function markWritesOnly(table: string): string {
  return `set_config('application_name', '${writesOnly(table)}', true)`;
}

/** The mark itself (an application_name). */
export function writesOnly(table: string): string {
  return `${WRITES_ONLY}${table}`;
}

const WRITES_ONLY = 'shopstream:only:';

const horizons = new Map<string, string>();

/**
 * The horizon of a feed table: transactions of other databases cannot write it, nor those marked
 * NO_FEED_WRITES or marked as writing only another feed table.
 */
export function feedHorizon(table: string): string {
  let sql = horizons.get(table);
  if (!sql) {
    sql = horizon(
      `a.datid IS DISTINCT FROM ${OUR_DATABASE} OR a.application_name = '${NO_FEED_WRITES}'
         OR (starts_with(a.application_name, '${WRITES_ONLY}') AND a.application_name <> '${WRITES_ONLY}${table}')`,
    );
    horizons.set(table, sql);
  }
  return sql;
}

/** The horizon of a log table: no marked transaction can write it. */
export const LOG_HORIZON = horizon(
  `a.datid IS DISTINCT FROM ${OUR_DATABASE}
     OR a.application_name IN ('${NO_LOG_WRITES}', '${NO_FEED_WRITES}')
     OR starts_with(a.application_name, '${WRITES_ONLY}')`,
);

/** Up to `limit` items after `after`, in feed order, all below the horizon. */
export async function readAfter<Item extends FeedItem, Filter>(
  db: Queryable,
  source: FeedSource<Item, Filter>,
  after: Position,
  options: { filter?: Filter; limit: number },
): Promise<FeedPage<Item>> {
  const params: unknown[] = [after.txId.toString(), after.seq.toString(), options.limit];
  const conditions =
    options.filter === undefined
      ? []
      : source.where(options.filter, (value) => {
          params.push(value);
          return `$${params.length}`;
        });
  const { rows } = await db.query(
    `SELECT ${source.columns}, t.tx_id, t.seq, t.tx_id < h.horizon AS below_horizon
       FROM ${source.table} t, (SELECT ${source.isLog ? LOG_HORIZON : feedHorizon(source.table)} AS horizon) h
      WHERE (t.tx_id, t.seq) > ($1::bigint, $2::bigint)
        ${conditions.map((c) => `AND ${c}`).join(' ')}
      ORDER BY t.tx_id, t.seq
      LIMIT $3`,
    params,
  );
  const items: Item[] = [];
  let heldBack = false;
  for (const row of rows) {
    // Ordered by tx_id, so the rows below the horizon are a prefix.
    if (!row.below_horizon) {
      heldBack = true;
      break;
    }
    items.push(source.toItem(row));
  }
  return { items, heldBack };
}

/**
 * The last position below the horizon: where a reader that wants only new items starts.
 * `heldBack`: committed or in-flight rows exist above the horizon (read again soon).
 */
export async function readHead(db: Queryable, table: string, isLog = false): Promise<Position & { heldBack: boolean }> {
  const { rows } = await db.query(
    `SELECT b.tx_id, b.seq, EXISTS (SELECT 1 FROM ${table} a WHERE a.tx_id >= h.horizon) AS held_back
       FROM (SELECT ${isLog ? LOG_HORIZON : feedHorizon(table)} AS horizon) h
       LEFT JOIN LATERAL (
         SELECT t.tx_id, t.seq FROM ${table} t WHERE t.tx_id < h.horizon
          ORDER BY t.tx_id DESC, t.seq DESC LIMIT 1) b ON true`,
  );
  const row = rows[0];
  const heldBack = row?.held_back === true;
  return row?.tx_id != null
    ? { txId: BigInt(row.tx_id), seq: BigInt(row.seq), heldBack }
    : { txId: 0n, seq: 0n, heldBack };
}

export function positionOf(row: Record<string, unknown>): Position {
  return { txId: BigInt(row.tx_id as string), seq: BigInt(row.seq as string) };
}
