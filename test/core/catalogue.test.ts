// The catalogue's core: validation and the latest-entry rule (pure), the batch loader, and, with
// the real schema over a real core and database, that a page of 500 items reads the catalogue
// with ONE query (the resolvers' product fields are batched per request).
import { graphql } from 'graphql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Viewer } from '../../src/auth/viewer.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createBatchLoader } from '../../src/core/catalogue/loader.js';
import type { LoggedProductEvent } from '../../src/core/catalogue/log.js';
import { latestPerProduct } from '../../src/core/catalogue/processor.js';
import { validateProductEvent } from '../../src/core/catalogue/validate.js';
import { type Core, createCore } from '../../src/core/core.js';
import { createDb, type Db } from '../../src/db/client.js';
import { createInProcessFanout } from '../../src/feed/fanout.js';
import { createFeed } from '../../src/feed/follow.js';
import { schema } from '../../src/schema/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const now = new Date('2026-11-30T12:00:00Z');
const context = { defaultCurrency: 'EUR', now };

describe('validateProductEvent', () => {
  const base = { eventId: 'e1', productId: 'p1', name: ' Mug ', category: ' Kitchen ' };

  it('trims name and category, and prices in DEFAULT_CURRENCY when no currency is given', () => {
    const result = validateProductEvent({ ...base, listPrice: '9.5' }, 0, context);
    expect(result).toEqual({
      ok: true,
      event: {
        eventId: 'e1',
        productId: 'p1',
        name: 'Mug',
        category: 'Kitchen',
        listPriceMinor: 950n,
        currency: 'EUR',
        occurredAt: now,
        timeDefaulted: true,
      },
    });
  });

  it('names the field and the value that is wrong', () => {
    const code = (input: Record<string, unknown>) => {
      const result = validateProductEvent({ ...base, ...input } as never, 7, context);
      return result.ok ? 'ok' : `${result.rejection.index} ${result.rejection.code}: ${result.rejection.message}`;
    };
    expect(code({ name: '' })).toBe('7 INVALID_NAME: name must be 1 to 200 characters, not only spaces, got ""');
    expect(code({ category: 'x'.repeat(101) })).toMatch(/^7 INVALID_CATEGORY: category must be 1 to 100 characters/);
    expect(code({ listPrice: '100', currency: 'JPY' })).toBe('ok');
    expect(code({ listPrice: '100.5', currency: 'JPY' })).toMatch(/TOO_MANY_DECIMALS: .*"100.5 JPY"/);
    expect(code({ listPrice: '-0.01' })).toMatch(/INVALID_LIST_PRICE: .*, got "-0.01"/);
    expect(code({ listPrice: '1.00', currency: 'XYZ1' })).toMatch(/INVALID_CURRENCY/);
    expect(code({ currency: 'USD' })).toMatch(/CURRENCY_WITHOUT_PRICE/);
    expect(code({ occurredAt: '2026-12-30T00:00:00Z' })).toMatch(/OCCURRED_IN_FUTURE/);
    expect(code({ name: 'Mug\u0000' })).toMatch(/CONTROL_CHARACTER: .*: name "Mug\\u0000" has U\+0000 at offset 3/);
  });
});

describe('latestPerProduct', () => {
  const at = (productId: string, name: string, iso: string, seq: number): LoggedProductEvent => ({
    eventId: name,
    productId,
    name,
    category: 'c',
    listPriceMinor: null,
    currency: null,
    occurredAt: new Date(iso),
    txId: 1n,
    seq: BigInt(seq),
  });

  it('keeps the latest in event time per product; at the same time, the later in the log', () => {
    const latest = latestPerProduct([
      at('a', 'a-new', '2026-11-02T00:00:00Z', 1),
      at('a', 'a-old', '2026-11-01T00:00:00Z', 2),
      at('b', 'b-first', '2026-11-01T00:00:00Z', 3),
      at('b', 'b-second', '2026-11-01T00:00:00Z', 4),
    ]);
    expect(latest.map((e) => e.name)).toEqual(['a-new', 'b-second']);
  });
});

describe('createBatchLoader', () => {
  it('loads every key asked for in one tick with one call, each key once, and gives each caller its value', async () => {
    const calls: string[][] = [];
    const load = createBatchLoader(async (keys: readonly string[]) => {
      calls.push([...keys]);
      return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.toUpperCase()]));
    });
    const keys = Array.from({ length: 500 }, (_, i) => `k${i % 250}`);
    const values = await Promise.all([...keys, 'missing'].map((k) => load(k)));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(251);
    expect(values.slice(0, 500)).toEqual(keys.map((k) => k.toUpperCase()));
    expect(values[500]).toBeNull();
    // Nothing is cached between batches: a later tick asks again.
    await load('k1');
    expect(calls).toHaveLength(2);
  });

  it('a failed load rejects every caller of its batch, and the next batch tries again', async () => {
    let fail = true;
    const load = createBatchLoader(async (keys: readonly string[]) => {
      if (fail) throw new Error('database down');
      return new Map(keys.map((k) => [k, k]));
    });
    const results = await Promise.allSettled([load('a'), load('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    await expect(load('a')).resolves.toBe('a');
  });
});

describe('product fields through the real schema', () => {
  const log = pino({ level: 'silent' });
  let database: TestDatabase;
  let config: Config;
  let db: Db;
  let core: Core;
  let cleanup: () => Promise<void>;
  const admin: Viewer = { role: 'admin', userId: null, credential: 'test', keyId: null, expiresAt: null, open: false };

  beforeAll(async () => {
    database = await createTestDatabase();
    config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
    db = await createDb(config, log);
    const fanout = createInProcessFanout();
    const feed = createFeed({ db: db.pool, fanout, log, ...config.feed });
    core = createCore({ db, feed, fanout, clock: { now: () => new Date() }, config, log });
    cleanup = async () => {
      await core.drain();
      await feed.close();
      await fanout.close();
    };
  });
  afterAll(async () => {
    await cleanup?.();
    await db?.close();
    await database?.drop();
  });

  /** Runs `source` against the real schema with a core whose catalogue reads are counted. */
  const run = async (source: string) => {
    const counts = { productsById: 0, categorySales: 0 };
    const counted: Core = {
      ...core,
      productsById: (ids: readonly string[]) => {
        counts.productsById++;
        return core.productsById(ids);
      },
      categorySales: (windows: Parameters<Core['categorySales']>[0]) => {
        counts.categorySales++;
        return core.categorySales(windows);
      },
    };
    const result = await graphql({
      schema,
      source,
      contextValue: { core: counted, viewer: admin, admitIngest: async () => {} },
    });
    expect(result.errors).toBeUndefined();
    return { data: result.data as Record<string, any>, counts };
  };

  it('a page of 500 stock levels reads the catalogue once, not 500 times', async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `b-${String(i).padStart(3, '0')}`);
    const known = ids.filter((_, i) => i % 2 === 0);
    let report = await core.ingestProducts(
      known.map((p) => ({ eventId: `c-${p}`, productId: p, name: `N ${p}`, category: 'Even' })),
      'STORED',
    );
    expect(report.errors).toEqual([]);
    report = await core.ingestInventory(
      ids.map((p) => ({ eventId: `i-${p}`, productId: p, quantity: 100 })),
      'STORED',
    );
    expect(report.errors).toEqual([]);
    await core.settle();

    const { data, counts } = await run('{ stockLevels(first: 500) { productId product { name category } } }');
    expect(data.stockLevels).toHaveLength(500);
    expect(counts.productsById).toBe(1);
    for (const [i, level] of data.stockLevels.entries()) {
      expect(level.product).toEqual(i % 2 === 0 ? { name: `N ${level.productId}`, category: 'Even' } : null);
    }
  });

  it('the sales windows of one answer read their categories with one query', async () => {
    const purchases = Array.from({ length: 30 }, (_, i) => ({
      eventId: `buy-${i}`,
      userId: 'u',
      type: 'PURCHASE',
      productId: `b-${String(i % 4).padStart(3, '0')}`,
      unitPrice: '1.25',
      occurredAt: new Date(Date.UTC(2026, 10, 20, 0, i * 7)).toISOString(),
    }));
    expect((await core.ingestActivity(purchases as never, 'STORED')).errors).toEqual([]);
    await core.settle();
    const { data, counts } = await run(
      '{ sales(size: MINUTE, from: "2026-11-20T00:00:00Z", to: "2026-11-21T00:00:00Z") { revenue byCategory { category revenue } } }',
    );
    expect(data.sales).toHaveLength(30);
    expect(counts.categorySales).toBe(1);
    // b-000 and b-002 are catalogued (Even); b-001 and b-003 are not.
    expect(data.sales[0].byCategory).toEqual([{ category: 'Even', revenue: '1.25' }]);
    expect(data.sales[1].byCategory).toEqual([{ category: null, revenue: '1.25' }]);
  });
});
