// The checks of a chaos run, Jepsen style: once everything has healed, what the clients were told
// and what they received is compared with the database, and the derived state with a
// recomputation from the log. Each check counts its anomalies; a correct service has 0 of each.
import type pg from 'pg';
import { foldStockEvents, type StockEvent } from '../../src/core/inventory/event-time.js';
import type { LockedStock } from '../../src/core/inventory/stock.js';
import { comparePositions, decodeCursor, type Position } from '../../src/feed/cursor.js';
import type { Follower, Ledger } from './workload.js';

export type Anomaly = { check: string; count: number; examples: string[] };

/** LOW_STOCK_THRESHOLD as the servers run (the default): the workload sets no threshold. */
const THRESHOLD = 10;
const SIZES = [
  ['MINUTE', 60_000],
  ['HOUR', 3_600_000],
  ['DAY', 86_400_000],
] as const;

type Found = { count: number; examples: string[] };
const none = (): Found => ({ count: 0, examples: [] });
function note(found: Found, example: string): void {
  found.count++;
  if (found.examples.length < 5 && !found.examples.includes(example)) found.examples.push(example);
}

const key = (p: Position) => `${p.txId}:${p.seq}`;
const positionOfRow = (row: { tx_id: string; seq: string }): Position => ({
  txId: BigInt(row.tx_id),
  seq: BigInt(row.seq),
});

/** "12.34" → 1234n: the workload's currencies (USD, EUR) have two decimals. */
function minorOf(money: string): bigint {
  const [whole, fraction = ''] = money.split('.');
  return BigInt(`${whole}${fraction.padEnd(2, '0').slice(0, 2)}`);
}

export async function checkRun(
  db: pg.Client,
  run: {
    ledger: Ledger;
    followers: readonly Follower[];
    laggingFollowers: string[];
    laggingProcessors: string[];
    unexpectedExits: string[];
  },
): Promise<Anomaly[]> {
  const q = async <T>(sql: string) => (await db.query(sql)).rows as T[];
  type ActivityRow = {
    event_id: string;
    user_id: string;
    type: string;
    product_id: string;
    quantity: number;
    unit_price_minor: string | null;
    currency: string | null;
    order_id: string | null;
    occurred_at: Date;
    tx_id: string;
    seq: string;
  };
  type InventoryRow = {
    event_id: string;
    product_id: string;
    quantity: number | null;
    delta: number | null;
    occurred_at: Date;
    tx_id: string;
    seq: string;
  };
  const activity = await q<ActivityRow>(
    `SELECT event_id, user_id, type, product_id, quantity, unit_price_minor::text, currency, order_id, occurred_at,
            tx_id::text, seq::text FROM activity_events ORDER BY tx_id, seq`,
  );
  const inventory = await q<InventoryRow>(
    `SELECT event_id, product_id, quantity, delta, occurred_at, tx_id::text, seq::text
       FROM inventory_events ORDER BY tx_id, seq`,
  );

  // 1. Acknowledged means durable, once, as sent.
  const lost = none();
  const twice = none();
  const altered = none();
  const stored = new Map<string, ActivityRow | InventoryRow>();
  for (const row of [...activity, ...inventory]) {
    if (stored.has(row.event_id)) note(twice, row.event_id);
    stored.set(row.event_id, row);
  }
  for (const { event_id, n } of await q<{ event_id: string; n: number }>(
    'SELECT event_id, count(*)::int AS n FROM stock_movements GROUP BY 1 HAVING count(*) > 1',
  )) {
    note(twice, `${event_id} is ${n} stock movements`);
  }
  for (const [eventId] of run.ledger.acknowledged) {
    if (!stored.has(eventId)) note(lost, eventId);
  }
  for (const [eventId, row] of stored) {
    const sent = run.ledger.sent.get(eventId);
    if (!sent) {
      note(altered, `${eventId} was stored but never sent`);
      continue;
    }
    const same =
      row.product_id === sent.productId &&
      row.occurred_at.getTime() === new Date(sent.occurredAt as string).getTime() &&
      ('type' in row
        ? row.type === sent.type && row.quantity === ((sent.quantity as number | undefined) ?? 1)
        : row.quantity === ((sent.quantity as number | undefined) ?? null) &&
          row.delta === ((sent.delta as number | undefined) ?? null));
    if (!same) note(altered, eventId);
  }

  // 2. Stock levels: the latest count in event time (occurredAt, then log position) plus every
  //    adjustment and purchase after it. Every product is counted first, so a count always exists.
  type Move = { at: number; position: Position; kind: 'COUNT' | 'ADJUSTMENT' | 'PURCHASE'; amount: number };
  const moves = new Map<string, Move[]>();
  const add = (productId: string, move: Move) => {
    const list = moves.get(productId) ?? [];
    list.push(move);
    moves.set(productId, list);
  };
  for (const row of inventory) {
    add(row.product_id, {
      at: row.occurred_at.getTime(),
      position: positionOfRow(row),
      kind: row.quantity !== null ? 'COUNT' : 'ADJUSTMENT',
      amount: row.quantity ?? (row.delta as number),
    });
  }
  const purchases = activity.filter((row) => row.type === 'PURCHASE');
  for (const row of purchases) {
    add(row.product_id, {
      at: row.occurred_at.getTime(),
      position: positionOfRow(row),
      kind: 'PURCHASE',
      amount: -row.quantity,
    });
  }
  const expectedLevels = new Map<string, number>();
  for (const [productId, list] of moves) {
    list.sort((a, b) => a.at - b.at || comparePositions(a.position, b.position));
    let level: number | null = null;
    for (const move of list) {
      if (move.kind === 'COUNT') level = move.amount;
      else if (level !== null) level += move.amount;
    }
    if (level !== null) expectedLevels.set(productId, level);
  }
  const levels = await q<{ product_id: string; quantity: number | null }>(
    'SELECT product_id, quantity FROM stock_levels ORDER BY product_id',
  );
  const wrongLevels = none();
  const actualLevels = new Map(levels.map((row) => [row.product_id, row.quantity]));
  for (const productId of new Set([...expectedLevels.keys(), ...actualLevels.keys()])) {
    const expected = expectedLevels.get(productId) ?? null;
    const actual = actualLevels.get(productId) ?? null;
    if (expected !== actual) note(wrongLevels, `${productId}: stored ${actual}, recomputed ${expected}`);
  }

  // 3. Stock warnings: the events of both logs replayed in log order through the crossing rule
  //    (edge-triggered, event time), compared product by product with the stored feed.
  const logOrder: StockEvent[] = [
    ...inventory.map(
      (row): StockEvent => ({
        productId: row.product_id,
        kind: row.quantity !== null ? 'COUNT' : 'ADJUSTMENT',
        amount: row.quantity ?? (row.delta as number),
        occurredAt: row.occurred_at,
        position: positionOfRow(row),
        eventId: row.event_id,
      }),
    ),
    ...purchases.map(
      (row): StockEvent => ({
        productId: row.product_id,
        kind: 'PURCHASE',
        amount: -row.quantity,
        occurredAt: row.occurred_at,
        position: positionOfRow(row),
        eventId: row.event_id,
      }),
    ),
  ].sort((a, b) => comparePositions(a.position, b.position));
  const stock = new Map<string, LockedStock>(
    [...moves.keys()].map((productId) => [productId, { quantity: null, threshold: null, counted: null }]),
  );
  const replayed = foldStockEvents(stock, new Map(), logOrder, THRESHOLD).warnings;
  const storedWarnings = await q<{ product_id: string; kind: string; quantity: number }>(
    'SELECT product_id, kind, quantity FROM stock_warnings ORDER BY tx_id, seq',
  );
  const wrongWarnings = none();
  const perProduct = (items: Array<{ productId: string; kind: string; quantity: number }>) => {
    const out = new Map<string, string[]>();
    for (const item of items)
      out.set(item.productId, [...(out.get(item.productId) ?? []), `${item.kind}@${item.quantity}`]);
    return out;
  };
  const expectedWarnings = perProduct(replayed);
  const actualWarnings = perProduct(
    storedWarnings.map((row) => ({ productId: row.product_id, kind: row.kind, quantity: row.quantity })),
  );
  for (const productId of new Set([...expectedWarnings.keys(), ...actualWarnings.keys()])) {
    const expected = (expectedWarnings.get(productId) ?? []).join(' ');
    const actual = (actualWarnings.get(productId) ?? []).join(' ');
    if (expected !== actual) note(wrongWarnings, `${productId}: stored [${actual}], recomputed [${expected}]`);
  }

  // 4. Sales windows: every purchase summed into its MINUTE, HOUR and DAY window per currency;
  //    orders are distinct orderIds plus one per purchase without one.
  type Sums = { revenue: bigint; units: number; orderIds: Set<string>; loose: number };
  const expectedWindows = new Map<string, Sums>();
  for (const row of purchases) {
    if (row.unit_price_minor === null || row.currency === null) continue;
    for (const [size, ms] of SIZES) {
      const start = new Date(Math.floor(row.occurred_at.getTime() / ms) * ms).toISOString();
      const windowKey = `${size}|${start}|${row.currency}`;
      const sums = expectedWindows.get(windowKey) ?? { revenue: 0n, units: 0, orderIds: new Set(), loose: 0 };
      sums.revenue += BigInt(row.unit_price_minor) * BigInt(row.quantity);
      sums.units += row.quantity;
      if (row.order_id === null) sums.loose++;
      else sums.orderIds.add(row.order_id);
      expectedWindows.set(windowKey, sums);
    }
  }
  type WindowRow = {
    size: string;
    window_start: Date;
    currency: string;
    revenue_minor: string;
    orders: string;
    units: string;
    revision: number;
    tx_id: string;
    seq: string;
  };
  const windows = await q<WindowRow>(
    `SELECT size, window_start, currency, revenue_minor::text, orders::text, units::text, revision, tx_id::text, seq::text
       FROM sales_windows ORDER BY tx_id, seq`,
  );
  const windowKeyOf = (row: { size: string; window_start: Date; currency: string }) =>
    `${row.size}|${row.window_start.toISOString()}|${row.currency}`;
  const storedWindows = new Map(windows.map((row) => [windowKeyOf(row), row]));
  const wrongWindows = none();
  for (const windowKey of new Set([...expectedWindows.keys(), ...storedWindows.keys()])) {
    const sums = expectedWindows.get(windowKey);
    const row = storedWindows.get(windowKey);
    const expected = sums ? `${sums.revenue}/${sums.orderIds.size + sums.loose}/${sums.units}` : 'none';
    const actual = row ? `${row.revenue_minor}/${row.orders}/${row.units}` : 'none';
    if (expected !== actual)
      note(wrongWindows, `${windowKey}: stored ${actual}, recomputed ${expected} (revenue/orders/units)`);
  }

  // 5. Hourly product summaries (topProducts): browses, carts, units and revenue per UTC hour of
  //    event time, product and currency ('' for browses and carts), summed from the log.
  const wrongSummaries = none();
  for (const row of await q<{ hour: Date; product_id: string; currency: string; expected: string; stored: string }>(
    `WITH expected AS (
       SELECT date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, product_id,
              CASE WHEN type = 'PURCHASE' THEN currency ELSE '' END AS currency,
              count(*) FILTER (WHERE type = 'BROWSE') AS browses,
              count(*) FILTER (WHERE type = 'ADD_TO_CART') AS carts,
              coalesce(sum(quantity) FILTER (WHERE type = 'PURCHASE'), 0) AS units,
              coalesce(sum(quantity::bigint * unit_price_minor) FILTER (WHERE type = 'PURCHASE'), 0) AS revenue
         FROM activity_events GROUP BY 1, 2, 3
     ), compared AS (
       SELECT hour, product_id, currency,
              concat_ws('/', coalesce(e.browses, 0), coalesce(e.carts, 0), coalesce(e.units, 0), coalesce(e.revenue, 0)) AS expected,
              concat_ws('/', coalesce(h.browses, 0), coalesce(h.carts, 0), coalesce(h.units, 0), coalesce(h.revenue_minor, 0)) AS stored
         FROM expected e FULL JOIN product_activity_hourly h USING (hour, product_id, currency)
     )
     SELECT * FROM compared WHERE expected <> stored`,
  )) {
    note(
      wrongSummaries,
      `${row.hour.toISOString()} ${row.product_id} ${row.currency || '-'}: stored ${row.stored}, recomputed ${row.expected} (browses/carts/units/revenue)`,
    );
  }

  // 6. What each subscriber received, against its feed.
  const feedRows = {
    activity_events: activity.map((row) => ({ position: positionOfRow(row), id: row.event_id })),
    stock_warnings: (await q<{ tx_id: string; seq: string }>('SELECT tx_id::text, seq::text FROM stock_warnings')).map(
      (row) => ({ position: positionOfRow(row), id: key(positionOfRow(row)) }),
    ),
  };
  const deliveredTwice = none();
  const outOfOrder = none();
  const skipped = none();
  const phantom = none();
  for (const follower of run.followers) {
    const name = follower.spec.name;
    if (follower.spec.table === 'sales_windows') {
      const size = (follower.spec.variables as { size: string }).size;
      const last = new Map<string, { revision: number; revenue: bigint; orders: number; units: number }>();
      const seen = new Set<string>();
      let previous: Position | null = null;
      for (const item of follower.received) {
        const windowKey = `${item.size}|${new Date(item.start as string).toISOString()}|${item.currency}`;
        const state = `${windowKey}#${item.revision}`;
        const position = decodeCursor(item.cursor);
        if (seen.has(state)) note(deliveredTwice, `${name}: ${state}`);
        else if (previous && comparePositions(position, previous) <= 0) note(outOfOrder, `${name}: ${state}`);
        seen.add(state);
        previous = position;
        const row = storedWindows.get(windowKey);
        if (!row || (item.revision as number) > row.revision) note(phantom, `${name}: ${state} is not in the database`);
        last.set(windowKey, {
          revision: item.revision as number,
          revenue: minorOf(item.revenue as string),
          orders: item.orders as number,
          units: item.units as number,
        });
      }
      for (const row of windows.filter((w) => w.size === size)) {
        const got = last.get(windowKeyOf(row));
        const same =
          got &&
          got.revision === row.revision &&
          got.revenue === BigInt(row.revenue_minor) &&
          got.orders === Number(row.orders) &&
          got.units === Number(row.units);
        if (!same) {
          note(
            skipped,
            `${name}: ${windowKeyOf(row)} revision ${row.revision} (last received: ${got?.revision ?? 'none'})`,
          );
        }
      }
      continue;
    }
    const feed = feedRows[follower.spec.table];
    const inFeed = new Set(feed.map((row) => key(row.position)));
    const received = new Set<string>();
    let previous: Position | null = null;
    for (const item of follower.received) {
      const position = decodeCursor(item.cursor);
      const id = key(position);
      if (received.has(id)) note(deliveredTwice, `${name}: ${item.eventId ?? id}`);
      else if (previous && comparePositions(position, previous) <= 0)
        note(outOfOrder, `${name}: ${item.eventId ?? id}`);
      if (!inFeed.has(id)) note(phantom, `${name}: ${item.eventId ?? id} is not in the database`);
      received.add(id);
      previous = position;
    }
    for (const row of feed) if (!received.has(key(row.position))) note(skipped, `${name}: ${row.id}`);
  }

  const listed = (items: string[]): Found => ({ count: items.length, examples: items.slice(0, 5) });
  // A fault is no excuse for "Unexpected error": the client must be told what to do (UNAVAILABLE, retry).
  const internal = none();
  for (const [reason, n] of run.ledger.refusals) {
    if (reason !== 'INTERNAL_SERVER_ERROR') continue;
    for (let i = 0; i < n; i++) note(internal, `mutation: ${run.ledger.refusalMessages.get(reason)?.slice(0, 300)}`);
  }
  for (const follower of run.followers) {
    for (const [code, n] of follower.serverErrors) {
      if (code !== 'INTERNAL_SERVER_ERROR' && code !== 'close 4500') continue;
      const message = follower.serverErrorMessages.get(code) ?? '';
      for (let i = 0; i < n; i++) note(internal, `${follower.spec.name}: ${code} ${message.slice(0, 200)}`);
    }
  }
  return [
    { check: 'acknowledged events lost', ...lost },
    { check: 'events stored twice', ...twice },
    { check: 'events stored other than sent', ...altered },
    { check: 'acknowledged batches with a wrong report', ...listed(run.ledger.badReports) },
    { check: 'stock levels ≠ recomputation from the log', ...wrongLevels },
    { check: 'products whose warnings ≠ recomputation', ...wrongWarnings },
    { check: 'sales windows ≠ recomputation from the log', ...wrongWindows },
    { check: 'hourly product summaries ≠ recomputation', ...wrongSummaries },
    { check: 'items delivered twice to a subscriber', ...deliveredTwice },
    { check: 'items delivered out of order', ...outOfOrder },
    { check: 'items skipped by a subscriber (or stale)', ...skipped },
    { check: 'items delivered but not in the database', ...phantom },
    { check: 'subscribers that never caught up', ...listed(run.laggingFollowers) },
    { check: 'processors that never caught up', ...listed(run.laggingProcessors) },
    { check: 'servers that exited by themselves', ...listed(run.unexpectedExits) },
    { check: 'internal errors shown to clients', ...internal },
  ];
}
