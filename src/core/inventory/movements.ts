// A product's stock history: every count, adjustment, purchase and return stored in stock_movements, in
// event time (occurredAt, then log position), each with the level right after it. The levels are
// worked out at read time by the same rules as the processor (event-time.ts), so a late event
// changes the levels after it as soon as it is stored: a count sets the level, an adjustment adds
// to it (from 0 when none was set), a purchase takes from it and a return gives back to it
// (nothing when none was set yet).
import type { Queryable } from '../../feed/feed.js';
import { InvalidInput } from '../errors.js';
import { checkPageSize, type Page } from '../paging.js';
import type { MovementKind } from './event-time.js';
import { MAX_ABS_LEVEL } from './stock.js';

export type StockMovement = {
  cursor: string;
  productId: string;
  kind: MovementKind;
  /** COUNT: the level counted; ADJUSTMENT: the delta; PURCHASE: minus the units bought; RETURN: the units restocked. */
  amount: number;
  /** The level right after this movement; null while no level was set (a purchase of an uncounted product). */
  level: number | null;
  occurredAt: Date;
  eventId: string;
};

type Key = { at: Date; txId: string; seq: string };

const CURSOR_PREFIX = 'm1:';

function encodeMovementCursor(key: Key): string {
  return Buffer.from(`${CURSOR_PREFIX}${key.at.getTime()}:${key.txId}:${key.seq}`).toString('base64url');
}

function decodeMovementCursor(cursor: string): Key {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const match = /^m1:(-?\d{1,16}):(\d{1,20}):(\d{1,20})$/.exec(text);
  const at = match ? new Date(Number(match[1])) : null;
  if (!match || !at || Number.isNaN(at.getTime())) {
    throw new InvalidInput(`"${cursor.slice(0, 80)}" is not a stockMovements cursor: pass an endCursor it returned`);
  }
  return { at, txId: match[2] as string, seq: match[3] as string };
}

// Event-time order, the primary key's (product_id, occurred_at, tx_id, seq).
const AFTER = '(m.occurred_at, m.tx_id, m.seq) > ($2::timestamptz, $3::bigint, $4::bigint)';
const AT_OR_BEFORE = '(m.occurred_at, m.tx_id, m.seq) <= ($2::timestamptz, $3::bigint, $4::bigint)';

/**
 * The level right after the movement at `key` (inclusive), or null when none was set: from the
 * latest count at or before it plus what moved since, or, with no count yet, everything from the
 * first adjustment on. Two index range scans, not a walk through the whole history.
 */
async function levelAt(db: Queryable, productId: string, key: Key): Promise<number | null> {
  const params = [productId, key.at.toISOString(), key.txId, key.seq];
  const { rows } = await db.query<{ level: string | null }>(
    `WITH count AS (
       SELECT m.occurred_at, m.tx_id, m.seq, m.amount FROM stock_movements m
        WHERE m.product_id = $1 AND m.kind = 'COUNT' AND ${AT_OR_BEFORE}
        ORDER BY m.occurred_at DESC, m.tx_id DESC, m.seq DESC LIMIT 1
     ), start AS (
       -- Without a count, the level starts at the first adjustment (purchases before it took nothing).
       SELECT m.occurred_at, m.tx_id, m.seq, 0 AS amount FROM stock_movements m
        WHERE m.product_id = $1 AND m.kind = 'ADJUSTMENT' AND ${AT_OR_BEFORE} AND NOT EXISTS (SELECT 1 FROM count)
        ORDER BY m.occurred_at, m.tx_id, m.seq LIMIT 1
     ), anchor AS (SELECT * FROM count UNION ALL SELECT * FROM start)
     SELECT (SELECT a.amount FROM anchor a) + coalesce((
       SELECT sum(m.amount) FROM stock_movements m, anchor a
        WHERE m.product_id = $1 AND ${AT_OR_BEFORE}
          AND (m.occurred_at, m.tx_id, m.seq) >= (a.occurred_at, a.tx_id, a.seq)
          AND m.kind <> 'COUNT'), 0) AS level`,
    params,
  );
  const level = rows[0]?.level;
  return level == null ? null : clamp(Number(level));
}

function clamp(level: number): number {
  return Math.max(-MAX_ABS_LEVEL, Math.min(MAX_ABS_LEVEL, level));
}

/** One page of a product's movements, oldest first in event time (`first` 1-500, default 50). */
export async function readStockMovements(
  db: Queryable,
  productId: string,
  page: { first?: number | null; after?: string | null },
): Promise<Page<StockMovement>> {
  if (productId.length === 0) throw new InvalidInput('productId must not be empty');
  const first = checkPageSize(page.first);
  const after = page.after ? decodeMovementCursor(page.after) : null;
  let level = after ? await levelAt(db, productId, after) : null;
  const params: unknown[] = [productId];
  if (after) params.push(after.at.toISOString(), after.txId, after.seq);
  params.push(first + 1);
  const { rows } = await db.query<{
    occurred_at: Date;
    tx_id: string;
    seq: string;
    kind: MovementKind;
    amount: number;
    event_id: string;
  }>(
    `SELECT m.occurred_at, m.tx_id, m.seq, m.kind, m.amount, m.event_id
       FROM stock_movements m
      WHERE m.product_id = $1 ${after ? `AND ${AFTER}` : ''}
      ORDER BY m.occurred_at, m.tx_id, m.seq
      LIMIT $${params.length}`,
    params,
  );
  const items: StockMovement[] = [];
  for (const row of rows.slice(0, first)) {
    if (row.kind === 'COUNT') level = row.amount;
    else if (row.kind === 'ADJUSTMENT') level = clamp((level ?? 0) + row.amount);
    else if (level !== null) level = clamp(level + row.amount);
    items.push({
      cursor: encodeMovementCursor({ at: row.occurred_at, txId: row.tx_id, seq: row.seq }),
      productId,
      kind: row.kind,
      amount: row.amount,
      level,
      occurredAt: row.occurred_at,
      eventId: row.event_id,
    });
  }
  return { items, hasNextPage: rows.length > first, endCursor: items.at(-1)?.cursor ?? page.after ?? null };
}
