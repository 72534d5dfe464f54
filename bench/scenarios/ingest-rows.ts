// The baseline side of the ingest scenarios: the same events as plain rows for bare `pg`.
import pg from 'pg';
import type { ActivityInput } from '../../src/cli/simulate.js';
import { closedLoop, ingest, RECORD_ACTIVITY_STORED, type ScratchDb, startBareHttp } from '../lib.js';

export type Row = [string, string, string, string, number, string | null, string | null, string | null, string];

export function toRow(e: ActivityInput): Row {
  const minor = e.unitPrice === undefined ? null : String(Math.round(Number(e.unitPrice) * 100));
  return [
    e.eventId,
    e.userId,
    e.type,
    e.productId,
    e.quantity ?? 1,
    minor,
    e.unitPrice === undefined ? null : (e.currency ?? 'USD'),
    e.orderId ?? null,
    e.occurredAt ?? new Date().toISOString(),
  ];
}

/** A table like activity_events: the same columns, defaults (tx_id, seq) and unique key. */
export async function createBareTable(pool: pg.Pool): Promise<void> {
  await pool.query('CREATE TABLE bare_events (LIKE activity_events INCLUDING ALL)');
}

export const BARE_BATCH_INSERT = `INSERT INTO bare_events
   (event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id, occurred_at)
 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                      $6::bigint[], $7::text[], $8::text[], $9::timestamptz[])
 ON CONFLICT (event_id) DO NOTHING`;

export const BARE_ROW_INSERT = `INSERT INTO bare_events
   (event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id, occurred_at)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING`;

export function columns(rows: readonly Row[]): unknown[][] {
  return Array.from({ length: 9 }, (_, c) => rows.map((r) => r[c]));
}

/**
 * Events/s of bare `pg` INSERT … SELECT FROM unnest of `batches` into bare_events (created here),
 * from `clients` connections in a closed loop for `seconds`: the baseline of the batched scenarios.
 */
export async function bareBatchRate(
  db: ScratchDb,
  batches: readonly ActivityInput[][],
  clients: number,
  seconds: number,
): Promise<number> {
  await createBareTable(db.pool);
  const size = batches[0]?.length ?? 0;
  const rows = batches.map((b) => columns(b.map(toRow)));
  const conns = await Promise.all(Array.from({ length: clients }, () => new pg.Client({ connectionString: db.url })));
  await Promise.all(conns.map((c) => c.connect()));
  let bareNext = 0;
  const bareDone = await closedLoop(clients, seconds * 1000, async (client) => {
    const n = bareNext++;
    const cols = rows[n % rows.length] as unknown[][];
    // A fresh eventId per round, so that the baseline never skips a row as a duplicate.
    const round = Math.floor(n / rows.length);
    const ids = round === 0 ? cols[0] : (cols[0] as string[]).map((id) => `${id}-r${round}`);
    await conns[client]?.query(BARE_BATCH_INSERT, [ids, ...cols.slice(1)]);
  });
  await Promise.all(conns.map((c) => c.end()));
  return (bareDone * size) / seconds;
}

/**
 * Events/s through the bare HTTP server (bench/bare-http.ts): the same request bodies as the
 * mutation, from `clients` in a closed loop for `seconds`, stored into bare_events (which must
 * exist). The ceiling of an HTTP service on this machine: HTTP, JSON and the INSERT, nothing else.
 * With `yoga`, through the bare Yoga server (bench/bare-yoga.ts): the ceiling of the fixed stack.
 */
export async function bareHttpRate(
  db: ScratchDb,
  batches: readonly ActivityInput[][],
  clients: number,
  seconds: number,
  yoga = false,
): Promise<number> {
  const server = await startBareHttp(db.url, clients, yoga);
  try {
    let next = 0;
    let accepted = 0;
    const fresh = (n: number) =>
      (batches[n % batches.length] as ActivityInput[]).map((e) => ({
        ...e,
        eventId: `${e.eventId}-${yoga ? 'y' : 'h'}${n}`,
      }));
    for (let i = 0; i < 20; i++) await ingest(server.url, RECORD_ACTIVITY_STORED, fresh(next++)); // warm-up
    await closedLoop(clients, seconds * 1000, async () => {
      const report = await ingest(server.url, RECORD_ACTIVITY_STORED, fresh(next++));
      accepted += report.accepted;
    });
    return accepted / seconds;
  } finally {
    await server.stop();
  }
}
