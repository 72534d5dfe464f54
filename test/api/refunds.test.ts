// Refunds and returns through the real server and real PostgreSQL (issue 16): recordRefunds,
// refunds and net revenue in the sales windows of the refund's own event time, restocked units in
// stock levels, warnings and stockMovements, and every way a refund is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, gql } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const REFUNDS = `mutation ($events: [RefundEventInput!]!, $ack: IngestAck) {
  recordRefunds(events: $events, ack: $ack) { accepted duplicates position errors { index eventId code message } }
}`;
const ACTIVITY = `mutation ($events: [ActivityEventInput!]!) {
  recordActivity(events: $events) { accepted errors { code } }
}`;
const INVENTORY = `mutation ($events: [InventoryEventInput!]!) {
  recordInventory(events: $events) { accepted errors { code } }
}`;
const SALES = `query ($size: SalesWindowSize!, $from: DateTime!, $to: DateTime!, $currency: String) {
  sales(size: $size, from: $from, to: $to, currency: $currency) {
    start currency revenue orders units refunds refundUnits refundAmount netRevenue revision
  }
}`;
const LEVELS = `query ($ids: [ID!]) { stockLevels(productIds: $ids) { productId quantity } }`;
const WARNINGS = `query ($ids: [ID!]) {
  stockWarnings(productIds: $ids, first: 500) { edges { node { kind quantity } } pageInfo { hasNextPage } }
}`;
const MOVEMENTS = `query ($productId: ID!) {
  stockMovements(productId: $productId, first: 500) { edges { node { kind amount level eventId } } }
}`;
const DEAD_LETTERS = `query { deadLetters(stream: refunds, first: 500) { stream eventId code message } }`;

type Report = {
  accepted: number;
  duplicates: number;
  position: string | null;
  errors: Array<{ index: number; eventId: string | null; code: string; message: string }>;
};
type Window = {
  start: string;
  currency: string;
  revenue: string;
  orders: number;
  units: number;
  refunds: number;
  refundUnits: number;
  refundAmount: string;
  netRevenue: string;
  revision: number;
};

let server: TestServer;
let n = 0;
const id = (prefix: string) => `${prefix}-${++n}`;

beforeAll(async () => {
  server = await startTestServer({ env: { DB_POOL_SIZE: '10' } });
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

async function refunds(events: unknown[], url = server.url): Promise<Report> {
  const response = await gql(url, REFUNDS, { events });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data?.recordRefunds as Report;
}

async function activity(events: unknown[]): Promise<void> {
  const response = await gql(server.url, ACTIVITY, { events });
  expect(response.errors).toBeUndefined();
  expect(response.data?.recordActivity.errors).toEqual([]);
}

async function inventory(events: unknown[]): Promise<void> {
  const response = await gql(server.url, INVENTORY, { events });
  expect(response.errors).toBeUndefined();
  expect(response.data?.recordInventory.errors).toEqual([]);
}

function purchase(
  orderId: string,
  productId: string,
  quantity: number,
  unitPrice: string,
  occurredAt: string,
  currency = 'USD',
) {
  return {
    eventId: id('buy'),
    userId: 'shopper',
    type: 'PURCHASE',
    orderId,
    productId,
    quantity,
    unitPrice,
    currency,
    occurredAt,
  };
}

function refund(
  orderId: string,
  productId: string,
  quantity: number,
  amount: string,
  occurredAt: string,
  extra: Record<string, unknown> = {},
) {
  return {
    eventId: id('refund'),
    orderId,
    productId,
    quantity,
    amount,
    restock: false,
    currency: 'USD',
    occurredAt,
    ...extra,
  };
}

async function sales(size: string, from: string, to: string, currency = 'USD'): Promise<Window[]> {
  const response = await gql(server.url, SALES, { size, from, to, currency });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data?.sales as Window[];
}

const money = (w: Window) => ({
  start: w.start,
  revenue: w.revenue,
  units: w.units,
  refunds: w.refunds,
  refundUnits: w.refundUnits,
  refundAmount: w.refundAmount,
  netRevenue: w.netRevenue,
});

async function levelOf(productId: string): Promise<number | undefined> {
  const response = await gql(server.url, LEVELS, { ids: [productId] });
  expect(response.errors).toBeUndefined();
  const levels = (response.data?.stockLevels ?? []) as Array<{ quantity: number }>;
  return levels[0]?.quantity;
}

/** The product's warnings once the feed has settled (a row is held back while an older transaction is open). */
async function warningsOf(productId: string): Promise<Array<[string, number]>> {
  const deadline = Date.now() + 10_000;
  let response = await gql(server.url, WARNINGS, { ids: [productId] });
  while (response.data?.stockWarnings.pageInfo.hasNextPage && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    response = await gql(server.url, WARNINGS, { ids: [productId] });
  }
  expect(response.errors).toBeUndefined();
  return response.data?.stockWarnings.edges.map((e: { node: { kind: string; quantity: number } }) => [
    e.node.kind,
    e.node.quantity,
  ]);
}

async function movementsOf(productId: string): Promise<Array<[string, number, number | null]>> {
  const response = await gql(server.url, MOVEMENTS, { productId });
  expect(response.errors).toBeUndefined();
  return response.data?.stockMovements.edges.map(
    (e: { node: { kind: string; amount: number; level: number | null } }) => [e.node.kind, e.node.amount, e.node.level],
  );
}

describe('recordRefunds', () => {
  it('a partial refund counts in its window: refunds, refundUnits, refundAmount and netRevenue; sales columns unchanged', async () => {
    await activity([purchase('o-partial', 'p-partial', 3, '10.00', '2021-01-04T10:00:05Z')]);
    const report = await refunds([refund('o-partial', 'p-partial', 1, '7.50', '2021-01-04T10:00:30Z')]);
    expect(report).toMatchObject({ accepted: 1, duplicates: 0, errors: [] });
    expect(report.position).not.toBeNull();
    const [minute] = await sales('MINUTE', '2021-01-04T10:00:00Z', '2021-01-04T10:01:00Z');
    expect(money(minute as Window)).toEqual({
      start: '2021-01-04T10:00:00.000Z',
      revenue: '30.00',
      units: 3,
      refunds: 1,
      refundUnits: 1,
      refundAmount: '7.50',
      netRevenue: '22.50',
    });
    expect(minute?.orders).toBe(1);
    // Not restocked: the stock of the product is untouched (it was never counted).
    expect(await levelOf('p-partial')).toBeUndefined();
  });

  it('a full refund with restock puts the units back: OUT -> LOW_STOCK -> RESTOCKED, and RETURN movements', async () => {
    await inventory([{ eventId: id('count'), productId: 'p-back', quantity: 11, occurredAt: '2021-02-01T09:00:00Z' }]);
    await activity([purchase('o-back', 'p-back', 11, '2.00', '2021-02-01T10:00:00Z')]);
    expect(await levelOf('p-back')).toBe(0);
    // Out -> low is a crossing of its own (the product is buyable again, and low).
    const first = await refunds([refund('o-back', 'p-back', 5, '10.00', '2021-02-01T11:00:00Z', { restock: true })]);
    expect(first.errors).toEqual([]);
    expect(await levelOf('p-back')).toBe(5);
    const rest = await refunds([refund('o-back', 'p-back', 6, '12.00', '2021-02-01T12:00:00Z', { restock: true })]);
    expect(rest.errors).toEqual([]);
    expect(await levelOf('p-back')).toBe(11);
    expect(await warningsOf('p-back')).toEqual([
      ['OUT_OF_STOCK', 0],
      ['LOW_STOCK', 5],
      ['RESTOCKED', 11],
    ]);
    expect(await movementsOf('p-back')).toEqual([
      ['COUNT', 11, 11],
      ['PURCHASE', -11, 0],
      ['RETURN', 5, 5],
      ['RETURN', 6, 11],
    ]);
    const [day] = await sales('DAY', '2021-02-01T00:00:00Z', '2021-02-02T00:00:00Z');
    expect(day).toMatchObject({
      revenue: '22.00',
      refunds: 2,
      refundUnits: 11,
      refundAmount: '22.00',
      netRevenue: '0.00',
    });
  });

  it('a restock older than the latest count is already in that count', async () => {
    await inventory([
      { eventId: id('count'), productId: 'p-counted', quantity: 20, occurredAt: '2021-02-02T09:00:00Z' },
    ]);
    await activity([purchase('o-counted', 'p-counted', 2, '1.00', '2021-02-02T10:00:00Z')]);
    await inventory([
      { eventId: id('count'), productId: 'p-counted', quantity: 30, occurredAt: '2021-02-02T12:00:00Z' },
    ]);
    // Returned at 11:00, recorded after the 12:00 count: the count already saw those units.
    const report = await refunds([
      refund('o-counted', 'p-counted', 2, '2.00', '2021-02-02T11:00:00Z', { restock: true }),
    ]);
    expect(report.errors).toEqual([]);
    expect(await levelOf('p-counted')).toBe(30);
    expect(await movementsOf('p-counted')).toEqual([
      ['COUNT', 20, 20],
      ['PURCHASE', -2, 18],
      ['RETURN', 2, 20],
      ['COUNT', 30, 30],
    ]);
    expect(await warningsOf('p-counted')).toEqual([]);
  });
});

describe('refused refunds change nothing', () => {
  it('an over-refund is rejected, within a batch and over two batches, in units and in money, and dead-lettered', async () => {
    await activity([purchase('o-over', 'p-over', 2, '5.00', '2021-03-01T10:00:00Z')]);
    const first = await refunds([refund('o-over', 'p-over', 1, '5.00', '2021-03-01T11:00:00Z', { eventId: 'over-1' })]);
    expect(first).toMatchObject({ accepted: 1, errors: [] });

    // Over two batches: 1 unit refunded before, 2 more asked.
    const units = await refunds([refund('o-over', 'p-over', 2, '5.00', '2021-03-01T11:00:00Z', { eventId: 'over-2' })]);
    expect(units.accepted).toBe(0);
    expect(units.errors).toEqual([
      {
        index: 0,
        eventId: 'over-2',
        code: 'REFUND_EXCEEDS_SALE',
        message: expect.stringContaining(
          'order "o-over", product "p-over" sold 2 units for 10.00 USD; refunded before: 1 units, 5.00 USD; this refund: 2 units, 5.00 USD',
        ),
      },
    ]);
    // In money: 5.00 left, 5.01 asked (with no unit at all).
    const cents = await refunds([refund('o-over', 'p-over', 0, '5.01', '2021-03-01T11:00:00Z', { eventId: 'over-3' })]);
    expect(cents.errors.map((e) => e.code)).toEqual(['REFUND_EXCEEDS_SALE']);

    // Within one batch: the first fits, the second is checked with the first counted.
    const batch = await refunds([
      refund('o-over', 'p-over', 1, '5.00', '2021-03-01T11:00:00Z', { eventId: 'over-4' }),
      refund('o-over', 'p-over', 1, '0.01', '2021-03-01T11:00:00Z', { eventId: 'over-5' }),
    ]);
    expect(batch.accepted).toBe(1);
    expect(batch.errors.map((e) => [e.index, e.eventId, e.code])).toEqual([[1, 'over-5', 'REFUND_EXCEEDS_SALE']]);

    const [day] = await sales('DAY', '2021-03-01T00:00:00Z', '2021-03-02T00:00:00Z');
    expect(money(day as Window)).toMatchObject({
      refunds: 2,
      refundUnits: 2,
      refundAmount: '10.00',
      netRevenue: '0.00',
    });

    const letters = (await gql(server.url, DEAD_LETTERS)).data?.deadLetters as Array<Record<string, string>>;
    const over = letters.filter((l) => String(l.eventId).startsWith('over-'));
    expect(over.map((l) => [l.eventId, l.code, l.stream]).sort()).toEqual([
      ['over-2', 'REFUND_EXCEEDS_SALE', 'refunds'],
      ['over-3', 'REFUND_EXCEEDS_SALE', 'refunds'],
      ['over-5', 'REFUND_EXCEEDS_SALE', 'refunds'],
    ]);
  });

  it('concurrent batches on two servers never refund a line beyond what was sold', async () => {
    const second = await startTestServer({ databaseUrl: server.databaseUrl });
    await activity([purchase('o-race', 'p-race', 3, '4.00', '2021-03-02T10:00:00Z')]);
    const reports = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        refunds([refund('o-race', 'p-race', 1, '4.00', '2021-03-02T11:00:00Z')], i % 2 === 0 ? server.url : second.url),
      ),
    );
    expect(reports.reduce((sum, r) => sum + r.accepted, 0)).toBe(3);
    const refused = reports.flatMap((r) => r.errors.map((e) => e.code));
    expect(refused).toEqual(Array(9).fill('REFUND_EXCEEDS_SALE'));
    const [day] = await sales('DAY', '2021-03-02T00:00:00Z', '2021-03-03T00:00:00Z');
    expect(money(day as Window)).toMatchObject({
      refunds: 3,
      refundUnits: 3,
      refundAmount: '12.00',
      netRevenue: '0.00',
    });
  });

  it('bad input gets a clear per-item error; the valid refunds of the batch are stored', async () => {
    await activity([purchase('o-bad', 'p-bad', 2, '3.00', '2021-03-03T10:00:00Z')]);
    const at = '2021-03-03T11:00:00Z';
    const report = await refunds([
      refund('o-bad', 'p-bad', -1, '3.00', at),
      refund('o-bad', 'p-bad', 1, '3.00', at, { currency: 'EUR' }),
      refund('o-unknown', 'p-bad', 1, '3.00', at),
      refund('o-bad', 'p-other', 1, '3.00', at),
      refund('o-bad', 'p-bad', 1, '3.001', at),
      refund('o-bad', 'p-bad', 1, '-3.00', at),
      refund('o-bad', 'p-bad', 0, '0', at),
      refund('o-bad', 'p-bad', 1, '3.00', at, { eventId: 'bad-ok' }),
    ]);
    expect(report.accepted).toBe(1);
    expect(report.errors.map((e) => [e.index, e.code])).toEqual([
      [0, 'INVALID_REFUND_QUANTITY'],
      [1, 'CURRENCY_MISMATCH'],
      [2, 'UNKNOWN_ORDER_LINE'],
      [3, 'UNKNOWN_ORDER_LINE'],
      [4, 'INVALID_AMOUNT'],
      [5, 'INVALID_AMOUNT'],
      [6, 'EMPTY_REFUND'],
    ]);
    const byIndex = new Map(report.errors.map((e) => [e.index, e.message]));
    expect(byIndex.get(0)).toContain('got -1');
    expect(byIndex.get(1)).toContain('order "o-bad", product "p-bad" was sold in USD, this refund is in EUR');
    expect(byIndex.get(2)).toContain('no purchase of order "o-unknown", product "p-bad" is stored');
    expect(byIndex.get(4)).toContain('"3.001" has more decimals than USD allows');

    // The same eventId again: the same content is a duplicate, other content a conflict.
    const again = await refunds([
      refund('o-bad', 'p-bad', 1, '3.00', at, { eventId: 'bad-ok' }),
      refund('o-bad', 'p-bad', 1, '2.00', at, { eventId: 'bad-ok' }),
    ]);
    expect(again.accepted).toBe(0);
    expect(again.duplicates).toBe(1);
    expect(again.errors.map((e) => [e.index, e.code])).toEqual([[1, 'EVENT_ID_CONFLICT']]);
    const conflict = await refunds([refund('o-bad', 'p-bad', 1, '1.00', at, { eventId: 'bad-ok' })]);
    expect(conflict.errors.map((e) => [e.index, e.code, e.message])).toEqual([
      [0, 'EVENT_ID_CONFLICT', expect.stringContaining('of the log')],
    ]);
    // A resent refund is not checked again: it is already counted (the line has 1 unit left).
    const resent = await refunds([refund('o-bad', 'p-bad', 1, '3.00', at, { eventId: 'bad-ok' })]);
    expect(resent).toMatchObject({ accepted: 0, duplicates: 1, errors: [] });

    const [day] = await sales('DAY', '2021-03-03T00:00:00Z', '2021-03-04T00:00:00Z');
    expect(money(day as Window)).toMatchObject({
      refunds: 1,
      refundUnits: 1,
      refundAmount: '3.00',
      netRevenue: '3.00',
    });
  });

  it('a refund sent before its purchase is stored is rejected, and accepted when sent again after it', async () => {
    const early = refund('o-early', 'p-early', 1, '2.00', '2021-03-04T11:00:00Z', { eventId: 'early-1' });
    const first = await refunds([early]);
    expect(first.errors.map((e) => e.code)).toEqual(['UNKNOWN_ORDER_LINE']);
    await activity([purchase('o-early', 'p-early', 1, '2.00', '2021-03-04T10:00:00Z')]);
    // The rejection stored nothing, so the same eventId is new and the refund fits now.
    expect(await refunds([early])).toMatchObject({ accepted: 1, duplicates: 0, errors: [] });
    const [day] = await sales('DAY', '2021-03-04T00:00:00Z', '2021-03-05T00:00:00Z');
    expect(money(day as Window)).toMatchObject({ refunds: 1, refundAmount: '2.00', netRevenue: '0.00' });
  });

  it('GraphQL refuses a refund without its required fields as a whole', async () => {
    const response = await gql(server.url, REFUNDS, {
      events: [{ eventId: id('refund'), orderId: 'o', productId: 'p', quantity: 1, amount: 3 }],
    });
    expect(response.errors?.[0]?.message).toMatch(/Money must be a decimal string|restock/);
  });
});

describe('refunds in event time', () => {
  it('a late refund lands in the window of its own occurredAt, which is published again with a higher revision', async () => {
    await activity([purchase('o-late', 'p-late', 4, '25.00', '2021-04-01T10:00:00Z')]);
    await refunds([refund('o-late', 'p-late', 1, '25.00', '2021-04-03T09:00:00Z')]);
    await activity([purchase('o-late-2', 'p-late', 1, '1.00', '2021-04-02T15:00:00Z')]);
    // Recorded last, it happened on April 2nd: that day's window is corrected, the purchase's day is not.
    await refunds([refund('o-late', 'p-late', 2, '50.00', '2021-04-02T16:00:00Z')]);
    const days = await sales('DAY', '2021-04-01T00:00:00Z', '2021-04-04T00:00:00Z');
    expect(
      days.map((d) => [d.start.slice(0, 10), d.revenue, d.refunds, d.refundAmount, d.netRevenue, d.revision]),
    ).toEqual([
      ['2021-04-01', '100.00', 0, '0.00', '100.00', 1],
      ['2021-04-02', '1.00', 1, '50.00', '-49.00', 2],
      ['2021-04-03', '0.00', 1, '25.00', '-25.00', 1],
    ]);
  });

  it('net revenue per MINUTE, HOUR and DAY', async () => {
    await activity([
      purchase('o-net', 'p-net', 2, '10.00', '2021-05-01T10:00:10Z'),
      purchase('o-net', 'p-net-2', 1, '99.99', '2021-05-01T10:30:00Z'),
      purchase('o-net-jpy', 'p-net', 3, '1500', '2021-05-01T10:00:20Z', 'JPY'),
    ]);
    await refunds([
      refund('o-net', 'p-net', 1, '10.00', '2021-05-01T10:00:50Z'),
      refund('o-net', 'p-net-2', 0, '9.99', '2021-05-01T11:15:00Z'),
      refund('o-net-jpy', 'p-net', 1, '1500', '2021-05-01T10:00:30Z', { currency: 'JPY' }),
    ]);
    const minutes = await sales('MINUTE', '2021-05-01T10:00:00Z', '2021-05-01T12:00:00Z');
    expect(minutes.map((w) => [w.start.slice(11, 16), w.revenue, w.refundAmount, w.netRevenue])).toEqual([
      ['10:00', '20.00', '10.00', '10.00'],
      ['10:30', '99.99', '0.00', '99.99'],
      ['11:15', '0.00', '9.99', '-9.99'],
    ]);
    const hours = await sales('HOUR', '2021-05-01T10:00:00Z', '2021-05-01T12:00:00Z');
    expect(
      hours.map((w) => [w.start.slice(11, 13), w.revenue, w.refunds, w.refundUnits, w.refundAmount, w.netRevenue]),
    ).toEqual([
      ['10', '119.99', 1, 1, '10.00', '109.99'],
      ['11', '0.00', 1, 0, '9.99', '-9.99'],
    ]);
    const [usd] = await sales('DAY', '2021-05-01T00:00:00Z', '2021-05-02T00:00:00Z');
    expect(money(usd as Window)).toMatchObject({
      revenue: '119.99',
      refunds: 2,
      refundAmount: '19.99',
      netRevenue: '100.00',
    });
    const [jpy] = await sales('DAY', '2021-05-01T00:00:00Z', '2021-05-02T00:00:00Z', 'JPY');
    expect(money(jpy as Window)).toMatchObject({ revenue: '4500', refundAmount: '1500', netRevenue: '3000' });
  });
});
