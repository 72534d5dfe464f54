// Crash safety (invariant 1 and 2, issue 7): the server is killed with SIGKILL while concurrent
// batches are in flight, restarted with no manual step, and the client re-sends every batch it
// got no answer for (and some it did). The end state equals that of a crash-free server given the
// same batches, and a subscriber that resumes from its cursor sees every event exactly once.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { createTestDatabase } from '../helpers/database.js';
import { type ServiceProcess, startProcess } from '../helpers/process.js';
import { disposeAll, startTestServer } from '../helpers/server.js';
import { type ActivityInput, FOLLOW_ACTIVITY, type Followed, FROM_START, followActivity } from '../helpers/streams.js';

const PRODUCTS = 8;
const BATCHES = 60;
const BATCH_SIZE = 25;
const WORKERS = 4;

const children: ServiceProcess[] = [];
const drops: Array<() => Promise<void>> = [];

afterAll(async () => {
  await closeAllClients();
  await Promise.all(children.map((child) => child.stop('SIGKILL')));
  await disposeAll();
  await Promise.all(drops.map((drop) => drop()));
});

type InventoryInput = { eventId: string; productId: string; delta?: number; quantity?: number };
type Batch = { kind: 'activity'; events: ActivityInput[] } | { kind: 'inventory'; events: InventoryInput[] };

const MUTATIONS = {
  activity:
    'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e) { accepted duplicates errors { code } } }',
  inventory:
    'mutation ($e: [InventoryEventInput!]!) { recordInventory(events: $e) { accepted duplicates errors { code } } }',
};

/** A small deterministic generator, so a failure can be replayed from the seed in its message. */
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

function makeBatches(next: () => number): Batch[] {
  const hour = 3_600_000;
  const base = Math.floor(Date.now() / hour) * hour - 3 * hour;
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)] as T;
  return Array.from({ length: BATCHES }, (_, b): Batch => {
    if (b % 5 === 4) {
      return {
        kind: 'inventory',
        events: Array.from({ length: BATCH_SIZE }, (_, i) => ({
          eventId: `inv-${b}-${i}`,
          productId: `p${Math.floor(next() * PRODUCTS)}`,
          delta: pick([-3, -1, 2, 5, 10]),
        })),
      };
    }
    return {
      kind: 'activity',
      events: Array.from({ length: BATCH_SIZE }, (_, i) => {
        const type = pick(['BROWSE', 'ADD_TO_CART', 'PURCHASE', 'PURCHASE'] as const);
        const event: ActivityInput = {
          eventId: `act-${b}-${i}`,
          userId: `u${Math.floor(next() * 20)}`,
          type,
          productId: `p${Math.floor(next() * PRODUCTS)}`,
          // Event time over three hours, so minute, hour and day windows all get several rows.
          occurredAt: new Date(base + Math.floor(next() * 3 * hour)).toISOString(),
        };
        if (type === 'PURCHASE') {
          event.quantity = 1 + Math.floor(next() * 3);
          event.unitPrice = pick(['0.99', '12.34', '100.00', '7.05']);
          event.currency = pick(['USD', 'EUR']);
          event.orderId = `o-${b}-${Math.floor(i / 3)}`;
        }
        return event;
      }),
    };
  });
}

async function send(url: string, batch: Batch) {
  const result = await gql(url, MUTATIONS[batch.kind], { e: batch.events });
  if (result.errors || !result.data) throw new Error(`batch refused: ${JSON.stringify(result.errors)}`);
  const report = (result.data.recordActivity ?? result.data.recordInventory) as {
    accepted: number;
    duplicates: number;
    errors: unknown[];
  };
  expect(report.errors).toEqual([]);
  return report;
}

/** What must not depend on a crash: stock levels, sales windows (not their revision count), counts. */
async function snapshot(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const query = async (sql: string) => (await client.query(sql)).rows;
    return {
      stock: await query('SELECT product_id, quantity FROM stock_levels ORDER BY product_id'),
      sales: await query(
        `SELECT size, window_start, currency, revenue_minor::text, orders::text, units::text
           FROM sales_windows ORDER BY size, window_start, currency`,
      ),
      activity: await query('SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids FROM activity_events'),
      inventory: await query('SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids FROM inventory_events'),
      purchases: await query(
        `SELECT product_id, sum(quantity)::int AS units FROM activity_events WHERE type = 'PURCHASE' GROUP BY 1 ORDER BY 1`,
      ),
    };
  } finally {
    await client.end();
  }
}

describe('crash safety', () => {
  it('after SIGKILL under load and a restart, re-sent batches leave the same state as a run with no crash, and a resuming subscriber sees every event once', async () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const next = random(seed);
    const batches = makeBatches(next);
    const levels: Batch = {
      kind: 'inventory',
      events: Array.from({ length: PRODUCTS }, (_, p) => ({
        eventId: `level-${p}`,
        productId: `p${p}`,
        quantity: 100_000,
      })),
    };
    const database = await createTestDatabase();
    drops.push(() => database.drop());
    const env = { DATABASE_URL: database.url, FEED_POLL_INTERVAL_MS: '200', LOG_LEVEL: 'info' };

    // The run with no crash: the same batches, once each, on a server of its own.
    const reference = await startTestServer();
    await send(reference.url, levels);
    await Promise.all(batches.map((batch) => send(reference.url, batch)));

    let child = await startProcess(env);
    children.push(child);
    await send(child.url, levels);
    // A subscriber from the start of the feed: everything it sees before and after the crash.
    const first = subscribe<{ userActivity: Followed }>(child.url.replace(/^http/, 'ws'), FOLLOW_ACTIVITY, {
      after: FROM_START,
    });

    const answered = new Set<number>();
    const killAfter = 5 + Math.floor(next() * 40); // a random moment, counted in answers
    let queue = 0;
    let killed = false;
    const worker = async () => {
      while (queue < batches.length && !killed) {
        const index = queue++;
        try {
          await send(child.url, batches[index] as Batch);
          answered.add(index);
          if (answered.size >= killAfter && !killed) {
            killed = true;
            child.child.kill('SIGKILL');
          }
        } catch (error) {
          if (!killed) throw error;
          // No answer: the batch may or may not be stored; the client must send it again.
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    await child.stop('SIGKILL');

    // Drain what the subscriber received before its connection died.
    const seen: Followed[] = [];
    for (;;) {
      const result = await first.next(5_000).catch(() => null);
      if (!result) break;
      if (result.data) seen.push(result.data.userActivity);
    }

    // Start-up after the crash needs no manual step.
    child = await startProcess(env);
    children.push(child);
    const resend = batches.map((_, index) => index).filter((index) => !answered.has(index) || next() < 0.25);
    const reports = await Promise.all(resend.map((index) => send(child.url, batches[index] as Batch)));
    resend.forEach((index, i) => {
      // An answered batch changes nothing the second time.
      if (answered.has(index)) expect(reports[i]?.duplicates, `batch ${index}, seed ${seed}`).toBe(BATCH_SIZE);
    });

    const expected = batches.filter((batch) => batch.kind === 'activity').flatMap((batch) => batch.events);
    const last = seen.at(-1)?.cursor ?? FROM_START;
    const rest = await followActivity(child.url.replace(/^http/, 'ws'), last, expected.length - seen.length);
    const ids = [...seen, ...rest].map((item) => item.eventId);
    expect(new Set(ids).size, `seed ${seed}`).toBe(ids.length);
    expect(ids.sort(), `seed ${seed}`).toEqual(expected.map((event) => event.eventId).sort());

    const [crashed, clean] = await Promise.all([snapshot(database.url), snapshot(reference.databaseUrl)]);
    expect(crashed, `seed ${seed}, killed after ${killAfter} answers`).toEqual(clean);
    expect(crashed.activity[0]).toEqual({ n: expected.length, ids: expected.length });
    expect(crashed.sales.length).toBeGreaterThan(0);
    expect(child.output()).not.toMatch(/"level":(50|60)/);
  }, 60_000);
});
