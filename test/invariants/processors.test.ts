// The processors under failure and concurrency (invariants 2 and 3), with real server processes:
// a processor killed in the middle of a batch repeats no effect and loses none; several processes
// share the processors with one owner at a time, and the survivors take over from a killed one;
// ack PROCESSED times out cleanly while processing is stuck, and the batch stays stored.
//
// Every check compares derived state with a recomputation from the log tables (the truth), and
// the checkpoints' event counts with the log's. Workloads are seeded (the seed is in every
// failure message; TEST_SEED replays one); waits are polls with a deadline, never sleeps.
//
// How a batch is held in the middle: a client of ours locks the products' stock_levels rows
// FOR UPDATE, as the inventory processor's batch does, so that processor's transaction waits on
// them (seen in pg_stat_activity) while the other processors go on. Our transaction marks itself
// as the inventory processor's do, writing only stock_warnings and never the log (writesOnly in
// src/feed/feed.ts), because a transaction with an id holds every log reader's horizon
// back (invariant 5): unmarked, it would stop every processor before the purchases, not just the
// inventory processor on the rows.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { comparePositions, decodeCursor, type Position } from '../../src/feed/cursor.js';
import { writesOnly } from '../../src/feed/feed.js';
import { type GraphQLResponse, gql } from '../helpers/clients.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ServiceProcess, startProcess } from '../helpers/process.js';
import { startRedis, stopAllRedis } from '../helpers/redis.js';

const children: ServiceProcess[] = [];
const databases: TestDatabase[] = [];
const clients: pg.Client[] = [];

afterAll(async () => {
  await Promise.all(children.map((child) => child.stop('SIGKILL')));
  await Promise.all(clients.map((client) => client.end().catch(() => {})));
  await stopAllRedis();
  await Promise.all(databases.map((database) => database.drop()));
});

// --- Inputs -------------------------------------------------------------------------------------

type ActivityEvent = {
  eventId: string;
  userId: string;
  type: 'BROWSE' | 'ADD_TO_CART' | 'REMOVE_FROM_CART' | 'PURCHASE';
  productId: string;
  quantity?: number;
  unitPrice?: string;
  currency?: string;
  orderId?: string;
  occurredAt: string;
};
type InventoryEvent = { eventId: string; productId: string; quantity?: number; delta?: number; occurredAt: string };
type Batch = { kind: 'activity'; events: ActivityEvent[] } | { kind: 'inventory'; events: InventoryEvent[] };
type Ack = 'STORED' | 'PROCESSED';
type Report = {
  accepted: number;
  duplicates: number;
  errors: Array<{ index: number; code: string; message: string }>;
  position: string | null;
};

const REPORT = 'accepted duplicates errors { index code message } position';
const MUTATIONS = {
  activity: `mutation ($e: [ActivityEventInput!]!, $ack: IngestAck) { recordActivity(events: $e, ack: $ack) { ${REPORT} } }`,
  inventory: `mutation ($e: [InventoryEventInput!]!, $ack: IngestAck) { recordInventory(events: $e, ack: $ack) { ${REPORT} } }`,
};

/** Sends a batch (no `ack`: the schema's default, PROCESSED) and returns the raw GraphQL response. */
async function post(url: string, batch: Batch, ack?: Ack): Promise<GraphQLResponse> {
  return gql(url, MUTATIONS[batch.kind], { e: batch.events, ...(ack ? { ack } : {}) });
}

/** Sends a batch and returns its report; throws on a GraphQL error or a rejected event. */
async function send(url: string, batch: Batch, ack?: Ack): Promise<Report> {
  const result = await post(url, batch, ack);
  const report = (result.data?.recordActivity ?? result.data?.recordInventory) as Report | undefined;
  if (result.errors || !report) throw new Error(`batch refused by ${url}: ${JSON.stringify(result.errors)}`);
  if (report.errors.length > 0) throw new Error(`events rejected by ${url}: ${JSON.stringify(report.errors)}`);
  if (report.accepted + report.duplicates !== batch.events.length) {
    throw new Error(`report does not add up for ${batch.events.length} events: ${JSON.stringify(report)}`);
  }
  return report;
}

/** A small deterministic generator (the crash test's), so a failure can be replayed from its seed. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(): number {
  return process.env.TEST_SEED ? Number(process.env.TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
}

const HOUR = 3_600_000;
/** Event time of the workloads: the three hours before the current hour. */
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
/** Every product is counted once, a day before anything else happens to it. */
const COUNTED_AT = new Date(BASE - 24 * HOUR).toISOString();

function levelsBatch(prefix: string, levels: Record<string, number>): Batch {
  return {
    kind: 'inventory',
    events: Object.entries(levels).map(([productId, quantity]) => ({
      eventId: `${prefix}-level-${productId}`,
      productId,
      quantity,
      occurredAt: COUNTED_AT,
    })),
  };
}

/** Activity batches (browses, carts, removals, purchases in two currencies) and inventory delta batches. */
function workload(
  next: () => number,
  prefix: string,
  products: readonly string[],
  shape: { activityBatches: number; inventoryBatches: number; size: number },
): Batch[] {
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] as T;
  const at = () => new Date(BASE + Math.floor(next() * 3 * HOUR)).toISOString();
  const batches: Batch[] = [];
  const total = shape.activityBatches + shape.inventoryBatches;
  const every = Math.floor(total / shape.inventoryBatches);
  for (let b = 0, inventory = 0; b < total; b++) {
    if (b % every === every - 1 && inventory < shape.inventoryBatches) {
      inventory++;
      batches.push({
        kind: 'inventory',
        events: Array.from({ length: shape.size }, (_, i) => ({
          eventId: `${prefix}-inv-${b}-${i}`,
          productId: pick(products),
          delta: pick([-3, -1, 2, 5, 10]),
          occurredAt: at(),
        })),
      });
      continue;
    }
    batches.push({
      kind: 'activity',
      events: Array.from({ length: shape.size }, (_, i) => {
        const type = pick(['BROWSE', 'BROWSE', 'ADD_TO_CART', 'REMOVE_FROM_CART', 'PURCHASE', 'PURCHASE'] as const);
        const event: ActivityEvent = {
          eventId: `${prefix}-act-${b}-${i}`,
          userId: `u${Math.floor(next() * 20)}`,
          type,
          productId: pick(products),
          occurredAt: at(),
        };
        if (type === 'PURCHASE') {
          event.quantity = 1 + Math.floor(next() * 3);
          event.unitPrice = pick(['0.99', '12.34', '100.00', '7.05']);
          event.currency = pick(['USD', 'EUR']);
          // Some purchases share an order, some are orders of their own.
          if (next() < 0.7) event.orderId = `${prefix}-o-${b}-${Math.floor(i / 4)}`;
        }
        return event;
      }),
    });
  }
  return batches;
}

/** count + Σ deltas − Σ purchased units, per product, from what was sent. */
function expectedLevels(levels: Record<string, number>, batches: readonly Batch[]): Record<string, number> {
  const expected = { ...levels };
  for (const batch of batches) {
    for (const event of batch.events) {
      const id = event.productId;
      if (batch.kind === 'inventory') {
        const e = event as InventoryEvent;
        if (e.delta !== undefined) expected[id] = (expected[id] ?? 0) + e.delta;
      } else {
        const e = event as ActivityEvent;
        if (e.type === 'PURCHASE') expected[id] = (expected[id] ?? 0) - (e.quantity ?? 1);
      }
    }
  }
  return expected;
}

// --- Waiting ------------------------------------------------------------------------------------

/** Polls `probe` until it returns something truthy; on the deadline, fails with the last state seen. */
async function until<T>(
  what: string,
  probe: () => Promise<{ done: T | null | false | undefined; state?: unknown }>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const { done, state } = await probe();
    if (done) return done;
    last = state;
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms; last seen: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

type Ready = { status: string; processors: Array<{ processor: string; log: string; events: number; seconds: number }> };

/** Waits until /ready of `service` shows every processor at the head of every log it follows. */
async function untilCaughtUp(service: ServiceProcess, timeoutMs = 30_000): Promise<Ready> {
  const ready = service.url.replace(/\/graphql$/, '/ready');
  return until(
    `every processor's lag on ${ready} reaches 0 events`,
    async () => {
      const response = await fetch(ready);
      const body = (await response.json()) as Ready;
      const caughtUp =
        response.status === 200 && body.processors.length > 0 && body.processors.every((p) => p.events === 0);
      return { done: caughtUp && body, state: { status: response.status, body } };
    },
    timeoutMs,
  );
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'shopstream-tests' });
  await client.connect();
  clients.push(client);
  return client;
}

/**
 * Holds the products' stock_levels rows FOR UPDATE in an open transaction, as a batch of the
 * inventory processor would, and marked as it marks itself (writes only stock_warnings, no log).
 */
async function holdStockRows(url: string, productIds: readonly string[]) {
  const client = await connect(url);
  await client.query('BEGIN');
  await client.query(`SELECT set_config('application_name', $1, true)`, [writesOnly('stock_warnings')]);
  const { rows } = await client.query('SELECT product_id FROM stock_levels WHERE product_id = ANY($1) FOR UPDATE', [
    [...productIds],
  ]);
  expect(rows.length, 'every product has a stock row to lock').toBe(productIds.length);
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
  return {
    pid,
    async release() {
      await client.query('ROLLBACK');
      await client.end();
      clients.splice(clients.indexOf(client), 1);
    },
  };
}

/** Waits until a backend other than `holder` waits on a row lock in the inventory processor's statement. */
async function untilInventoryWaitsOnLock(db: pg.Client, holder: number, timeoutMs = 20_000) {
  return until(
    "the inventory processor's batch waits on the held stock_levels rows",
    async () => {
      const { rows } = await db.query(
        `SELECT pid, application_name, state, wait_event_type, wait_event, query
           FROM pg_stat_activity
          WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), $1)`,
        [holder],
      );
      const waiting = rows.find(
        (r) => r.wait_event_type === 'Lock' && /stock_levels[\s\S]*FOR UPDATE/i.test(r.query as string),
      );
      return { done: waiting, state: rows };
    },
    timeoutMs,
  );
}

/** The local TCP ports of a child's sockets (Linux /proc): its PostgreSQL connections' client_port. */
function portsOf(child: ServiceProcess): Set<number> {
  const pid = child.child.pid;
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const link = (() => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return '';
        }
      })();
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match) inodes.add(match[1] as string);
    }
  } catch {
    return new Set(); // the process is gone
  }
  const ports = new Set<number>();
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [, local] = fields;
      if (local && inodes.has(fields[9] as string)) ports.add(Number.parseInt(local.split(':')[1] as string, 16));
    }
  }
  return ports;
}

/** Which child's backend holds which processor's advisory lock (a batch in flight) right now. */
async function processorOwners(db: pg.Client, processes: readonly ServiceProcess[]) {
  const { rows } = await db.query<{ processor: string; client_port: number }>(
    `SELECT p.name AS processor, a.client_port
       FROM pg_locks l
       JOIN pg_stat_activity a ON a.pid = l.pid
       JOIN unnest($1::text[]) AS p(name)
         ON hashtextextended('processor:' || p.name, 0) = ((l.classid::bigint << 32) | l.objid::bigint)
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = (
            SELECT oid FROM pg_database WHERE datname = current_database())`,
    [['inventory', 'sales', 'recommendations', 'activity-summaries', 'sales-alerts']],
  );
  const live = processes.filter((p) => p.exitCode === null && !p.child.killed);
  const ports = new Map(live.map((p) => [p, portsOf(p)]));
  return rows.flatMap((row) => {
    const child = live.find((p) => ports.get(p)?.has(row.client_port));
    return child ? [{ processor: row.processor, child }] : [];
  });
}

async function checkpoints(db: pg.Client) {
  const { rows } = await db.query<{ processor: string; log: string; tx_id: string; seq: string; events: string }>(
    'SELECT processor, log, tx_id::text, seq::text, events::text FROM processor_checkpoints ORDER BY processor, log',
  );
  return rows.map((r) => ({
    processor: r.processor,
    log: r.log,
    position: { txId: BigInt(r.tx_id), seq: BigInt(r.seq) } as Position,
    events: Number(r.events),
  }));
}

/** Waits until each of `processors` has a checkpoint on `log` at or past `position`. */
async function untilPassed(db: pg.Client, processors: readonly string[], log: string, position: Position) {
  return until(`${processors.join(', ')} pass ${position.txId}:${position.seq} of the ${log} log`, async () => {
    const rows = (await checkpoints(db)).filter((c) => c.log === log && processors.includes(c.processor));
    const passed = rows.length === processors.length && rows.every((c) => comparePositions(c.position, position) >= 0);
    return {
      done: passed,
      state: rows.map((c) => `${c.processor}/${c.log}@${c.position.txId}:${c.position.seq}`),
    };
  });
}

// --- Derived state versus the log ---------------------------------------------------------------

/** Which rows of which log each processor follows (its checkpoint counts exactly these). */
const FOLLOWED = {
  'inventory/inventory': 'SELECT tx_id, seq FROM inventory_events',
  'inventory/activity': `SELECT tx_id, seq FROM activity_events WHERE type = 'PURCHASE'`,
  'sales/activity': `SELECT tx_id, seq FROM activity_events WHERE type = 'PURCHASE'`,
  'recommendations/activity': 'SELECT tx_id, seq FROM activity_events',
  'activity-summaries/activity': 'SELECT tx_id, seq FROM activity_events',
  'catalogue/catalogue': 'SELECT tx_id, seq FROM product_events',
  'inventory/refunds': 'SELECT tx_id, seq FROM refund_events WHERE restock AND quantity > 0',
  'sales/refunds': 'SELECT tx_id, seq FROM refund_events',
  'sales-alerts/activity': 'SELECT tx_id, seq FROM activity_events',
} as const;

const EPOCH = `TIMESTAMPTZ '1970-01-01 00:00:00+00'`;

/**
 * Each derived table next to its recomputation from the log tables, for toEqual. The workloads
 * keep stock simple (one count per product before everything else), so a level is
 * count + Σ deltas − Σ purchased units.
 */
async function derivedAndRecomputed(db: pg.Client) {
  const rows = async (sql: string) => (await db.query(sql)).rows;
  const salesSql = (where: string) => `
    SELECT s.size, date_bin(s.width, a.occurred_at, ${EPOCH}) AS window_start, a.currency,
           sum(a.unit_price_minor * a.quantity)::text AS revenue_minor,
           (count(DISTINCT a.order_id) + count(*) FILTER (WHERE a.order_id IS NULL))::text AS orders,
           sum(a.quantity)::text AS units
      FROM activity_events a
      CROSS JOIN (VALUES ('MINUTE', interval '1 minute'), ('HOUR', interval '1 hour'), ('DAY', interval '1 day'))
           AS s(size, width)
     WHERE a.type = 'PURCHASE' AND a.unit_price_minor IS NOT NULL AND a.currency IS NOT NULL ${where}
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`;
  const heads = {} as Record<keyof typeof FOLLOWED, { events: number; head: Position | null }>;
  for (const [key, sql] of Object.entries(FOLLOWED) as Array<[keyof typeof FOLLOWED, string]>) {
    const [count] = await rows(`SELECT count(*)::int AS n FROM (${sql}) f`);
    const [head] = await rows(`SELECT tx_id::text, seq::text FROM (${sql}) f ORDER BY tx_id DESC, seq DESC LIMIT 1`);
    heads[key] = {
      events: count?.n as number,
      head: head ? { txId: BigInt(head.tx_id), seq: BigInt(head.seq) } : null,
    };
  }
  const stored = await checkpoints(db);
  return {
    stock: {
      derived: await rows('SELECT product_id, quantity FROM stock_levels ORDER BY product_id'),
      recomputed: await rows(`
        SELECT c.product_id, (c.quantity + coalesce(d.total, 0) - coalesce(b.units, 0))::int AS quantity
          FROM inventory_events c
          LEFT JOIN (SELECT product_id, sum(delta) AS total FROM inventory_events
                      WHERE delta IS NOT NULL GROUP BY 1) d USING (product_id)
          LEFT JOIN (SELECT product_id, sum(quantity) AS units FROM activity_events
                      WHERE type = 'PURCHASE' GROUP BY 1) b USING (product_id)
         WHERE c.quantity IS NOT NULL
         ORDER BY c.product_id`),
    },
    movements: {
      derived: (
        await rows(`SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS events,
                           count(*) FILTER (WHERE kind = 'PURCHASE')::int AS purchases,
                           coalesce(sum(amount) FILTER (WHERE kind = 'PURCHASE'), 0)::int AS purchased
                      FROM stock_movements`)
      )[0],
      recomputed: (
        await rows(`SELECT (SELECT count(*) FROM inventory_events)::int + count(*)::int AS rows,
                           (SELECT count(*) FROM inventory_events)::int + count(*)::int AS events,
                           count(*)::int AS purchases, coalesce(-sum(quantity), 0)::int AS purchased
                      FROM activity_events WHERE type = 'PURCHASE'`)
      )[0],
    },
    sales: {
      derived: await rows(`SELECT size, window_start, currency, revenue_minor::text, orders::text, units::text
                             FROM sales_windows ORDER BY size, window_start, currency`),
      recomputed: await rows(salesSql('')),
    },
    hourly: {
      derived:
        await rows(`SELECT hour, product_id, currency, browses::text, carts::text, units::text, revenue_minor::text
                             FROM product_activity_hourly ORDER BY hour, product_id, currency`),
      recomputed: await rows(`
        SELECT date_bin('1 hour', occurred_at, ${EPOCH}) AS hour, product_id,
               CASE WHEN type = 'PURCHASE' THEN coalesce(currency, '') ELSE '' END AS currency,
               count(*) FILTER (WHERE type = 'BROWSE')::text AS browses,
               count(*) FILTER (WHERE type = 'ADD_TO_CART')::text AS carts,
               coalesce(sum(quantity) FILTER (WHERE type = 'PURCHASE'), 0)::text AS units,
               coalesce(sum(unit_price_minor * quantity) FILTER (WHERE type = 'PURCHASE'), 0)::text AS revenue_minor
          FROM activity_events
         WHERE type IN ('BROWSE', 'ADD_TO_CART', 'PURCHASE')
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`),
    },
    checkpointEvents: {
      derived: stored.map((c) => ({ key: `${c.processor}/${c.log}`, events: c.events })).sort(byKey),
      recomputed: Object.entries(heads)
        .map(([key, { events }]) => ({ key, events }))
        .sort(byKey),
    },
    /** Checkpoints behind the head of what their processor follows (must be none). */
    behindHead: stored
      .filter((c) => {
        const head = heads[`${c.processor}/${c.log}` as keyof typeof FOLLOWED]?.head;
        return head && comparePositions(c.position, head) < 0;
      })
      .map((c) => `${c.processor}/${c.log}`),
  };
}

function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

type Comparison = Awaited<ReturnType<typeof derivedAndRecomputed>>;

/** Every derived table equals its recomputation, and every checkpoint is at the head of its log. */
function expectDerivedEqualsLog(state: Comparison, context: string) {
  expect(state.stock.derived, `stock_levels vs the log (${context})`).toEqual(state.stock.recomputed);
  expect(state.movements.derived, `stock_movements vs the log (${context})`).toEqual(state.movements.recomputed);
  expect(state.sales.derived, `sales_windows vs the log (${context})`).toEqual(state.sales.recomputed);
  expect(state.hourly.derived, `product_activity_hourly vs the log (${context})`).toEqual(state.hourly.recomputed);
  expect(state.checkpointEvents.derived, `checkpoint event counts vs the log (${context})`).toEqual(
    state.checkpointEvents.recomputed,
  );
  expect(state.behindHead, `checkpoints behind the head of their log (${context})`).toEqual([]);
  // Not vacuous: the workload reached every derived table.
  expect(state.sales.derived.length, context).toBeGreaterThan(0);
  expect(state.hourly.derived.length, context).toBeGreaterThan(0);
  expect(state.stock.derived.length, context).toBeGreaterThan(0);
}

function asRecord(rows: Array<{ product_id: string; quantity: number | null }>): Record<string, number | null> {
  return Object.fromEntries(rows.map((r) => [r.product_id, r.quantity]));
}

const childEnv = (database: TestDatabase, extra: Record<string, string> = {}) => ({
  DATABASE_URL: database.url,
  PROCESSOR_POLL_INTERVAL_MS: '200',
  LOG_LEVEL: 'info',
  ...extra,
});

async function start(env: Record<string, string>): Promise<ServiceProcess> {
  const child = await startProcess(env);
  children.push(child);
  return child;
}

// --- 1. A kill in the middle of a batch ---------------------------------------------------------

describe('processor crash safety (invariant 2)', () => {
  it('a processor killed mid-batch (kill -9) repeats no effect and loses none', async () => {
    const seed = seedOf();
    const next = random(seed);
    const context = `seed ${seed}`;
    const database = await createTestDatabase();
    databases.push(database);
    const db = await connect(database.url);
    const products = ['k0', 'k1', 'k2', 'k3'];
    const levels = { k0: 1000, k1: 500, k2: 200, k3: 80 };

    const a = await start(childEnv(database));
    await send(a.url, levelsBatch('crash', levels)); // ack PROCESSED: the levels are in stock_levels
    expect(asRecord((await db.query('SELECT product_id, quantity FROM stock_levels ORDER BY 1')).rows)).toEqual(levels);

    const held = await holdStockRows(database.url, products);
    const batches = workload(next, 'crash', products, { activityBatches: 5, inventoryBatches: 1, size: 20 });
    const reports = await Promise.all(batches.map((batch) => send(a.url, batch, 'STORED')));
    for (const report of reports) expect(report.accepted, context).toBeGreaterThan(0);
    const purchases = batches
      .flatMap((b) => (b.kind === 'activity' ? b.events : []))
      .filter((e) => e.type === 'PURCHASE');
    expect(purchases.length, context).toBeGreaterThan(0);

    // A's inventory processor is inside its batch, waiting on our rows ...
    const waiting = await untilInventoryWaitsOnLock(db, held.pid);
    // ... while the other processors committed theirs: work that must not be redone.
    const lastActivity = reports
      .filter((_, i) => batches[i]?.kind === 'activity')
      .map((r) => decodeCursor(r.position as string))
      .reduce((max, p) => (comparePositions(p, max) > 0 ? p : max));
    await untilPassed(db, ['sales', 'activity-summaries', 'recommendations'], 'activity', lastActivity);
    const salesBefore = (await derivedAndRecomputed(db)).sales;
    expect(salesBefore.derived, `sales were applied before the kill (${context})`).toEqual(salesBefore.recomputed);
    // Stock did not move: the inventory batch has not committed.
    expect(asRecord((await db.query('SELECT product_id, quantity FROM stock_levels ORDER BY 1')).rows)).toEqual(levels);

    // kill -9 with the batch in flight, then let its (orphaned) transaction go and start B.
    expect(await a.stop('SIGKILL')).toBeNull();
    await held.release();
    const b = await start(childEnv(database));
    await untilCaughtUp(b);

    const expected = expectedLevels(levels, batches);
    const state = await derivedAndRecomputed(db);
    expect(asRecord(state.stock.derived), `each purchase and delta applied once (${context})`).toEqual(expected);
    expectDerivedEqualsLog(state, context);
    const inventoryEvents = products.length + batches.filter((x) => x.kind === 'inventory').length * 20;
    const inventoryCheckpoints = state.checkpointEvents.derived.filter((c) => c.key.startsWith('inventory/'));
    expect(
      inventoryCheckpoints.reduce((sum, c) => sum + c.events, 0),
      `inventory checkpoint events = inventory events + purchases (${context})`,
    ).toBe(inventoryEvents + purchases.length);
    expect(state.movements.derived).toEqual({
      rows: inventoryEvents + purchases.length,
      events: inventoryEvents + purchases.length,
      purchases: purchases.length,
      purchased: -purchases.reduce((sum, e) => sum + (e.quantity ?? 1), 0),
    });
    // B took over from the checkpoint with no error on its way.
    expect(b.output()).not.toMatch(/"level":(50|60)/);
    expect(waiting).toBeTruthy();
  }, 90_000);
});

// --- 2. Several processes ---------------------------------------------------------------------

/**
 * Sends `batches` from three concurrent client loops over the live processes (ack STORED). A
 * batch that fails because its process died is sent again, with the same eventIds, to another.
 * `onAnswer` runs after every answered batch (it may kill a process).
 */
async function sendFromThreeLoops(
  batches: readonly Batch[],
  processes: () => ServiceProcess[],
  onAnswer: (answered: number) => void = () => {},
) {
  let queue = 0;
  let answered = 0;
  const reports: Report[] = new Array(batches.length);
  const retries: number[] = [];
  const loop = async (loopIndex: number) => {
    while (queue < batches.length) {
      const index = queue++;
      const batch = batches[index] as Batch;
      for (let attempt = 0; ; attempt++) {
        const live = processes().filter((p) => p.exitCode === null && p.child.exitCode === null && !p.child.killed);
        if (live.length === 0) throw new Error('no live process left');
        const target = live[(index + loopIndex + attempt) % live.length] as ServiceProcess;
        try {
          reports[index] = await send(target.url, batch, 'STORED');
          break;
        } catch (error) {
          // Only a process that died may fail a batch; the same batch then goes to another one.
          const dead = target.exitCode !== null || target.child.exitCode !== null || target.child.killed;
          if (!dead || attempt >= 5) throw error;
          retries.push(index);
        }
      }
      onAnswer(++answered);
    }
  };
  await Promise.all([0, 1, 2].map(loop));
  return { reports, retries };
}

describe('processors shared by several processes (invariant 3)', () => {
  const seed = seedOf();
  const next = random(seed);
  const context = `seed ${seed}`;
  const products = Array.from({ length: 10 }, (_, p) => `p${p}`);
  const levels = Object.fromEntries(products.map((p) => [p, 100_000]));
  const sent: Batch[] = [];
  const processes: ServiceProcess[] = [];
  let database: TestDatabase;
  let db: pg.Client;
  let env: Record<string, string>;

  it('two and three processes share the processors with no double effect', async () => {
    const redis = await startRedis();
    database = await createTestDatabase();
    databases.push(database);
    db = await connect(database.url);
    env = childEnv(database, { REDIS_URL: redis.url });

    processes.push(...(await Promise.all([start(env), start(env)])));
    await send((processes[0] as ServiceProcess).url, levelsBatch('multi', levels));
    const first = workload(next, 'w1', products, { activityBatches: 40, inventoryBatches: 10, size: 25 });
    const half = first.length / 2;

    // Two processes, then a third joins while the processors are busy.
    const one = await sendFromThreeLoops(first.slice(0, half), () => processes);
    processes.push(await start(env));
    const two = await sendFromThreeLoops(first.slice(half), () => processes);
    sent.push(...first);
    for (const report of [...one.reports, ...two.reports]) expect(report.duplicates, context).toBe(0);
    expect([...one.retries, ...two.retries]).toEqual([]);

    await untilCaughtUp(processes[2] as ServiceProcess, 60_000);
    const state = await derivedAndRecomputed(db);
    expect(asRecord(state.stock.derived), `stock = count + deltas − purchases (${context})`).toEqual(
      expectedLevels(levels, sent),
    );
    expectDerivedEqualsLog(state, context);
    const { rows } = await db.query(
      'SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids FROM activity_events',
    );
    const activity = sent.filter((b) => b.kind === 'activity').reduce((n, b) => n + b.events.length, 0);
    expect(rows[0], context).toEqual({ n: activity, ids: activity });
  }, 120_000);

  it('takes over after a kill: the two survivors finish every processor, with no double effect and no loss', async () => {
    expect(processes.length, 'the previous test started three processes').toBe(3);
    const second = workload(next, 'w2', products, { activityBatches: 40, inventoryBatches: 10, size: 25 });
    const killAfter = 3 + Math.floor(next() * 15);
    let reached!: () => void;
    const killTime = new Promise<void>((resolve) => {
      reached = resolve;
    });
    // The victim is a process that owns a processor at that moment (its batch transaction holds
    // the processor's advisory lock), so the survivors must take over a batch in flight.
    const killing = killTime.then(async () => {
      const owner = await until(
        'a process owns a processor batch',
        async () => {
          const owners = await processorOwners(db, processes);
          return { done: owners[0], state: owners };
        },
        10_000,
      ).catch(() => null);
      const victim = owner?.child ?? (processes[Math.floor(next() * processes.length)] as ServiceProcess);
      victim.child.kill('SIGKILL');
      return { victim, owned: owner?.processor ?? null };
    });
    const { retries, reports } = await sendFromThreeLoops(
      second,
      () => processes,
      (answered) => {
        if (answered >= killAfter) reached();
      },
    );
    sent.push(...second);
    const { victim, owned } = await killing;
    await victim.stop('SIGKILL');
    const survivors = processes.filter((p) => p !== victim);

    await untilCaughtUp(survivors[0] as ServiceProcess, 60_000);
    const state = await derivedAndRecomputed(db);
    const where = `${context}, killed process ${processes.indexOf(victim)} (owner of ${owned ?? 'no processor'}) after ${killAfter} answers, ${retries.length} batches re-sent, ${retries.filter((i) => (reports[i]?.duplicates ?? 0) > 0).length} of them stored before the kill`;
    reports.forEach((report, i) => {
      // A batch that was never re-sent was stored once, by its first answer.
      if (!retries.includes(i)) expect(report.duplicates, where).toBe(0);
    });
    expect(owned, `the killed process owned a processor batch (${where})`).not.toBeNull();
    expect(asRecord(state.stock.derived), `stock = count + deltas − purchases (${where})`).toEqual(
      expectedLevels(levels, sent),
    );
    expectDerivedEqualsLog(state, where);
    const { rows } = await db.query(
      'SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids FROM activity_events',
    );
    const activity = sent.filter((b) => b.kind === 'activity').reduce((n, b) => n + b.events.length, 0);
    expect(rows[0], where).toEqual({ n: activity, ids: activity });
    // Both survivors agree that nothing is left.
    for (const survivor of survivors) {
      const ready = await untilCaughtUp(survivor, 10_000);
      expect(ready.processors.map((p) => `${p.processor}/${p.log}`).sort()).toEqual(Object.keys(FOLLOWED).sort());
    }
  }, 120_000);
});

// --- 3. ack PROCESSED while processing is stuck ---------------------------------------------------

describe('ack PROCESSED (invariants 1 and 2)', () => {
  it('ack PROCESSED times out cleanly with PROCESSING_TIMEOUT while processing is stuck, and the batch stays stored', async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const db = await connect(database.url);
    const child = await start(childEnv(database, { PROCESSED_ACK_TIMEOUT_MS: '500' }));
    await send(child.url, levelsBatch('ack', { s1: 50 }));

    const held = await holdStockRows(database.url, ['s1']);
    const purchase: Batch = {
      kind: 'activity',
      events: [
        {
          eventId: 'ack-purchase-1',
          userId: 'u1',
          type: 'PURCHASE',
          productId: 's1',
          quantity: 3,
          unitPrice: '12.34',
          currency: 'USD',
          orderId: 'ack-order-1',
          occurredAt: new Date(BASE).toISOString(),
        },
      ],
    };
    const started = Date.now();
    const timedOut = await post(child.url, purchase); // the default ack: PROCESSED
    const waited = Date.now() - started;
    expect(timedOut.errors?.[0]?.extensions?.code, JSON.stringify(timedOut)).toBe('PROCESSING_TIMEOUT');
    expect(waited, 'answered after about PROCESSED_ACK_TIMEOUT_MS').toBeGreaterThanOrEqual(450);
    expect(waited).toBeLessThan(10_000);
    // The inventory processor really was stuck on the rows, and the batch is stored all the same.
    await untilInventoryWaitsOnLock(db, held.pid);
    const stored = await db.query(`SELECT event_id, quantity FROM activity_events WHERE event_id = 'ack-purchase-1'`);
    expect(stored.rows).toEqual([{ event_id: 'ack-purchase-1', quantity: 3 }]);
    expect((await db.query(`SELECT quantity FROM stock_levels WHERE product_id = 's1'`)).rows).toEqual([
      { quantity: 50 },
    ]);

    await held.release();
    await untilCaughtUp(child);
    const stock = async () => (await db.query(`SELECT quantity FROM stock_levels WHERE product_id = 's1'`)).rows;
    const movements = async () =>
      (await db.query(`SELECT event_id, kind, amount FROM stock_movements WHERE product_id = 's1' ORDER BY kind`)).rows;
    expect(await stock(), 'the purchase is applied once').toEqual([{ quantity: 47 }]);
    expect(await movements()).toEqual([
      { event_id: 'ack-level-s1', kind: 'COUNT', amount: 50 },
      { event_id: 'ack-purchase-1', kind: 'PURCHASE', amount: -3 },
    ]);

    // Sending it again (what a client that ignores the advice might do) changes nothing.
    const again = await send(child.url, purchase);
    expect(again).toMatchObject({ accepted: 0, duplicates: 1, errors: [] });
    await untilCaughtUp(child);
    expect(await stock()).toEqual([{ quantity: 47 }]);
    expect(await movements()).toHaveLength(2);
    expectDerivedEqualsLog(await derivedAndRecomputed(db), 'ack PROCESSED timeout');
  }, 60_000);
});
