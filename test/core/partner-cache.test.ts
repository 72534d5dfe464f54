// The partner summaries a recommendations processor keeps in memory between its batches
// (SummaryCache, src/core/recommendations/partners.ts): exact or empty, never stale. Two
// processors of one database that take turns (as two server processes do when ownership moves)
// leave exactly the summaries one processor alone leaves; a rolled-back batch empties the cache.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../src/config.js';
import type { ActivityEventInput } from '../../src/core/activity/types.js';
import { type Core, createCore } from '../../src/core/core.js';
import { type PartnerSummary, SummaryCache } from '../../src/core/recommendations/partners.js';
import { createDb, type Db } from '../../src/db/client.js';
import { createInProcessFanout } from '../../src/feed/fanout.js';
import { createFeed } from '../../src/feed/follow.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const log = pino({ level: 'silent' });
const NOW = new Date('2026-11-25T12:00:00Z');

describe('SummaryCache', () => {
  const summary = (score: number): PartnerSummary => [['p-x', score]];

  it('keeps what a committed batch wrote, for the batch that starts where it ended', () => {
    const cache = new SummaryCache(10);
    cache.openAt('1:1');
    cache.stage('1:1', new Map([['a', summary(1)]]));
    cache.settled({ from: '1:1', to: '1:5', committed: true });
    expect(cache.openAt('1:5').get('a')).toEqual(summary(1));
  });

  it('forgets everything when another owner moved the checkpoint, or the batch rolled back', () => {
    const cache = new SummaryCache(10);
    cache.openAt('1:1');
    cache.stage('1:1', new Map([['a', summary(1)]]));
    cache.settled({ from: '1:1', to: '1:5', committed: true });
    expect(cache.openAt('2:9').get('a')).toBeUndefined();

    cache.stage('2:9', new Map([['b', summary(2)]]));
    cache.settled({ from: '2:9', to: '3:1', committed: true });
    cache.openAt('3:1');
    cache.stage('3:1', new Map([['c', summary(3)]]));
    cache.settled({ from: '3:1', to: '3:4', committed: false });
    expect(cache.openAt('3:1').get('b')).toBeUndefined();
    expect(cache.openAt('3:4').get('c')).toBeUndefined();
  });

  it('moves with a checkpoint that moved without writes, and holds at most its limit', () => {
    const cache = new SummaryCache(2);
    cache.openAt('0:0');
    cache.stage(
      '0:0',
      new Map([
        ['a', summary(1)],
        ['b', summary(2)],
        ['c', summary(3)],
      ]),
    );
    cache.settled({ from: '0:0', to: '1:0', committed: true });
    cache.openAt('1:0');
    cache.settled({ from: '1:0', to: '2:0', committed: true }); // nothing applied, checkpoint moved
    const at = cache.openAt('2:0');
    expect(at.get('a')).toBeUndefined(); // the least recently used went first
    expect(at.get('b')).toEqual(summary(2));
    expect(at.get('c')).toEqual(summary(3));
  });
});

describe('recommendations processors taking turns', () => {
  let config: Config;
  const databases: TestDatabase[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    databases.push(await createTestDatabase(), await createTestDatabase());
  });
  afterAll(async () => {
    while (closers.length > 0) await closers.pop()?.();
    await Promise.all(databases.map((d) => d.drop()));
  });

  async function makeCore(url: string): Promise<Core> {
    config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent', PROCESSORS: 'recommendations' });
    const db: Db = await createDb(config, log);
    const fanout = createInProcessFanout();
    const feed = createFeed({ db: db.pool, fanout, log, ...config.feed });
    const core = createCore({ db, feed, fanout, clock: { now: () => NOW }, config, log });
    closers.push(async () => {
      await core.drain();
      await feed.close();
      await db.close();
    });
    return core;
  }

  const batch = (b: number): ActivityEventInput[] =>
    Array.from({ length: 40 }, (_, i) => ({
      eventId: `turn-${b}-${i}`,
      userId: `u-${(b * 7 + i) % 9}`,
      type: i % 5 === 0 ? 'ADD_TO_CART' : 'BROWSE',
      productId: `p-${(b + i * 3) % 13}`,
      occurredAt: new Date(NOW.getTime() - (40 - i) * 1000 - (10 - b) * 60_000).toISOString(),
    }));

  async function summaries(url: string): Promise<Record<string, string>> {
    const db = await createDb(loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent' }), log);
    try {
      const { rows } = await db.pool.query('SELECT product_id, kind, partners FROM product_partners ORDER BY 1, 2');
      return Object.fromEntries(rows.map((r) => [`${r.product_id}/${r.kind}`, r.partners as string]));
    } finally {
      await db.close();
    }
  }

  it('leave the same summaries as one processor alone', async () => {
    const [shared, alone] = databases as [TestDatabase, TestDatabase];
    const first = await makeCore(shared.url);
    const second = await makeCore(shared.url);
    const only = await makeCore(alone.url);

    // Ownership moves between the two after every batch, and back: each must notice that the
    // other wrote in between and read the summaries again.
    for (let b = 0; b < 8; b++) {
      const turn = b % 3 === 2 ? second : first;
      await turn.ingestActivity(batch(b), 'STORED');
      await turn.settleProcessing();
      await only.ingestActivity(batch(b), 'STORED');
      await only.settleProcessing();
    }
    const together = await summaries(shared.url);
    expect(Object.keys(together).length).toBeGreaterThan(10);
    expect(together).toEqual(await summaries(alone.url));
  });
});
