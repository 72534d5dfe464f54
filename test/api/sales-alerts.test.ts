// Sales alerts end to end: activity sent through recordActivity, the alert found by the
// sales-alerts processor, read with the salesAlerts query, followed with the subscription,
// delivered to a webhook endpoint (signature verified as a receiver would), updated by a late
// correction; and the webhook metrics. A shop's first day: each hour is compared with the hours
// before it (the HOURS fallback), with SALES_ALERT_MIN_ORDERS lowered to fit a small test.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, subscribe } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';
import { type ActivityInput, FROM_START, recordActivity } from '../helpers/streams.js';
import { type Receiver, startReceiver } from '../helpers/webhooks.js';

const ALERT_FIELDS = `cursor id kind metric status windowStart windowEnd localStart currency productId expected
  observed score baseline samples version`;
const ALERTS = `query ($first: Int, $after: String, $kinds: [SalesAlertKind!], $from: DateTime, $to: DateTime) {
  salesAlerts(first: $first, after: $after, kinds: $kinds, from: $from, to: $to) {
    edges { cursor node { ${ALERT_FIELDS} } } pageInfo { hasNextPage endCursor }
  }
}`;
const FOLLOW = `subscription ($kinds: [SalesAlertKind!], $after: String) {
  salesAlerts(kinds: $kinds, after: $after) { ${ALERT_FIELDS} }
}`;
const REGISTER = `mutation ($url: String!) {
  registerWebhookEndpoint(url: $url, kinds: [SALES_ALERT]) { secret endpoint { id kinds } }
}`;

type Alert = {
  cursor: string;
  id: string;
  kind: string;
  metric: string;
  status: string;
  windowStart: string;
  currency: string | null;
  expected: string;
  observed: string;
  score: number;
  baseline: string;
  samples: number;
  version: number;
  localStart: string;
};

const DAY = '2026-02-02';
const at = (hour: number, minute: number) =>
  `${DAY}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00Z`;

let server: TestServer;
let receiver: Receiver;
let secret: string;
let n = 0;

/** `count` one-line orders of 10.00 USD in the hour starting at `hour` (UTC). */
function orders(hour: number, count: number, from = 0): ActivityInput[] {
  return Array.from({ length: count }, (_, i) => ({
    eventId: `sa-${++n}`,
    userId: `shopper-${i % 7}`,
    type: 'PURCHASE' as const,
    productId: `p${i % 4}`,
    quantity: 1,
    unitPrice: '10.00',
    currency: 'USD',
    orderId: `order-${hour}-${from + i}`,
    occurredAt: at(hour, (from + i) % 60),
  }));
}

/** A browse: shoppers keep coming, so event time moves on even when nothing sells. */
const browse = (hour: number, minute: number): ActivityInput => ({
  eventId: `sa-${++n}`,
  userId: 'browser',
  type: 'BROWSE',
  productId: 'p1',
  occurredAt: at(hour, minute),
});

beforeAll(async () => {
  server = await startTestServer({
    env: { SALES_ALERT_MIN_ORDERS: '5', SALES_ALERT_LATENESS_MINUTES: '0', WEBHOOKS_ALLOW_PRIVATE: 'true' },
  });
  receiver = await startReceiver();
  const registered = await gql(server.url, REGISTER, { url: receiver.url });
  expect(registered.errors).toBeUndefined();
  secret = registered.data?.registerWebhookEndpoint.secret;
});
afterAll(async () => {
  await disposeAll();
  await receiver?.close();
});

describe('sales alerts', () => {
  it('raises SALES_DROP when an hour sells far less than the hours before it, live, paged and by webhook', async () => {
    const live = subscribe<{ salesAlerts: Alert }>(server.wsUrl, FOLLOW, { kinds: ['SALES_DROP'] });
    // A steady first day: 20 orders an hour from 10:00 to 15:00, then 1 at 16:00; a browse at
    // 17:00 closes the 16:00 hour.
    for (let hour = 10; hour <= 15; hour++) await recordActivity(server.url, orders(hour, 20));
    expect((await recordActivity(server.url, [...orders(16, 1), browse(17, 0)])).accepted).toBe(2);

    const raised = [(await live.next()).data?.salesAlerts, (await live.next()).data?.salesAlerts] as Alert[];
    const byMetric = new Map(raised.map((a) => [a.metric, a]));
    expect(byMetric.get('ORDERS')).toMatchObject({
      kind: 'SALES_DROP',
      status: 'RAISED',
      windowStart: `${DAY}T16:00:00.000Z`,
      localStart: `${DAY}T16:00:00+00:00`,
      currency: 'USD',
      expected: '20',
      observed: '1',
      baseline: 'HOURS',
      samples: 6,
      version: 1,
    });
    expect(byMetric.get('ORDERS')?.score).toBeLessThanOrEqual(-4);
    expect(byMetric.get('REVENUE')).toMatchObject({ expected: '200.00', observed: '10.00', status: 'RAISED' });

    // Paged: one at a time, then nothing more; the steady hours raised nothing.
    const first = await gql(server.url, ALERTS, { first: 1 });
    expect(first.errors).toBeUndefined();
    expect(first.data?.salesAlerts.pageInfo.hasNextPage).toBe(true);
    const second = await gql(server.url, ALERTS, { first: 1, after: first.data?.salesAlerts.pageInfo.endCursor });
    const third = await gql(server.url, ALERTS, { first: 1, after: second.data?.salesAlerts.pageInfo.endCursor });
    expect(third.data?.salesAlerts.edges).toEqual([]);
    const paged = [first, second].map((r) => r.data?.salesAlerts.edges[0].node.metric).sort();
    expect(paged).toEqual(['ORDERS', 'REVENUE']);
    const spikes = await gql(server.url, ALERTS, { kinds: ['SALES_SPIKE'] });
    expect(spikes.data?.salesAlerts.edges).toEqual([]);

    // Delivered to the endpoint, signed: a receiver verifies it with the secret.
    const received = await receiver.until((requests) => requests.length >= 2);
    const verifier = new Webhook(secret);
    for (const request of received.slice(0, 2)) {
      const payload = verifier.verify(request.body, request.headers as Record<string, string>) as {
        type: string;
        data: { kind: string; status: string; version: number; windowStart: string };
      };
      expect(payload.type).toBe('sales.alert');
      expect(payload.data).toMatchObject({ kind: 'SALES_DROP', status: 'RAISED', version: 1 });
      expect(payload.data.windowStart).toBe(`${DAY}T16:00:00.000Z`);
    }

    // The late correction: the orders of 16:00 were held in a queue and arrive now.
    await recordActivity(server.url, orders(16, 19, 1));
    const updates = [(await live.next()).data?.salesAlerts, (await live.next()).data?.salesAlerts] as Alert[];
    for (const update of updates) {
      expect(update).toMatchObject({
        status: 'CLEARED',
        version: 2,
        observed: update.metric === 'ORDERS' ? '20' : '200.00',
      });
      expect(byMetric.get(update.metric)?.id).toBe(update.id);
    }
    const more = await receiver.until((requests) => requests.length >= 4);
    const versions = more.map((r) => (JSON.parse(r.body) as { data: { version: number } }).data.version).sort();
    expect(versions).toEqual([1, 1, 2, 2]);
    // Each version is its own message: a receiver that de-duplicates on webhook-id keeps both.
    expect(new Set(more.map((r) => r.headers['webhook-id'])).size).toBe(4);
    await live.dispose();
  });

  it('resumes the subscription after a cursor with the latest state of each alert changed since', async () => {
    const live = subscribe<{ salesAlerts: Alert }>(server.wsUrl, FOLLOW, {
      after: FROM_START,
    });
    const replayed = [(await live.next()).data?.salesAlerts, (await live.next()).data?.salesAlerts] as Alert[];
    expect(replayed.map((a) => `${a.metric} ${a.status} v${a.version}`).sort()).toEqual([
      'ORDERS CLEARED v2',
      'REVENUE CLEARED v2',
    ]);
    await live.dispose();
  });

  it('refuses bad arguments with a clear error and changes nothing', async () => {
    const zero = await gql(server.url, ALERTS, { first: 0 });
    expect(zero.errors?.[0]?.message).toMatch(/first must be a whole number from 1 to 500, got 0/);
    const backwards = await gql(server.url, ALERTS, { from: '2026-02-03T00:00:00Z', to: '2026-02-02T00:00:00Z' });
    expect(backwards.errors?.[0]?.message).toMatch(/from \(2026-02-03T00:00:00.000Z\) must not be after to/);
    expect(backwards.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('shows webhook attempts by outcome and the delivery queue in /metrics', async () => {
    const text = await (await fetch(`${server.httpBase}/metrics`)).text();
    const delivered = /shopstream_webhook_attempts_total\{outcome="delivered"\} (\d+)/.exec(text);
    expect(Number(delivered?.[1])).toBeGreaterThanOrEqual(4);
    expect(text).toMatch(/shopstream_webhook_deliveries\{status="pending"\} \d+/);
    expect(text).toMatch(/shopstream_webhook_deliveries\{status="failed"\} 0/);
    expect(text).toMatch(/shopstream_webhook_oldest_pending_seconds \d/);
  });
});
