import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_OPERATION_NAMES, OTHER_LABEL } from '../../src/http/metrics.js';
import { closeAllClients, gql, subscribe, untilLive } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';
import { recordActivity } from '../helpers/streams.js';

const RECORD_INVENTORY = `mutation ($e: [InventoryEventInput!]!) {
  recordInventory(events: $e) { accepted duplicates errors { index code } }
}`;
const FOLLOW = `subscription { userActivity { eventId } }`;

let server: TestServer;
let n = 0;
const id = (prefix: string) => `${prefix}-${++n}`;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

async function scrape(): Promise<string> {
  const response = await fetch(`${server.httpBase}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
}

/** The value of one series (0 when absent): `name{a="x",b="y"} 3`. */
function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return 0;
}

/** Scrapes until `check` holds: a gauge follows an unsubscribe asynchronously. */
async function scrapeUntil(check: (text: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await scrape();
    if (check(text)) return text;
    if (Date.now() > deadline) throw new Error(`/metrics never showed ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const browse = (eventId: string) => ({ eventId, userId: 'metrics-shopper', type: 'BROWSE' as const, productId: 'p1' });

describe('/metrics', () => {
  it('counts ingested events per stream and outcome: accepted, duplicate and rejected', async () => {
    const before = await scrape();
    const first = id('a');
    await recordActivity(server.url, [browse(first), browse(id('a'))]);
    const report = await recordActivity(server.url, [
      browse(first), // duplicate
      { ...browse(id('a')), quantity: 0 }, // rejected: INVALID_QUANTITY
      browse(id('a')),
    ]);
    expect(report).toMatchObject({ accepted: 1, duplicates: 1 });
    const inventory = await gql(server.url, RECORD_INVENTORY, {
      e: [
        { eventId: id('i'), productId: 'p1', quantity: 40 },
        { eventId: id('i'), productId: 'p1', quantity: 1, delta: 1 }, // rejected: both
      ],
    });
    expect(inventory.data?.recordInventory).toMatchObject({ accepted: 1, duplicates: 0 });

    const after = await scrape();
    const moved = (stream: string, outcome: string) =>
      seriesValue(after, 'shopstream_ingested_events_total', { stream, outcome }) -
      seriesValue(before, 'shopstream_ingested_events_total', { stream, outcome });
    expect(moved('activity', 'accepted')).toBe(3);
    expect(moved('activity', 'duplicate')).toBe(1);
    expect(moved('activity', 'rejected')).toBe(1);
    expect(moved('inventory', 'accepted')).toBe(1);
    expect(moved('inventory', 'rejected')).toBe(1);
  });

  it('shows open subscriptions per stream, items delivered and the commit-to-publish latency', async () => {
    const sub = subscribe<{ userActivity: { eventId: string } }>(server.wsUrl, FOLLOW);
    await untilLive(
      sub,
      (marker) => recordActivity(server.url, [browse(`${marker}-${id('m')}`)]),
      (data) => data.userActivity.eventId.replace(/-m-\d+$/, ''),
    );
    const before = await scrape();
    expect(seriesValue(before, 'shopstream_active_subscriptions', { stream: 'activity' })).toBe(1);
    expect(seriesValue(before, 'shopstream_active_subscriptions', { stream: 'inventory' })).toBe(0);

    await recordActivity(server.url, [browse(id('live')), browse(id('live'))]);
    await sub.take(2);
    const after = await scrapeUntil(
      (text) =>
        seriesValue(text, 'shopstream_commit_to_publish_seconds_count', { stream: 'activity' }) >
        seriesValue(before, 'shopstream_commit_to_publish_seconds_count', { stream: 'activity' }),
      'a commit-to-publish observation',
    );
    expect(
      seriesValue(after, 'shopstream_feed_items_delivered_total', { stream: 'activity' }) -
        seriesValue(before, 'shopstream_feed_items_delivered_total', { stream: 'activity' }),
    ).toBe(2);
    expect(seriesValue(after, 'shopstream_commit_to_publish_seconds_bucket', { stream: 'activity', le: '+Inf' })).toBe(
      seriesValue(after, 'shopstream_commit_to_publish_seconds_count', { stream: 'activity' }),
    );

    await sub.dispose();
    await scrapeUntil(
      (text) => seriesValue(text, 'shopstream_active_subscriptions', { stream: 'activity' }) === 0,
      'the subscription closed',
    );
  });

  it("names Node's process metrics once: shopstream_process_*, shopstream_nodejs_*", async () => {
    const text = await scrape();
    expect(text).toMatch(/^shopstream_process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^shopstream_process_resident_memory_bytes \d/m);
    expect(text).toMatch(/^shopstream_nodejs_eventloop_lag_seconds \d/m);
    expect(text).not.toMatch(/process_process|process_nodejs/);
  });

  it('shows database pool use, collected on scrape', async () => {
    const text = await scrape();
    expect(seriesValue(text, 'shopstream_db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^shopstream_db_pool_connections\{state="idle"\} \d+$/m);
    expect(text).toMatch(/^shopstream_db_pool_waiting \d+$/m);
  });

  it('counts GraphQL operations by type and name (Yoga Prometheus plugin, on this server registry)', async () => {
    const labels = { operationType: 'query', operationName: 'MetricsProbe' };
    const before = seriesValue(await scrape(), 'shopstream_graphql_operations_total', labels);
    for (let i = 0; i < 3; i++) {
      const result = await gql(server.url, 'query MetricsProbe { funnel { browsers } }');
      expect(result.errors).toBeUndefined();
    }
    const after = seriesValue(await scrape(), 'shopstream_graphql_operations_total', labels);
    expect(after - before).toBe(3);
  });

  it('keeps at most MAX_OPERATION_NAMES operationName values and counts every later name as "other"', async () => {
    const names = Array.from({ length: MAX_OPERATION_NAMES + 20 }, (_, i) => `Flood${i}`);
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(names.slice(i, i + 20).map((name) => gql(server.url, `query ${name} { __typename }`)));
    }
    const text = await scrape();
    const series = [...text.matchAll(/^shopstream_graphql_operations_total\{([^}]*)\}/gm)];
    const distinct = new Set(series.map((m) => /operationName="([^"]*)"/.exec(m[1] as string)?.[1]));
    expect(distinct.size).toBeLessThanOrEqual(MAX_OPERATION_NAMES + 1);
    expect(
      seriesValue(text, 'shopstream_graphql_operations_total', { operationType: 'query', operationName: OTHER_LABEL }),
    ).toBeGreaterThanOrEqual(20);
    // A name already counted keeps its own series.
    expect(
      seriesValue(text, 'shopstream_graphql_operations_total', {
        operationType: 'query',
        operationName: 'MetricsProbe',
      }),
    ).toBeGreaterThanOrEqual(3);
  });
});

describe('processor lag', () => {
  it('is shown in /ready, /metrics and the processors query, and falls to 0 once a process that runs the processors catches up', async () => {
    // An ingest-only process (PROCESSORS=none): the log grows, nothing applies it.
    const ingestOnly = await startTestServer({ env: { PROCESSORS: 'none' } });
    const STORED = `mutation ($e: [InventoryEventInput!]!) { recordInventory(events: $e, ack: STORED) { accepted position } }`;
    const stored = await gql(ingestOnly.url, STORED, {
      e: [
        { eventId: id('lag'), productId: 'lag-p', quantity: 5 },
        { eventId: id('lag'), productId: 'lag-p', delta: 2 },
      ],
    });
    expect(stored.data?.recordInventory).toMatchObject({ accepted: 2, position: expect.any(String) });

    const ready = async (url: string) => (await fetch(url.replace('/graphql', '/ready'))).json();
    const inventoryLag = (body: { processors: Array<{ processor: string; log: string; events: number }> }) =>
      body.processors.find((p) => p.processor === 'inventory' && p.log === 'inventory');
    await expect.poll(async () => inventoryLag(await ready(ingestOnly.url))?.events, { timeout: 10_000 }).toBe(2);
    const metrics = await (await fetch(`${ingestOnly.httpBase}/metrics`)).text();
    expect(seriesValue(metrics, 'shopstream_processor_lag_events', { processor: 'inventory', log: 'inventory' })).toBe(
      2,
    );
    expect(
      seriesValue(metrics, 'shopstream_processor_lag_seconds', { processor: 'inventory', log: 'inventory' }),
    ).toBeGreaterThanOrEqual(0);
    const query = await gql(ingestOnly.url, '{ processors { processor log events seconds } }');
    expect(query.data?.processors).toContainEqual(
      expect.objectContaining({ processor: 'inventory', log: 'inventory', events: 2 }),
    );

    // A second process on the same database runs the processors: it takes the work over.
    const worker = await startTestServer({ databaseUrl: ingestOnly.databaseUrl });
    await expect
      .poll(async () => (await ready(worker.url)).processors.every((p: { events: number }) => p.events === 0), {
        timeout: 15_000,
      })
      .toBe(true);
    const levels = await gql(worker.url, '{ stockLevels(productIds: ["lag-p"]) { quantity } }');
    expect(levels.data?.stockLevels).toEqual([{ quantity: 7 }]);
  });
});
