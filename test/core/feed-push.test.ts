// The feed's push mode (issue 14), called directly against real PostgreSQL: the guarantees of the
// pulled stream (replay then live without gap, the bounded queue, RESYNC_REQUIRED at the last
// delivered item) hold when items are pushed to a sink that may ask for no more.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../src/config.js';
import { type ActivityFeedItem, activityFeed } from '../../src/core/activity/feed-source.js';
import { type Core, createCore } from '../../src/core/core.js';
import { createDb, type Db } from '../../src/db/client.js';
import { encodeCursor, START } from '../../src/feed/cursor.js';
import { createInProcessFanout } from '../../src/feed/fanout.js';
import { createFeed, type Feed, type FeedEnd, isPushableFeed } from '../../src/feed/follow.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { until } from '../helpers/webhooks.js';

const QUEUE_LIMIT = 4;
const log = pino({ level: 'silent' });

let database: TestDatabase;
let config: Config;
let db: Db;
let feed: Feed;
let core: Core;
const fanout = createInProcessFanout();

beforeAll(async () => {
  database = await createTestDatabase();
  config = loadConfig({
    DATABASE_URL: database.url,
    LOG_LEVEL: 'silent',
    SUBSCRIBER_QUEUE_LIMIT: String(QUEUE_LIMIT),
    REPLAY_PAGE_SIZE: '3',
    FEED_POLL_INTERVAL_MS: '100',
  });
  db = await createDb(config, log);
  feed = createFeed({ db: db.pool, fanout, log, ...config.feed });
  core = createCore({ db, feed, fanout, clock: { now: () => new Date() }, config, log });
});
afterAll(async () => {
  await core?.drain();
  await feed?.close();
  await fanout.close();
  await db?.close();
  await database?.drop();
});

let n = 0;
async function record(userId: string, productIds: string[]): Promise<void> {
  const events = productIds.map((productId) => ({
    eventId: `push-${++n}`,
    userId,
    type: 'BROWSE' as const,
    productId,
  }));
  const report = await core.ingestActivity(events, 'STORED');
  expect(report).toMatchObject({ accepted: events.length, errors: [] });
}

/** A sink like a socket: `ready` false means over its high-water mark. */
function sink() {
  const state = {
    items: [] as ActivityFeedItem[],
    ended: [] as Array<FeedEnd | null>,
    ready: true,
    deliver(item: object) {
      state.items.push(item as ActivityFeedItem);
      return state.ready;
    },
    end(final: FeedEnd | null) {
      state.ended.push(final);
    },
  };
  return state;
}

const productIds = (items: ActivityFeedItem[]) => items.map((item) => item.productId);
const arrived = (s: ReturnType<typeof sink>, count: number) =>
  until(async () => s.items.length >= count, `${count} items (got ${s.items.length})`, 10_000);

describe('a pushed feed subscription', () => {
  it('replays from its cursor page by page, then goes live, with no gap and no duplicate', async () => {
    await record('replayer', ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    const stream = feed.follow(activityFeed, { filter: { userId: 'replayer' }, after: START });
    expect(isPushableFeed(stream)).toBe(true);
    const s = sink();
    if (!isPushableFeed(stream)) return;
    stream.push(s);
    await arrived(s, 7);
    await record('replayer', ['l0', 'l1']);
    await record('someone-else', ['x']);
    await record('replayer', ['l2']);
    await arrived(s, 10);
    expect(productIds(s.items)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'l0', 'l1', 'l2']);
    await stream.return?.();
    expect(s.ended).toEqual([null]);
  });

  it('queues while its sink asks for no more, and hands the queue over in order on resume', async () => {
    const stream = feed.follow(activityFeed, { filter: { userId: 'paused' }, after: START });
    if (!isPushableFeed(stream)) throw new Error('not pushable');
    const s = sink();
    stream.push(s);
    // The tailer offers a row to every subscriber in one loop: once this one has it, so has `s`.
    const control = feed.follow(activityFeed, { filter: { userId: 'paused' }, after: START });
    if (!isPushableFeed(control)) throw new Error('not pushable');
    const c = sink();
    control.push(c);
    await record('paused', ['p0']);
    await arrived(s, 1);
    s.ready = false;
    await record('paused', ['p1']);
    await arrived(s, 2);
    // Over the mark after p1: p2..p4 wait in the queue (3 ≤ the limit of 4).
    await record('paused', ['p2', 'p3', 'p4']);
    await arrived(c, 5);
    expect(productIds(s.items)).toEqual(['p0', 'p1']);
    s.ready = true;
    stream.resume();
    await arrived(s, 5);
    expect(productIds(s.items)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(s.ended).toEqual([]);
    await stream.return?.();
    await control.return?.();
  });

  it('past its queue limit it ends with RESYNC_REQUIRED at the last item delivered, once its sink takes more', async () => {
    const stream = feed.follow(activityFeed, { filter: { userId: 'stalled' }, after: START });
    if (!isPushableFeed(stream)) throw new Error('not pushable');
    const s = sink();
    stream.push(s);
    await record('stalled', ['s0']);
    await arrived(s, 1);
    s.ready = false;
    await record('stalled', ['s1']);
    await arrived(s, 2);
    await record('stalled', ['s2', 's3', 's4', 's5', 's6', 's7']);
    // It left the tailer when it fell behind; the sink hears of it when it takes more.
    await until(async () => feed.subscriberCount() === 0, 'the subscriber to leave the tailer', 10_000);
    expect(s.ended).toEqual([]);
    s.ready = true;
    stream.resume();
    expect(productIds(s.items)).toEqual(['s0', 's1']);
    expect(s.ended).toHaveLength(1);
    expect(s.ended[0]).toMatchObject({
      code: 'RESYNC_REQUIRED',
      details: { cursor: encodeCursor((s.items.at(-1) as ActivityFeedItem).position) },
    });
    // Resuming from that cursor gives exactly the rest.
    const rest = feed.follow(activityFeed, {
      filter: { userId: 'stalled' },
      after: (s.items.at(-1) as ActivityFeedItem).position,
    });
    if (!isPushableFeed(rest)) throw new Error('not pushable');
    const r = sink();
    rest.push(r);
    await arrived(r, 6);
    expect(productIds(r.items)).toEqual(['s2', 's3', 's4', 's5', 's6', 's7']);
    await rest.return?.();
  });
});

describe('a backlog offered to pushed subscribers', () => {
  it('is offered inside deferred writes, flushed at least every few pages and when the tailer catches up, in order', async () => {
    const calls: string[] = [];
    let inside = false;
    const deferring = createFeed({
      db: db.pool,
      fanout,
      log,
      ...config.feed,
      deferWrites: () => ({
        during(offer) {
          inside = true;
          calls.push('during');
          try {
            offer();
          } finally {
            inside = false;
          }
        },
        flush() {
          calls.push('flush');
        },
      }),
    });
    try {
      // No cursor: live from the tailer's head once it has joined (subscriberCount).
      const stream = deferring.follow(activityFeed, { filter: { userId: 'backlogged' } });
      if (!isPushableFeed(stream)) throw new Error('not pushable');
      const offeredInside: boolean[] = [];
      const s = sink();
      const deliver = s.deliver;
      s.deliver = (item) => {
        offeredInside.push(inside);
        return deliver(item);
      };
      stream.push(s);
      await until(async () => deferring.subscriberCount() === 1, 'the subscriber to go live', 10_000);
      // Ten rows at once: the tailer reads them in pages of 3 (full, full, full, then 1).
      const ids = Array.from({ length: 10 }, (_, i) => `b${i}`);
      await record('backlogged', ids);
      await arrived(s, 10);
      expect(productIds(s.items)).toEqual(ids);
      // Every item of a full page went out inside deferred writes, and the writes were flushed
      // by the time the tailer caught up.
      await until(async () => calls.at(-1) === 'flush', 'the deferred writes to be flushed', 10_000);
      expect(offeredInside.slice(0, 9)).toEqual(Array(9).fill(true));
      expect(calls.filter((c) => c === 'during').length).toBeGreaterThanOrEqual(3);
      expect(calls.indexOf('flush')).toBeGreaterThan(calls.indexOf('during'));
      await stream.return?.();
    } finally {
      await deferring.close();
    }
  });
});
