// The recommendation builder (src/core/recommendations/builder.ts) against a real database: an
// ingest only queues its shoppers, a build stores exactly the list computeLists gives, rows left
// by a process that died are built by another, and racing builders never leave a stale list.
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../src/config.js';
import type { ActivityEventInput, ActivityType } from '../../src/core/activity/types.js';
import { type Core, createCore } from '../../src/core/core.js';
import { createRecommendationBuilder } from '../../src/core/recommendations/builder.js';
import { computeLists } from '../../src/core/recommendations/lists.js';
import { createDb, type Db } from '../../src/db/client.js';
import { createInProcessFanout, type Fanout } from '../../src/feed/fanout.js';
import { createFeed } from '../../src/feed/follow.js';
import type { FeedTopic } from '../../src/feed/topics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// A pinned clock: "popular right now" must not move between a build and the check of it.
const NOW = new Date('2026-11-25T12:00:00Z');
const clock = { now: () => NOW };
const log = pino({ level: 'silent' });

let database: TestDatabase;
let config: Config;
let db: Db;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  database = await createTestDatabase();
  config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
  db = await createDb(config, log);
});
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
  await db?.close();
  await database?.drop();
});

/** A core as a server process has it; its builder runs only if started. */
function makeCore(fanout: Fanout = createInProcessFanout()): Core {
  const feed = createFeed({ db: db.pool, fanout, log, ...config.feed });
  const core = createCore({ db, feed, fanout, clock, config, log });
  cleanups.push(async () => {
    await core.drain();
    await feed.close();
    await fanout.close();
  });
  return core;
}

let n = 0;
const act = (userId: string, type: ActivityType, productId: string, occurredAt?: Date): ActivityEventInput => ({
  eventId: `ev-${++n}`,
  userId,
  type,
  productId,
  ...(type === 'PURCHASE' ? { unitPrice: '9.99' } : {}),
  ...(occurredAt ? { occurredAt: occurredAt.toISOString() } : {}),
});

/** Appends to the log and lets the processors apply it (this core's, which builds no lists unless started). */
async function ingest(core: Core, events: ActivityEventInput[]): Promise<void> {
  const report = await core.ingestActivity(events, 'STORED');
  expect(report).toMatchObject({ accepted: events.length, errors: [] });
  await core.settleProcessing();
}

async function queued(users?: string[]): Promise<string[]> {
  const { rows } = await db.pool.query(
    'SELECT user_id FROM recommendation_rebuilds WHERE $1::text[] IS NULL OR user_id = ANY($1) ORDER BY id',
    [users ?? null],
  );
  return rows.map((row) => row.user_id);
}

async function storedLists(users: string[]): Promise<Map<string, unknown>> {
  const { rows } = await db.pool.query('SELECT user_id, items FROM recommendation_lists WHERE user_id = ANY($1)', [
    users,
  ]);
  return new Map(rows.map((row) => [row.user_id, row.items]));
}

/** Every shopper's stored list is the one a build from the current committed state gives. */
async function expectListsFresh(users: string[]): Promise<void> {
  const fresh = await computeLists(db.pool, users, NOW, config.recommendations);
  const stored = await storedLists(users);
  for (const user of users) expect(stored.get(user), `stored list of ${user}`).toEqual(fresh.get(user));
}

describe('recommendation builder', () => {
  it('an ingest only queues the shoppers it touched; settle() then stores exactly the lists computeLists gives', async () => {
    const core = makeCore(); // builder not started: nothing builds behind the test's back
    const users = ['one-a', 'one-b', 'one-c'];
    await ingest(core, [
      act('one-a', 'PURCHASE', 'one-p1'),
      act('one-a', 'PURCHASE', 'one-p2'),
      act('one-b', 'ADD_TO_CART', 'one-p2'),
      act('one-b', 'PURCHASE', 'one-p3'),
      act('one-c', 'BROWSE', 'one-p1'),
    ]);
    // The ingest transaction stored no list, only the queue.
    expect((await storedLists(users)).size).toBe(0);
    expect(new Set(await queued(users))).toEqual(new Set(users));

    await core.settleRecommendations();
    expect(await queued(users)).toEqual([]);
    await expectListsFresh(users);
    const lists = await storedLists(users);
    expect(lists.get('one-c')).toContainEqual({ productId: 'one-p2', score: 1.5, reason: 'Often bought with one-p1' });
  });

  it('rows left by a process that never built them, or that died mid-build, are built by a builder started later', async () => {
    const died = makeCore(); // committed its batches, then went away before building
    const users = ['crash-a', 'crash-b', 'crash-idle'];
    await ingest(died, [act('crash-a', 'PURCHASE', 'crash-p1'), act('crash-a', 'PURCHASE', 'crash-p2')]);
    await ingest(died, [act('crash-b', 'BROWSE', 'crash-p1')]);
    // A list gone stale with its row still queued, written by hand.
    await db.pool.query(
      `INSERT INTO recommendation_lists (user_id, items) VALUES ('crash-idle', '[{"productId":"stale","score":1,"reason":"old"}]')`,
    );
    await db.pool.query(`INSERT INTO recommendation_rebuilds (user_id) VALUES ('crash-idle')`);

    // Another builder claimed every row and is stuck: the rows are not built twice meanwhile...
    const stuck = new pg.Client({ connectionString: database.url });
    stuck.on('error', () => {}); // terminated below
    await stuck.connect();
    await stuck.query('BEGIN');
    await stuck.query('SELECT id FROM recommendation_rebuilds FOR UPDATE');
    const later = makeCore();
    await later.startProcessing();
    await later.settleRecommendations();
    expect(new Set(await queued(users))).toEqual(new Set(users));
    expect((await storedLists(users)).get('crash-idle')).toEqual([{ productId: 'stale', score: 1, reason: 'old' }]);

    // ...and when it dies, its claim is rolled back and the running builder picks the rows up by itself.
    const { rows } = await stuck.query('SELECT pg_backend_pid() AS pid');
    await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    await expect.poll(() => queued(), { timeout: 10_000 }).toEqual([]);
    await expectListsFresh(users);
    expect((await storedLists(users)).get('crash-b')).toContainEqual({
      productId: 'crash-p2',
      score: 1.5,
      reason: 'Often bought with crash-p1',
    });
  });

  it('an ingest never waits for a builder; a second builder of the same shopper waits for the first, then stores the newer list', async () => {
    const core = makeCore();
    const published: FeedTopic[] = [];
    const recording: Fanout = {
      publish: (topic) => published.push(topic),
      subscribe: () => () => {},
      close: async () => {},
    };
    const builder = (fanout: Fanout) =>
      createRecommendationBuilder({ pool: db.pool, fanout, clock, settings: config.recommendations, log });
    const [first, second] = [builder(recording), builder(createInProcessFanout())];
    const shopper = 'wait-x';
    await ingest(core, [act('wait-buyer', 'PURCHASE', 'wait-p1'), act('wait-buyer', 'PURCHASE', 'wait-p2')]);
    await ingest(core, [act('wait-buyer', 'PURCHASE', 'wait-p3'), act('wait-buyer', 'PURCHASE', 'wait-p4')]);
    await core.settleRecommendations();
    await ingest(core, [act(shopper, 'BROWSE', 'wait-p1')]);

    // Hold the shopper's build lock, as a builder busy with them would.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    await holder.query(`SELECT pg_advisory_lock(hashtextextended('recommendations:build:' || $1, 0))`, [shopper]);
    const waitingBuilds = async () => {
      const { rows } = await db.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%recommendations:build:%'`,
      );
      return rows[0].n as number;
    };
    try {
      // The first builder claims the queued row and waits for the lock, holding its claim.
      const firstDone = first.settle();
      await expect.poll(waitingBuilds, { timeout: 10_000 }).toBe(1);
      // The shopper acts meanwhile: the ingest is not held up by the build in progress.
      await ingest(core, [act(shopper, 'BROWSE', 'wait-p3')]);
      // The second builder claims the new row (skipping the first's) and waits too.
      const secondDone = second.settle();
      await expect.poll(waitingBuilds, { timeout: 10_000 }).toBe(2);
      await holder.query(`SELECT pg_advisory_unlock_all()`);
      await Promise.all([firstDone, secondDone]);
    } finally {
      await holder.end();
    }
    expect(await queued([shopper])).toEqual([]);
    await expectListsFresh([shopper]);
    const items = (await storedLists([shopper])).get(shopper) as Array<{ productId: string }>;
    expect(items.map((i) => i.productId)).toEqual(expect.arrayContaining(['wait-p2', 'wait-p4']));
    // A changed list is announced after the build's COMMIT.
    expect(published).toContain('recommendations:list');
  });

  it('two builders racing over the same shoppers while ingest goes on leave every stored list equal to a fresh build', async () => {
    const fanout = createInProcessFanout();
    const ingesting = makeCore(fanout); // its own builder is not started
    // Small chunks and a fast poll: many short, interleaved build transactions.
    const builders = [0, 1].map(() =>
      createRecommendationBuilder({
        pool: db.pool,
        fanout,
        clock,
        settings: config.recommendations,
        log,
        chunkSize: 3,
        pollIntervalMs: 5,
      }),
    );
    cleanups.push(async () => {
      await Promise.all(builders.map((b) => b.stop()));
    });
    for (const builder of builders) builder.start();

    // Each shopper has products of their own, and events fall outside the popular window, so a
    // list depends on its shopper's events only: whatever the interleaving, the last build must
    // have read the last of them. Many products per shopper keep nearly every event changing
    // the list (new pairs, a new set of recent products), so a lost build shows.
    const shoppers = Array.from({ length: 8 }, (_, i) => `race-${i}`);
    const random = seeded(42);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
    const types: ActivityType[] = ['BROWSE', 'BROWSE', 'ADD_TO_CART', 'PURCHASE'];
    const longAgo = new Date(NOW.getTime() - 3 * 24 * 3_600_000);
    const batch = () =>
      Array.from({ length: 6 }, () => {
        const shopper = pick(shoppers);
        const at = new Date(longAgo.getTime() + Math.floor(random() * 600) * 60_000);
        return act(shopper, pick(types), `${shopper}-p${Math.floor(random() * 40)}`, at);
      });
    const lanes = Array.from({ length: 4 }, () => Array.from({ length: 12 }, batch));
    await Promise.all(
      lanes.map(async (lane) => {
        for (const events of lane) await ingest(ingesting, events);
      }),
    );

    // Other builders may hold rows a settle() skips: settle until the queue is empty.
    for (let round = 0; (await queued()).length > 0; round++) {
      expect(round).toBeLessThan(100);
      await Promise.all(builders.map((b) => b.settle()));
    }
    await expectListsFresh(shoppers);
    const lists = await storedLists(shoppers);
    expect(lists.size).toBe(shoppers.length);
    expect([...lists.values()].some((items) => (items as unknown[]).length > 0)).toBe(true);
  });
});

describe('computeLists', () => {
  it('asks whether the shopper bought a product only for the products deciding the list, and gives the list checking every candidate gives', async () => {
    const core = makeCore();
    // 120 products, browsed by 40 shoppers so that they are popular (p-own-1 most) and go together.
    const products = Array.from({ length: 120 }, (_, i) => `p-own-${i + 1}`);
    const crowd = Array.from({ length: 40 }, (_, i) => `own-crowd-${i}`);
    const events: ActivityEventInput[] = [];
    crowd.forEach((user, u) => {
      for (let i = 0; i < products.length - u; i++) events.push(act(user, 'BROWSE', products[i] as string));
    });
    // The buyer bought many of the products most likely to be recommended to it, related and
    // popular alike, then looked at a few others.
    const buyer = 'own-buyer';
    for (const product of products.slice(0, 60))
      if (Number(product.slice(6)) % 3 !== 0) events.push(act(buyer, 'PURCHASE', product));
    for (const product of products.slice(0, 4)) events.push(act(buyer, 'BROWSE', product));
    for (let i = 0; i < events.length; i += 500) await ingest(core, events.slice(i, i + 500));

    const asked: number[] = [];
    const counting = {
      query: (text: string, values?: unknown[]) => {
        if (text.includes('WHERE s.purchased')) asked.push((values?.[0] as unknown[] | undefined)?.length ?? 0);
        return db.pool.query(text, values);
      },
    };
    const users = [buyer, crowd[0] as string, 'own-newcomer'];
    const lazily = await computeLists(counting as never, users, NOW, config.recommendations);
    const lazyAsked = asked.splice(0).reduce((a, b) => a + b, 0);
    const everything = await computeLists(counting as never, users, NOW, config.recommendations, { ownedRounds: 1 });
    const allAsked = asked.splice(0).reduce((a, b) => a + b, 0);

    expect(lazily).toEqual(everything);
    const bought = new Set(products.slice(0, 60).filter((p) => Number(p.slice(6)) % 3 !== 0));
    const list = lazily.get(buyer) ?? [];
    expect(list).toHaveLength(50);
    expect(list.filter((item) => bought.has(item.productId))).toEqual([]);
    expect(lazyAsked).toBeLessThan(allAsked);
  });
});

/** A small deterministic PRNG (mulberry32), so that a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
