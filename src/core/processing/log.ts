// The event log as processors see it: named logs, read in commit order after a position. This is
// the seam where a distributed log (NATS JetStream, Kafka) would replace the PostgreSQL tables:
// processors only ever call `LogReader.read` and store the positions it hands back.
//
// In PostgreSQL a log is an event table ordered by (tx_id, seq), and a reader sees only rows
// below the oldest in-flight transaction that may write it (LOG_HORIZON, invariant 5): a
// transaction that started earlier may still commit rows with a smaller position, so nothing
// above the horizon is final yet. Below it, nothing can appear any more, so a processor never
// skips an event.
import { comparePositions, type Position } from '../../feed/cursor.js';
import { LOG_HORIZON, type Queryable } from '../../feed/feed.js';

export type LogName = 'activity' | 'inventory' | 'catalogue' | 'refunds';

/** How one log table is read: each stream declares its own (core/<stream>/log.ts). */
export type PgLog<Event> = {
  name: LogName;
  /** Table with `tx_id`, `seq` and an index on (tx_id, seq). */
  table: string;
  /** SELECT list over the table aliased `t`. */
  columns: string;
  toEvent(row: Record<string, unknown>): Event;
};

export type LogEntry<Event> = { position: Position; event: Event };

export type LogRead<Event> = {
  entries: LogEntry<Event>[];
  /**
   * Where the reader stands now: every event of the log at or before it that matches the filter
   * is in `entries` or was before `after`. Past the last entry when the read reached the horizon
   * (so a filtered processor moves on even when nothing matched).
   */
  next: Position;
  /** The read stopped at `limit`: more is waiting. */
  full: boolean;
};

export type LogReader = {
  /**
   * Up to `limit` events after `after`, in log order. `where` narrows the read to the events a
   * processor needs (SQL over the table aliased `t`; a distributed log would map it to subjects).
   */
  read<Event>(log: PgLog<Event>, after: Position, options: { limit: number; where?: string }): Promise<LogRead<Event>>;
  /** How far `after` is behind the head: events waiting, and the age of the oldest waiting one. */
  lag(log: PgLog<unknown>, after: Position, options: { where?: string; countUpTo: number }): Promise<LogLag>;
};

export type LogLag = { events: number; oldestReceivedAt: Date | null };

/** Past any seq: `{ txId: h - 1, seq: MAX_SEQ }` stands for "every row of transactions below h". */
export const MAX_SEQ = 9223372036854775807n;

export function createPgLogReader(db: Queryable): LogReader {
  return {
    async read(log, after, { limit, where }) {
      const { rows } = await db.query(readSql(log, '($1::bigint, $2::bigint)', { where, limit: '$3' }), [
        after.txId.toString(),
        after.seq.toString(),
        limit,
      ]);
      return readOf(log, rows, after, limit);
    },

    async lag(log, after, { where, countUpTo }) {
      const { rows } = await db.query<{ events: number; oldest: Date | null }>(
        `SELECT (SELECT count(*)::int FROM (
                   SELECT 1 FROM ${log.table} t
                    WHERE (t.tx_id, t.seq) > ($1::bigint, $2::bigint) ${where ? `AND (${where})` : ''}
                    LIMIT $3) w) AS events,
                (SELECT t.received_at FROM ${log.table} t
                  WHERE (t.tx_id, t.seq) > ($1::bigint, $2::bigint) ${where ? `AND (${where})` : ''}
                  ORDER BY t.tx_id, t.seq LIMIT 1) AS oldest`,
        [after.txId.toString(), after.seq.toString(), countUpTo],
      );
      const row = rows[0] as { events: number; oldest: Date | null };
      return { events: row.events, oldestReceivedAt: row.oldest };
    },
  };
}

/**
 * The read `LogReader.read` makes, from the checkpoint stored for (`processor`, `log`), as ONE
 * statement without parameters: the runner sends it with BEGIN, so a batch's reads cost no round
 * trip of their own (processing/runner.ts). `processor` must be a SQL literal already; with
 * `onlyIf` (SQL, e.g. holding the processor's lock) false, the statement returns no row.
 */
export function readFromCheckpointSql(
  log: PgLog<unknown>,
  processorLiteral: string,
  options: { limit: number; where?: string; onlyIf?: string },
): string {
  const stored = (column: string) =>
    `COALESCE((SELECT c.${column} FROM processor_checkpoints c WHERE c.processor = ${processorLiteral} AND c.log = '${log.name}'), 0)`;
  return readSql(log, `(${stored('tx_id')}, ${stored('seq')})`, {
    where: options.where,
    limit: String(Math.trunc(options.limit)),
    onlyIf: options.onlyIf,
  });
}

/** A read's rows (from `readSql`) as a LogRead; `after` is where the read started. */
export function readOf<Event>(
  log: PgLog<Event>,
  rows: ReadonlyArray<Record<string, unknown>>,
  after: Position,
  limit: number,
): LogRead<Event> {
  const horizon = BigInt((rows[0] as { horizon: string }).horizon);
  const entries: LogEntry<Event>[] = [];
  for (const row of rows) {
    if (row.tx_id == null) continue; // the LEFT JOIN's empty row
    entries.push({
      position: { txId: BigInt(row.tx_id as string), seq: BigInt(row.seq as string) },
      event: log.toEvent(row),
    });
  }
  const full = entries.length >= limit;
  const last = entries.at(-1)?.position ?? after;
  // Everything below the horizon was read: the reader stands just below it.
  const reached: Position = { txId: horizon - 1n, seq: MAX_SEQ };
  const next = full ? last : maxPosition(last, reached);
  return { entries, next, full };
}

/** Events of `log` after the position `after` (SQL), below the log's horizon, at most `limit` (SQL). */
function readSql(
  log: PgLog<unknown>,
  after: string,
  options: { where?: string; limit: string; onlyIf?: string },
): string {
  // onlyIf (evaluated once): no row at all when false, so the read costs nothing then.
  return `SELECT h.horizon, e.*
    FROM (SELECT ${LOG_HORIZON} AS horizon ${options.onlyIf ? `WHERE ${options.onlyIf}` : ''}) h
    LEFT JOIN LATERAL (
      SELECT ${log.columns}, t.tx_id, t.seq
        FROM ${log.table} t
       WHERE (t.tx_id, t.seq) > ${after} AND t.tx_id < h.horizon
         ${options.where ? `AND (${options.where})` : ''}
       ORDER BY t.tx_id, t.seq
       LIMIT ${options.limit}) e ON true`;
}

export function maxPosition(a: Position, b: Position): Position {
  return comparePositions(a, b) >= 0 ? a : b;
}

export function minPosition(a: Position, b: Position): Position {
  return comparePositions(a, b) <= 0 ? a : b;
}
