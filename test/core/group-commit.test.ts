// Group commit (src/core/ingest/group-commit.ts): batches that arrive while ingest transactions
// are in flight share the next transaction, yet each caller gets the answer it would have got
// alone. Against a real database: the core of a real server, and ingests built here.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activityAppender } from '../../src/core/activity/record.js';
import type { ActivityEventInput, NewActivityEvent } from '../../src/core/activity/types.js';
import { systemClock } from '../../src/core/clock.js';
import { DEFAULT_MAX_IN_FLIGHT } from '../../src/core/ingest/group-commit.js';
import { createLogIngest, type LogAppender } from '../../src/core/ingest/ingest.js';
import { validateActivityEvent } from '../../src/core/ingest/validate.js';
import type { Fanout } from '../../src/feed/fanout.js';
import type { FeedTopic } from '../../src/feed/topics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let scratch: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  server = await startTestServer();
  // A second database for the ingests built here, so their failures leave the server's alone.
  scratch = await createTestDatabase();
  pool = new pg.Pool({ connectionString: scratch.url, max: 4 });
});
afterAll(async () => {
  await pool?.end();
  await scratch?.drop();
  await disposeAll();
});

async function query<Row extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const browse = (eventId: string, userId = 'gc-user'): ActivityEventInput => ({
  eventId,
  userId,
  type: 'BROWSE',
  productId: `p-${eventId}`,
});

/** A fanout that only counts wake-ups, to see what was published and when. */
function recordingFanout(): Fanout & { published: FeedTopic[] } {
  const published: FeedTopic[] = [];
  return {
    published,
    publish: (topic) => published.push(topic),
    subscribe: () => () => {},
    close: async () => {},
  };
}

describe('group commit of activity batches', () => {
  it('50 concurrent one-event batches are all stored and acknowledged, in far fewer transactions', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `gc-many-${i}`);
    const reports = await Promise.all(ids.map((id) => server.core.ingestActivity([browse(id, 'gc-many')])));

    for (const report of reports) expect(report).toMatchObject({ accepted: 1, duplicates: 0, errors: [] });
    const rows = await query<{ event_id: string; tx_id: string; seq: string }>(
      server.databaseUrl,
      `SELECT event_id, tx_id::text, seq::text FROM activity_events WHERE user_id = 'gc-many'`,
    );
    expect(rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    // All were sent in one tick: the first DEFAULT_MAX_IN_FLIGHT start at once, alone; the rest
    // wait and share the next transaction.
    const transactions = new Set(rows.map((r) => r.tx_id)).size;
    expect(transactions).toBeLessThanOrEqual(DEFAULT_MAX_IN_FLIGHT + 1);
    // A group stores its callers' events in the order they called, so the feed lists them so.
    for (const tx of new Set(rows.map((r) => r.tx_id))) {
      const inSeqOrder = rows
        .filter((r) => r.tx_id === tx)
        .sort((x, y) => Number(BigInt(x.seq) - BigInt(y.seq)))
        .map((r) => ids.indexOf(r.event_id));
      expect(inSeqOrder).toEqual([...inSeqOrder].sort((x, y) => x - y));
    }
    expect(
      Math.max(...[...new Set(rows.map((r) => r.tx_id))].map((tx) => rows.filter((r) => r.tx_id === tx).length)),
    ).toBe(ids.length - DEFAULT_MAX_IN_FLIGHT);
  });

  it('two batches naming the same eventId in one group: the first is accepted, the second is a duplicate, stock drops once', async () => {
    await server.core.ingestInventory([{ eventId: 'gc-stock-set', productId: 'gc-stocked', quantity: 50 }]);
    const purchase: ActivityEventInput = {
      eventId: 'gc-purchase-1',
      userId: 'gc-buyer',
      type: 'PURCHASE',
      productId: 'gc-stocked',
      quantity: 3,
      unitPrice: '2.50',
    };
    // The two fillers take the free slots, so both purchases wait and share the next transaction.
    const [, , first, second] = await Promise.all([
      server.core.ingestActivity([browse('gc-filler-1')]),
      server.core.ingestActivity([browse('gc-filler-2')]),
      server.core.ingestActivity([purchase]),
      server.core.ingestActivity([purchase]),
    ]);

    expect(first).toMatchObject({ accepted: 1, duplicates: 0, errors: [] });
    expect(second).toMatchObject({ accepted: 0, duplicates: 1, errors: [] });
    const stored = await query<{ n: number }>(
      server.databaseUrl,
      `SELECT count(*)::int AS n FROM activity_events WHERE event_id = 'gc-purchase-1'`,
    );
    expect(stored[0]?.n).toBe(1);
    const stock = await query<{ quantity: number }>(
      server.databaseUrl,
      `SELECT quantity FROM stock_levels WHERE product_id = 'gc-stocked'`,
    );
    expect(stock[0]?.quantity).toBe(47);
  });

  it('two batches naming the same eventId in concurrent transactions: one accepted, one duplicate, stock drops once', async () => {
    await server.core.ingestInventory([{ eventId: 'gc-stock-set-2', productId: 'gc-stocked-2', quantity: 50 }]);
    const purchase: ActivityEventInput = {
      eventId: 'gc-purchase-2',
      userId: 'gc-buyer',
      type: 'PURCHASE',
      productId: 'gc-stocked-2',
      quantity: 4,
      unitPrice: '1.00',
    };
    // Both find a free slot: two transactions race on the unique index.
    const reports = await Promise.all([server.core.ingestActivity([purchase]), server.core.ingestActivity([purchase])]);

    expect(reports.map((r) => r.accepted).sort()).toEqual([0, 1]);
    expect(reports.map((r) => r.duplicates).sort()).toEqual([0, 1]);
    const stock = await query<{ quantity: number }>(
      server.databaseUrl,
      `SELECT quantity FROM stock_levels WHERE product_id = 'gc-stocked-2'`,
    );
    expect(stock[0]?.quantity).toBe(46);
  });

  it("a batch with bad events in a group gets its own error indexes and dead letters; the others' are untouched", async () => {
    const mixed: ActivityEventInput[] = [
      browse('gc-mixed-0', 'gc-mixed'),
      { eventId: 'gc-mixed-1', userId: 'gc-mixed', type: 'TELEPORT', productId: 'p' },
      browse('gc-mixed-2', 'gc-mixed'),
      { eventId: 'gc-mixed-3', userId: 'gc-mixed', type: 'PURCHASE', productId: 'p' },
      browse('gc-mixed-0', 'gc-mixed'), // repeated inside its own batch
    ];
    const [a, b, report, c] = await Promise.all([
      server.core.ingestActivity([browse('gc-other-1', 'gc-mixed-others')]),
      server.core.ingestActivity([browse('gc-other-2', 'gc-mixed-others')]),
      server.core.ingestActivity(mixed),
      server.core.ingestActivity([browse('gc-other-3', 'gc-mixed-others'), browse('gc-other-4', 'gc-mixed-others')]),
    ]);

    expect(report).toMatchObject({
      accepted: 2,
      duplicates: 1,
      errors: [
        expect.objectContaining({ index: 1, eventId: 'gc-mixed-1', code: 'INVALID_TYPE' }),
        expect.objectContaining({ index: 3, eventId: 'gc-mixed-3', code: 'MISSING_PRICE' }),
      ],
    });
    expect([a, b, c]).toMatchObject([
      { accepted: 1, duplicates: 0, errors: [] },
      { accepted: 1, duplicates: 0, errors: [] },
      { accepted: 2, duplicates: 0, errors: [] },
    ]);
    const letters = await query<{ event_id: string; batch_index: number; code: string; payload: unknown }>(
      server.databaseUrl,
      `SELECT event_id, batch_index, code, payload FROM dead_letters WHERE event_id LIKE 'gc-%' ORDER BY batch_index`,
    );
    expect(letters).toEqual([
      { event_id: 'gc-mixed-1', batch_index: 1, code: 'INVALID_TYPE', payload: mixed[1] },
      { event_id: 'gc-mixed-3', batch_index: 3, code: 'MISSING_PRICE', payload: mixed[3] },
    ]);
    const stored = await query<{ event_id: string }>(
      server.databaseUrl,
      `SELECT event_id FROM activity_events WHERE user_id IN ('gc-mixed', 'gc-mixed-others') ORDER BY event_id`,
    );
    expect(stored.map((r) => r.event_id)).toEqual([
      'gc-mixed-0',
      'gc-mixed-2',
      'gc-other-1',
      'gc-other-2',
      'gc-other-3',
      'gc-other-4',
    ]);
  });

  it('a batch too large is refused on its own, before it can join a group', async () => {
    const ingest = activityIngest({ maxBatchSize: 2 });
    const results = await Promise.allSettled([
      ingest([browse('gc-size-1')]),
      ingest([browse('gc-size-2'), browse('gc-size-3'), browse('gc-size-4')]),
      ingest([browse('gc-size-5')]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'BATCH_TOO_LARGE' });
    const stored = await query<{ event_id: string }>(
      scratch.url,
      `SELECT event_id FROM activity_events WHERE event_id LIKE 'gc-size-%' ORDER BY event_id`,
    );
    expect(stored.map((r) => r.event_id)).toEqual(['gc-size-1', 'gc-size-5']);
  });

  it('a group whose append fails rejects every caller in it, stores and publishes nothing of it, and the next group works', async () => {
    const fanout = recordingFanout();
    const seen: string[][] = [];
    const poisoned: LogAppender<NewActivityEvent> = {
      ...activityAppender,
      insert: async (db, events) => {
        seen.push(events.map((e) => e.eventId));
        if (events.some((e) => e.productId === 'poison')) throw new Error('the append failed');
        return activityAppender.insert(db, events);
      },
    };
    const ingest = activityIngest({ fanout, maxInFlight: 1, appender: poisoned });

    // The first takes the only slot; the next three wait and form one group.
    const results = await Promise.allSettled([
      ingest([browse('gc-fail-0')]),
      ingest([{ eventId: 'gc-fail-1', userId: 'u', type: 'BROWSE', productId: 'poison' }]),
      ingest([browse('gc-fail-2')]),
      ingest([browse('gc-fail-3'), browse('gc-fail-4')]),
    ]);
    expect(seen).toEqual([['gc-fail-0'], ['gc-fail-1', 'gc-fail-2', 'gc-fail-3', 'gc-fail-4']]);
    expect(results[0]).toEqual({
      status: 'fulfilled',
      value: expect.objectContaining({ accepted: 1, duplicates: 0, errors: [] }),
    });
    for (const result of results.slice(1)) {
      expect(result).toMatchObject({ status: 'rejected', reason: { message: 'the append failed' } });
    }
    expect(fanout.published).toEqual(['activity:event']); // the first group's, after its COMMIT

    const after = await ingest([browse('gc-fail-2'), browse('gc-fail-5')]);
    expect(after).toMatchObject({ accepted: 2, duplicates: 0, errors: [] });
    const stored = await query<{ event_id: string }>(
      scratch.url,
      `SELECT event_id FROM activity_events WHERE event_id LIKE 'gc-fail-%' ORDER BY event_id`,
    );
    expect(stored.map((r) => r.event_id)).toEqual(['gc-fail-0', 'gc-fail-2', 'gc-fail-5']);
    expect(fanout.published).toEqual(['activity:event', 'activity:event']);
  });

  it('a batch whose own events PostgreSQL refuses fails alone; the rest of its group is stored', async () => {
    const refusing: LogAppender<NewActivityEvent> = {
      ...activityAppender,
      insert: async (db, events) => {
        if (events.some((e) => e.productId === 'refused')) {
          throw Object.assign(new Error('value too long for type'), { code: '22001' });
        }
        return activityAppender.insert(db, events);
      },
    };
    const ingest = activityIngest({ maxInFlight: 1, appender: refusing });
    const results = await Promise.allSettled([
      ingest([browse('gc-alone-0')]),
      ingest([browse('gc-alone-1')]),
      ingest([{ eventId: 'gc-alone-2', userId: 'u', type: 'BROWSE', productId: 'refused' }]),
      ingest([browse('gc-alone-3')]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const stored = await query<{ event_id: string }>(
      scratch.url,
      `SELECT event_id FROM activity_events WHERE event_id LIKE 'gc-alone-%' ORDER BY seq`,
    );
    expect(stored.map((r) => r.event_id)).toEqual(['gc-alone-0', 'gc-alone-1', 'gc-alone-3']);
  });
});

/** An activity ingest on the scratch database, as the core builds it. */
function activityIngest(options: {
  maxBatchSize?: number;
  maxInFlight?: number;
  fanout?: Fanout;
  appender?: LogAppender<NewActivityEvent>;
}) {
  return createLogIngest({
    pool,
    fanout: options.fanout ?? recordingFanout(),
    clock: systemClock,
    maxBatchSize: options.maxBatchSize ?? 1000,
    maxInFlight: options.maxInFlight,
    validate: (input: ActivityEventInput, index, now) =>
      validateActivityEvent(input, index, { defaultCurrency: 'USD', now }),
    appender: options.appender ?? activityAppender,
  });
}

describe('group commit of inventory batches', () => {
  it('concurrent one-event adjustments of one product are all applied, in far fewer transactions', async () => {
    await server.core.ingestInventory([{ eventId: 'gc-inv-set', productId: 'gc-inv', quantity: 100 }]);
    const reports = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        server.core.ingestInventory([{ eventId: `gc-inv-${i}`, productId: 'gc-inv', delta: -3 }]),
      ),
    );

    for (const report of reports) expect(report).toMatchObject({ accepted: 1, duplicates: 0, errors: [] });
    const stock = await query<{ quantity: number }>(
      server.databaseUrl,
      `SELECT quantity FROM stock_levels WHERE product_id = 'gc-inv'`,
    );
    expect(stock[0]?.quantity).toBe(10);
    // xmin: the transaction that inserted the row.
    const transactions = await query<{ n: number }>(
      server.databaseUrl,
      `SELECT count(DISTINCT xmin::text)::int AS n FROM inventory_events WHERE event_id LIKE 'gc-inv-%' AND event_id <> 'gc-inv-set'`,
    );
    expect(transactions[0]?.n).toBeLessThanOrEqual(DEFAULT_MAX_IN_FLIGHT + 1);
    // One crossing, reported once: 100 → 10 reaches the threshold (10) exactly once.
    const warnings = await query<{ kind: string; quantity: number }>(
      server.databaseUrl,
      `SELECT kind, quantity FROM stock_warnings WHERE product_id = 'gc-inv'`,
    );
    expect(warnings).toEqual([{ kind: 'LOW_STOCK', quantity: 10 }]);
  });
});
