// Sales windows, funnel and topProducts through the real server and real PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SalesWindow as CoreWindow } from '../../src/core/sales/types.js';
import { closeAllClients, gql, subscribe, untilLive } from '../helpers/clients.js';
import { startProcess } from '../helpers/process.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const RECORD = `mutation ($events: [ActivityEventInput!]!) {
  recordActivity(events: $events) { accepted duplicates errors { index code } }
}`;
const WINDOW_FIELDS = 'cursor size start end currency revenue orders units revision';
const SALES = `query ($size: SalesWindowSize!, $from: DateTime!, $to: DateTime!, $currency: String) {
  sales(size: $size, from: $from, to: $to, currency: $currency) { ${WINDOW_FIELDS} }
}`;
const UPDATES = `subscription ($size: SalesWindowSize!, $currency: String, $after: String) {
  salesUpdates(size: $size, currency: $currency, after: $after) { ${WINDOW_FIELDS} }
}`;

type Window = {
  cursor: string;
  size: string;
  start: string;
  end: string;
  currency: string;
  revenue: string;
  orders: number;
  units: number;
  revision: number;
};

let server: TestServer;
let n = 0;
const id = (prefix: string) => `${prefix}-${++n}`;

async function record(events: unknown[], url = server.url) {
  const response = await gql(url, RECORD, { events });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data?.recordActivity as { accepted: number; duplicates: number; errors: unknown[] };
}

function purchase(occurredAt: string, unitPrice: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { eventId: id('e'), userId: 'buyer', type: 'PURCHASE', productId: 'p', unitPrice, occurredAt, ...extra };
}

async function sales(size: string, from: string, to: string, currency?: string): Promise<Window[]> {
  const response = await gql(server.url, SALES, { size, from, to, currency });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data?.sales as Window[];
}

const brief = (w: Window) => ({
  start: w.start,
  currency: w.currency,
  revenue: w.revenue,
  orders: w.orders,
  units: w.units,
  revision: w.revision,
});

// Twelve concurrent batches on two servers, or a whole suite running beside another on a busy
// 2-core machine, can keep an ack PROCESSED waiting past its 10 s default: that is load, not a
// stuck processor, so these servers wait longer (and the tests that may wait that long say so).
const PATIENT = { PROCESSED_ACK_TIMEOUT_MS: '60000' };
const PATIENT_TEST = { timeout: 120_000 };

beforeAll(async () => {
  server = await startTestServer({ env: PATIENT });
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

describe('sales windows', () => {
  it('the seed scenario gives DAY windows with revenue "1000.00", "1500.00" and "1200.00"', async () => {
    await record([
      purchase('2021-09-01T09:00:00Z', '400.00', { quantity: 2 }),
      purchase('2021-09-01T23:59:59.999Z', '200.00'),
      purchase('2021-09-02T00:00:00Z', '1499.99'),
      purchase('2021-09-02T18:00:00+02:00', '0.01'),
      purchase('2021-09-03T12:00:00Z', '1200'),
    ]);
    const days = await sales('DAY', '2021-09-01T00:00:00Z', '2021-09-04T00:00:00Z', 'USD');
    expect(days.map((d) => [d.start, d.end, d.revenue, d.units, d.orders, d.revision])).toEqual([
      ['2021-09-01T00:00:00.000Z', '2021-09-02T00:00:00.000Z', '1000.00', 3, 2, 1],
      ['2021-09-02T00:00:00.000Z', '2021-09-03T00:00:00.000Z', '1500.00', 2, 2, 1],
      ['2021-09-03T00:00:00.000Z', '2021-09-04T00:00:00.000Z', '1200.00', 1, 1, 1],
    ]);
    // The same purchases in HOUR windows: empty hours are left out, the range is half-open.
    const hours = await sales('HOUR', '2021-09-01T09:00:00Z', '2021-09-02T16:00:00Z', 'USD');
    expect(hours.map((h) => [h.start, h.revenue])).toEqual([
      ['2021-09-01T09:00:00.000Z', '800.00'],
      ['2021-09-01T23:00:00.000Z', '200.00'],
      ['2021-09-02T00:00:00.000Z', '1499.99'],
    ]);
  });

  it('keeps currencies apart and formats each with its own decimals', async () => {
    const minute = '2021-09-05T10:20:00Z';
    await record([
      purchase(minute, '10.50', { currency: 'EUR' }),
      purchase(minute, '1500', { currency: 'JPY', quantity: 3 }),
      purchase(minute, '0.125', { currency: 'KWD' }),
      purchase(minute, '1.00', { currency: 'eur' }),
    ]);
    const all = await sales('MINUTE', minute, '2021-09-05T10:21:00Z');
    expect(all.map((w) => [w.currency, w.revenue, w.units, w.orders])).toEqual([
      ['EUR', '11.50', 2, 2],
      ['JPY', '4500', 3, 1],
      ['KWD', '0.125', 1, 1],
    ]);
    expect((await sales('MINUTE', minute, '2021-09-05T10:21:00Z', 'jpy')).map((w) => w.revenue)).toEqual(['4500']);
  });

  it('counts one order per distinct orderId, also across batches, and each purchase without an orderId as its own', async () => {
    const at = '2021-09-06T08:00:00Z';
    await record([
      purchase(at, '1.00', { currency: 'GBP', orderId: 'order-1' }),
      purchase(at, '2.00', { currency: 'GBP', orderId: 'order-1' }),
      purchase(at, '3.00', { currency: 'GBP' }),
    ]);
    await record([
      purchase('2021-09-06T08:00:30Z', '4.00', { currency: 'GBP', orderId: 'order-1' }),
      purchase(at, '5.00', { currency: 'GBP', orderId: 'order-2' }),
      purchase(at, '6.00', { currency: 'GBP' }),
    ]);
    for (const size of ['MINUTE', 'HOUR', 'DAY']) {
      const [window] = await sales(size, '2021-09-06T00:00:00Z', '2021-09-07T00:00:00Z', 'GBP');
      expect([size, window?.revenue, window?.orders, window?.units, window?.revision]).toEqual([
        size,
        '21.00',
        4,
        6,
        2,
      ]);
    }
  });

  it('a repeated batch is reported as duplicates and counts nothing twice', async () => {
    const batch = [
      purchase('2021-09-07T08:00:00Z', '7.00', { currency: 'CHF', orderId: 'order-dup' }),
      purchase('2021-09-07T08:00:00Z', '3.00', { currency: 'CHF' }),
    ];
    expect(await record(batch)).toMatchObject({ accepted: 2, duplicates: 0 });
    const before = await sales('DAY', '2021-09-07T00:00:00Z', '2021-09-08T00:00:00Z', 'CHF');
    expect(await record(batch)).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(await record([batch[0], batch[0]])).toMatchObject({ accepted: 0, duplicates: 2 });
    const after = await sales('DAY', '2021-09-07T00:00:00Z', '2021-09-08T00:00:00Z', 'CHF');
    expect(after.map(brief)).toEqual(before.map(brief));
    expect(after.map((w) => [w.revenue, w.orders, w.units, w.revision])).toEqual([['10.00', 2, 2, 1]]);
  });

  it('rejects a purchase without a price or with too many decimals and changes no window', async () => {
    const report = await record([
      {
        eventId: id('e'),
        userId: 'u',
        type: 'PURCHASE',
        productId: 'p',
        currency: 'SEK',
        occurredAt: '2021-09-08T00:00:00Z',
      },
      purchase('2021-09-08T00:00:00Z', '19.999', { currency: 'SEK' }),
      purchase('2021-09-08T00:00:00Z', '1.5', { currency: 'JPY' }),
    ]);
    expect(report).toMatchObject({
      accepted: 0,
      errors: [
        { index: 0, code: 'MISSING_PRICE' },
        { index: 1, code: 'TOO_MANY_DECIMALS' },
        { index: 2, code: 'TOO_MANY_DECIMALS' },
      ],
    });
    expect(await sales('DAY', '2021-09-08T00:00:00Z', '2021-09-09T00:00:00Z')).toEqual([]);
  });

  it('refuses an inverted range, a range of too many windows and an unknown currency with BAD_USER_INPUT', async () => {
    const codes = await Promise.all(
      [
        { size: 'DAY', from: '2021-09-02T00:00:00Z', to: '2021-09-01T00:00:00Z' },
        { size: 'MINUTE', from: '2021-01-01T00:00:00Z', to: '2021-09-01T00:00:00Z' },
        { size: 'DAY', from: '2021-09-01T00:00:00Z', to: '2021-09-02T00:00:00Z', currency: 'DOLLARS' },
      ].map(async (variables) => (await gql(server.url, SALES, variables)).errors?.[0]?.extensions?.code),
    );
    expect(codes).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT', 'BAD_USER_INPUT']);
  });

  it(
    'concurrent batches from several connections and two server processes on the same windows never lose an amount',
    PATIENT_TEST,
    async () => {
      const second = await startTestServer({ databaseUrl: server.databaseUrl, env: PATIENT });
      const at = (i: number) => `2021-09-10T12:00:${String(i % 60).padStart(2, '0')}Z`;
      // 12 batches of 25 purchases in the same MINUTE/HOUR/DAY windows, with orderIds shared
      // between batches and every third batch repeating events of the batch before it.
      const batches = Array.from({ length: 12 }, (_, b) =>
        Array.from({ length: 25 }, (_, i) =>
          purchase(at(i), `${(b % 5) + 1}.${String(i).padStart(2, '0')}`, {
            currency: 'AUD',
            quantity: 1 + (i % 3),
            orderId: i % 2 === 0 ? `aud-order-${i % 10}` : null,
          }),
        ),
      );
      for (let b = 3; b < batches.length; b += 3) batches[b]?.splice(0, 5, ...(batches[b - 1]?.slice(0, 5) ?? []));
      const reports = await Promise.all(
        batches.map((events, b) => record(events, b % 2 === 0 ? server.url : second.url)),
      );
      const unique = new Map(batches.flat().map((e) => [e.eventId as string, e]));
      expect(reports.reduce((sum, r) => sum + r.accepted, 0)).toBe(unique.size);

      let cents = 0n;
      let units = 0;
      let loose = 0;
      for (const e of unique.values()) {
        const quantity = e.quantity as number;
        cents += BigInt((e.unitPrice as string).replace('.', '')) * BigInt(quantity);
        units += quantity;
        if (e.orderId === null) loose++;
      }
      const expected = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
      // One revision per processor batch that changed the window: concurrent ingests may be
      // applied together, so at least one and at most one per ingest batch.
      for (const size of ['MINUTE', 'HOUR', 'DAY']) {
        const [window] = await sales(size, '2021-09-10T00:00:00Z', '2021-09-11T00:00:00Z', 'AUD');
        expect([size, window?.revenue, window?.units, window?.orders]).toEqual([
          size,
          expected,
          units,
          loose + 5, // aud-order-0, -2, -4, -6, -8
        ]);
        expect(window?.revision).toBeGreaterThanOrEqual(1);
        expect(window?.revision).toBeLessThanOrEqual(batches.length);
      }
    },
  );
});

describe('salesUpdates subscription', () => {
  it('publishes each window as it changes, and a late event again as a correction with a higher revision', async () => {
    const sub = subscribe<{ salesUpdates: Window }>(server.wsUrl, UPDATES, { size: 'DAY', currency: 'NZD' });
    // Markers go to 2019-12-31 (the last) or to days in 2020, so they never touch the days below.
    await untilLive(
      sub,
      (marker) => {
        const day =
          marker === 'marker-last'
            ? '2019-12-31'
            : `2020-01-${String(Number(marker.split('-')[1]) + 1).padStart(2, '0')}`;
        return record([purchase(`${day}T00:00:00Z`, '1.00', { currency: 'NZD' })]);
      },
      (data) => (data.salesUpdates.start.startsWith('2019-12-31') ? 'marker-last' : 'other'),
    );

    // Each change is awaited before the next: a subscriber that is behind would rightly get
    // only the latest state of a window (conflation, tested below).
    const next = async (events: unknown[]) => {
      await record(events);
      return (await sub.take(1))[0]?.salesUpdates;
    };
    const old = await next([purchase('2021-09-12T10:00:00Z', '10.00', { currency: 'NZD' })]);
    const now = new Date().toISOString();
    const today = await next([purchase(now, '2.00', { currency: 'NZD' })]);
    // Late: 2021-09-12 was published already; this corrects it.
    const corrected = await next([purchase('2021-09-12T23:00:00Z', '5.00', { currency: 'NZD', quantity: 2 })]);
    expect(
      [old, today, corrected].map((w) => w && [w.start.slice(0, 10), w.revenue, w.orders, w.units, w.revision]),
    ).toEqual([
      ['2021-09-12', '10.00', 1, 1, 1],
      [now.slice(0, 10), '2.00', 1, 1, 1],
      ['2021-09-12', '20.00', 2, 3, 2],
    ]);
    expect(corrected?.cursor).not.toBe(old?.cursor);

    // A subscriber resuming after the first state gets the latest state of each window changed since.
    const resumed = subscribe<{ salesUpdates: Window }>(server.wsUrl, UPDATES, {
      size: 'DAY',
      currency: 'NZD',
      after: old?.cursor,
    });
    const replayed = (await resumed.take(2)).map((d) => d.salesUpdates);
    expect(replayed.map((w) => [w.start.slice(0, 10), w.revenue, w.revision])).toEqual([
      [now.slice(0, 10), '2.00', 1],
      ['2021-09-12', '20.00', 2],
    ]);
    expect(sub.pending()).toBe(0);
    await Promise.all([sub.dispose(), resumed.dispose()]);
  });

  it('a slow subscriber gets the latest state of each window, not a backlog (conflation)', async () => {
    const filter = { size: 'MINUTE' as const, currency: 'CAD' };
    // Two subscribers of one feed in one process. The tailer offers each row to both in one go,
    // so once the probe has an item, the slow one (not read meanwhile) has it queued too.
    const slow = server.core.followSales(filter);
    const probe = server.core.followSales(filter);
    const next = async (sub: typeof probe) => (await sub.next()).value as CoreWindow;
    const marker = '2021-09-20T00:00:00.000Z';
    const touchMarker = async () => {
      await record([purchase(marker, '1.00', { currency: 'CAD' })]);
      const [window] = await sales('MINUTE', marker, '2021-09-20T00:01:00Z', 'CAD');
      return window?.revision as number;
    };
    // Both start "from now" together; send markers until the probe receives one.
    const first = next(probe);
    let received = false;
    void first.then(() => {
      received = true;
    });
    for (let attempt = 0; !received; attempt++) {
      if (attempt === 100) throw new Error('the subscriptions never went live');
      await touchMarker();
      await Promise.race([first, new Promise((resolve) => setTimeout(resolve, 100))]);
    }

    for (let i = 0; i < 5; i++) await record([purchase('2021-09-20T10:00:00Z', '1.00', { currency: 'CAD' })]);
    const last = await touchMarker();
    const untilMarker = async (sub: typeof probe) => {
      const seen: CoreWindow[] = [];
      for (;;) {
        const window = await next(sub);
        seen.push(window);
        if (window.start.toISOString() === marker && window.revision === last) return seen;
      }
    };
    // The probe: after it has the last marker, the slow one's queue holds everything before it.
    await untilMarker(probe);

    const conflated = await untilMarker(slow);
    expect(conflated.map((w) => [w.start.toISOString(), w.revision, w.revenueMinor])).toEqual([
      ['2021-09-20T10:00:00.000Z', 5, 500n],
      [marker, last, BigInt(last) * 100n],
    ]);
    await Promise.all([slow.return?.(), probe.return?.()]);
  });
});

describe('funnel and topProducts', () => {
  const FUNNEL = `query ($from: DateTime, $to: DateTime) {
    funnel(from: $from, to: $to) { from to browsers carters purchasers conversionRate }
  }`;
  const TOP = `query ($by: ProductMetric!, $from: DateTime, $to: DateTime, $limit: Int, $currency: String) {
    topProducts(by: $by, from: $from, to: $to, limit: $limit, currency: $currency) { productId metric value }
  }`;
  const from = '2022-01-10T00:00:00Z';
  const to = '2022-01-11T00:00:00Z';
  const event = (userId: string, type: string, productId: string, extra: Record<string, unknown> = {}) => ({
    eventId: id('f'),
    userId,
    type,
    productId,
    occurredAt: '2022-01-10T12:00:00Z',
    ...extra,
  });

  beforeAll(async () => {
    await record([
      event('ann', 'BROWSE', 'shoe'),
      event('ann', 'ADD_TO_CART', 'shoe'),
      event('ann', 'PURCHASE', 'shoe', { unitPrice: '50.00', quantity: 2 }),
      event('bob', 'BROWSE', 'shoe'),
      event('bob', 'BROWSE', 'hat'),
      event('bob', 'ADD_TO_CART', 'hat'),
      event('bob', 'REMOVE_FROM_CART', 'hat'),
      event('cat', 'BROWSE', 'hat'),
      event('dan', 'BROWSE', 'sock'),
      event('dan', 'BROWSE', 'sock', { occurredAt: '2022-01-10T23:59:59.999Z' }),
      // Bought without browsing in the range: a purchaser, not a browser.
      event('eve', 'PURCHASE', 'sock', { unitPrice: '3.00', quantity: 5 }),
      event('eve', 'PURCHASE', 'hat', { unitPrice: '20.00', currency: 'EUR', quantity: 4 }),
      // Outside [from, to): counted by neither.
      event('fay', 'BROWSE', 'scarf', { occurredAt: to }),
      event('fay', 'PURCHASE', 'scarf', { unitPrice: '999.00', occurredAt: '2022-01-09T23:59:59.999Z' }),
    ]);
  });

  it('funnel is a funnel: browsers, then those of them who carted, then those of these who bought, in [from, to)', async () => {
    const response = await gql(server.url, FUNNEL, { from, to });
    // eve bought without browsing: not a purchaser of the funnel. Each step is at most the one before.
    expect(response.data?.funnel).toEqual({
      from: '2022-01-10T00:00:00.000Z',
      to: '2022-01-11T00:00:00.000Z',
      browsers: 4,
      carters: 2,
      purchasers: 1,
      conversionRate: 0.25,
    });
  });

  it('funnel reports a conversion rate of 0 when nobody browsed', async () => {
    const response = await gql(server.url, FUNNEL, { from: '1999-01-01T00:00:00Z', to: '1999-01-02T00:00:00Z' });
    expect(response.data?.funnel).toMatchObject({ browsers: 0, carters: 0, purchasers: 0, conversionRate: 0 });
  });

  it('topProducts ranks by browses, carts, units bought and revenue (per currency), highest first, ties by productId', async () => {
    const top = async (variables: Record<string, unknown>) => {
      const response = await gql(server.url, TOP, { from, to, ...variables });
      if (response.errors) throw new Error(JSON.stringify(response.errors));
      return ((response.data?.topProducts ?? []) as Array<{ productId: string; metric: string; value: string }>).map(
        (s) => `${s.productId}:${s.value}`,
      );
    };
    expect(await top({ by: 'BROWSES' })).toEqual(['hat:2', 'shoe:2', 'sock:2']);
    expect(await top({ by: 'BROWSES', limit: 1 })).toEqual(['hat:2']);
    expect(await top({ by: 'CARTS' })).toEqual(['hat:1', 'shoe:1']);
    expect(await top({ by: 'PURCHASES' })).toEqual(['sock:5', 'hat:4', 'shoe:2']);
    expect(await top({ by: 'REVENUE' })).toEqual(['shoe:100.00', 'sock:15.00']);
    expect(await top({ by: 'REVENUE', currency: 'eur' })).toEqual(['hat:80.00']);
    const metric = await gql(server.url, TOP, { by: 'REVENUE', from, to, limit: 1 });
    expect(metric.data?.topProducts).toEqual([{ productId: 'shoe', metric: 'REVENUE', value: '100.00' }]);
  });

  it('topProducts refuses a limit outside 1-100 and an unknown currency with BAD_USER_INPUT', async () => {
    for (const variables of [{ limit: 0 }, { limit: 101 }, { currency: 'XX' }]) {
      const response = await gql(server.url, TOP, { by: 'REVENUE', ...variables });
      expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
  });
});

describe('sales on the embedded database (PGlite)', () => {
  it('counts purchases into windows and answers sales, funnel and topProducts', PATIENT_TEST, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'shopstream-sales-embedded-'));
    const service = await startProcess({ DATA_DIR: dataDir, ...PATIENT }, { timeoutMs: 60_000 });
    try {
      const recorded = await gql(service.url, RECORD, {
        events: [
          purchase('2021-09-01T10:00:00Z', '600.00', { orderId: 'emb-order' }),
          purchase('2021-09-01T11:00:00Z', '400.00', { orderId: 'emb-order' }),
        ],
      });
      expect(recorded.data?.recordActivity).toMatchObject({ accepted: 2 });
      const late = await gql(service.url, RECORD, { events: [purchase('2021-09-01T12:00:00Z', '0.01')] });
      expect(late.data?.recordActivity).toMatchObject({ accepted: 1 });
      const days = await gql(service.url, SALES, {
        size: 'DAY',
        from: '2021-09-01T00:00:00Z',
        to: '2021-09-02T00:00:00Z',
      });
      expect(days.data?.sales.map((w: Window) => [w.revenue, w.orders, w.units, w.revision])).toEqual([
        ['1000.01', 2, 3, 2],
      ]);
      const summary = await gql(service.url, '{ funnel { purchasers } topProducts(by: REVENUE) { productId value } }');
      // A purchase without a browse before it is no step of the funnel.
      expect(summary.data).toEqual({ funnel: { purchasers: 0 }, topProducts: [{ productId: 'p', value: '1000.01' }] });
    } finally {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
