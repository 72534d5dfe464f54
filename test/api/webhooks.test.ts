// Webhooks end to end: the real server, a real receiver (node:http), real PostgreSQL. Signatures
// are checked with standardwebhooks' own Webhook.verify, as a receiver would.
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInternalAddress } from '../../src/core/webhooks/destination.js';
import { gql } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';
import { type Received, type Receiver, startReceiver, until } from '../helpers/webhooks.js';

const REGISTER = `mutation ($url: String!, $kinds: [WebhookKind!]!, $secret: String) {
  registerWebhookEndpoint(url: $url, kinds: $kinds, secret: $secret) {
    secret endpoint { id url kinds enabled disabledReason consecutiveFailures }
  }
}`;
const ENDPOINTS = '{ webhookEndpoints { id url enabled disabledReason disabledAt consecutiveFailures } }';
const DELIVERIES = `query ($endpointId: ID, $status: WebhookDeliveryStatus, $first: Int, $before: ID) {
  webhookDeliveries(endpointId: $endpointId, status: $status, first: $first, before: $before) {
    id endpointId kind webhookId payload status attempts lastStatusCode lastError deliveredAt
  }
}`;
const SET_ENABLED = `mutation ($id: ID!, $enabled: Boolean!, $reason: String) {
  setWebhookEndpointEnabled(id: $id, enabled: $enabled, reason: $reason) { id enabled disabledReason consecutiveFailures }
}`;
const DELETE = 'mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) }';
const REPLAY = 'mutation ($id: ID!) { replayWebhookDelivery(id: $id) { id status webhookId } }';
const RECORD = `mutation ($events: [InventoryEventInput!]!) { recordInventory(events: $events) { accepted } }`;
const WARNINGS = `query ($ids: [ID!]) { stockWarnings(productIds: $ids) { edges { node { cursor productId kind } } } }`;

type Delivery = {
  id: string;
  endpointId: string;
  kind: string;
  webhookId: string;
  payload: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: string | null;
};

const receivers: Receiver[] = [];
afterAll(async () => {
  await disposeAll();
  for (const receiver of receivers) await receiver.close();
});

async function receiver(answer?: Receiver['answer']): Promise<Receiver> {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
}

let n = 0;
/** A LOW_STOCK warning for `productId` (level 3, default threshold 10), processed when this returns. */
async function lowStock(server: TestServer, productId: string) {
  const result = await gql(server.url, RECORD, { events: [{ eventId: `wh-${++n}`, productId, quantity: 3 }] });
  expect(result.errors).toBeUndefined();
}

async function register(server: TestServer, url: string, secret?: string) {
  const result = await gql(server.url, REGISTER, { url, kinds: ['STOCK_WARNING'], secret });
  expect(result.errors).toBeUndefined();
  return result.data?.registerWebhookEndpoint as { secret: string; endpoint: { id: string; enabled: boolean } };
}

async function deliveries(server: TestServer, variables: Record<string, unknown>): Promise<Delivery[]> {
  const result = await gql(server.url, DELIVERIES, variables);
  expect(result.errors).toBeUndefined();
  return result.data?.webhookDeliveries as Delivery[];
}

const about = (productId: string) => (request: Received) =>
  (JSON.parse(request.body) as { data: { productId: string } }).data.productId === productId;

const headersOf = (request: Received) => request.headers as Record<string, string>;

describe('webhooks', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: {
        WEBHOOKS_ALLOW_PRIVATE: 'true',
        WEBHOOK_TIMEOUT_MS: '1000',
        WEBHOOK_BACKOFF_BASE_SECONDS: '1',
        WEBHOOK_POLL_INTERVAL_MS: '50',
        WEBHOOK_DISABLE_AFTER_FAILURES: '3',
      },
    });
  });

  it('delivers a stock warning signed with the secret, verifiable with standardwebhooks, and logs it', async () => {
    const hooks = await receiver();
    const { secret, endpoint } = await register(server, hooks.url);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(endpoint.enabled).toBe(true);

    await lowStock(server, 'wh-signed');
    const [request] = (await hooks.until((rs) => rs.some(about('wh-signed')))).filter(about('wh-signed'));
    const headers = headersOf(request as Received);
    const payload = new Webhook(secret).verify((request as Received).body, headers) as Record<string, any>;
    const warning = (await gql(server.url, WARNINGS, { ids: ['wh-signed'] })).data?.stockWarnings.edges[0].node;
    expect(payload).toMatchObject({
      type: 'stock.warning',
      data: { productId: 'wh-signed', kind: 'LOW_STOCK', quantity: 3, threshold: 10, cursor: warning.cursor },
    });
    expect(headers['content-type']).toBe('application/json');
    expect(headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}_stock_warning_\d+$/);

    // A tampered body, or another secret, fails verification.
    expect(() => new Webhook(secret).verify((request as Received).body.replace('3', '4'), headers)).toThrow();
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(request?.body ?? '', headers),
    ).toThrow();

    const [logged] = await until(async () => {
      const rows = await deliveries(server, { endpointId: endpoint.id });
      return rows.find((d) => d.status === 'DELIVERED') ? rows : undefined;
    }, 'the delivery to be logged as DELIVERED');
    expect(logged).toMatchObject({
      kind: 'STOCK_WARNING',
      webhookId: headers['webhook-id'],
      attempts: 1,
      lastStatusCode: 200,
      lastError: null,
    });
    expect(JSON.parse(logged?.payload ?? '')).toEqual(payload);
    expect(await gql(server.url, DELETE, { id: endpoint.id })).toMatchObject({ data: { deleteWebhookEndpoint: true } });
  });

  it('retries after 500s with backoff, with the same webhook-id and a fresh signature each time', async () => {
    const hooks = await receiver((_request, count) => (count <= 2 ? 500 : 200));
    const { secret, endpoint } = await register(server, hooks.url);
    await lowStock(server, 'wh-500');
    const requests = await hooks.until((rs) => rs.length >= 3);
    const ids = new Set(requests.map((r) => headersOf(r)['webhook-id']));
    expect(ids.size).toBe(1);
    for (const request of requests)
      expect(() => new Webhook(secret).verify(request.body, headersOf(request))).not.toThrow();

    const delivered = await until(async () => {
      const [d] = await deliveries(server, { endpointId: endpoint.id });
      return d?.status === 'DELIVERED' ? d : undefined;
    }, 'the delivery after two 500s');
    expect(delivered).toMatchObject({ attempts: 3, lastStatusCode: 200, webhookId: [...ids][0] });
    // A success ends the run of failures: the endpoint stays enabled.
    const listed = (await gql(server.url, ENDPOINTS)).data?.webhookEndpoints.find((e: any) => e.id === endpoint.id);
    expect(listed).toMatchObject({ enabled: true, consecutiveFailures: 0 });
    await gql(server.url, DELETE, { id: endpoint.id });
  });

  it('retries after a timeout: a receiver that never answers is tried again', async () => {
    const hooks = await receiver((_request, count) => (count === 1 ? 'hang' : 200));
    const { endpoint } = await register(server, hooks.url);
    await lowStock(server, 'wh-timeout');
    const requests = await hooks.until((rs) => rs.length >= 2);
    expect(headersOf(requests[1] as Received)['webhook-id']).toBe(headersOf(requests[0] as Received)['webhook-id']);
    const delivered = await until(async () => {
      const [d] = await deliveries(server, { endpointId: endpoint.id });
      return d?.status === 'DELIVERED' ? d : undefined;
    }, 'the delivery after a timeout');
    expect(delivered.attempts).toBe(2);
    await gql(server.url, DELETE, { id: endpoint.id });
  });

  it('disables an endpoint that keeps failing, says why, and resumes its deliveries once enabled', async () => {
    const hooks = await receiver(() => 503);
    const { endpoint } = await register(server, hooks.url);
    await lowStock(server, 'wh-down');
    const disabled = await until(async () => {
      const all = (await gql(server.url, ENDPOINTS)).data?.webhookEndpoints as Array<Record<string, any>>;
      const found = all.find((e) => e.id === endpoint.id);
      return found?.enabled === false ? found : undefined;
    }, 'the endpoint to be disabled');
    expect(disabled.disabledReason).toMatch(
      /^3 delivery attempts failed in a row; the last: HTTP 503: receiver says no$/,
    );
    expect(disabled.disabledAt).toEqual(expect.any(String));
    expect(hooks.requests).toHaveLength(3);
    const [pending] = await deliveries(server, { endpointId: endpoint.id });
    expect(pending).toMatchObject({ status: 'PENDING', attempts: 3, lastStatusCode: 503 });

    // Replay is refused while it is disabled; enabling it resumes the pending delivery.
    const refused = await gql(server.url, REPLAY, { id: pending?.id });
    expect(refused.errors?.[0]?.extensions?.code).toBe('WEBHOOK_ENDPOINT_DISABLED');
    hooks.answer = () => 204;
    const enabled = await gql(server.url, SET_ENABLED, { id: endpoint.id, enabled: true });
    expect(enabled.data?.setWebhookEndpointEnabled).toMatchObject({ enabled: true, disabledReason: null });
    await hooks.until((rs) => rs.length >= 4);
    await until(async () => {
      const [d] = await deliveries(server, { endpointId: endpoint.id });
      return d?.status === 'DELIVERED' ? d : undefined;
    }, 'the delivery after the endpoint was enabled');

    // Disabled by an admin: nothing is queued for it.
    const byAdmin = await gql(server.url, SET_ENABLED, { id: endpoint.id, enabled: false, reason: 'maintenance' });
    expect(byAdmin.data?.setWebhookEndpointEnabled).toMatchObject({ enabled: false, disabledReason: 'maintenance' });
    await lowStock(server, 'wh-down-2');
    expect(await deliveries(server, { endpointId: endpoint.id })).toHaveLength(1);
    await gql(server.url, DELETE, { id: endpoint.id });
  });

  it('replays a delivered delivery with the same webhook-id, and pages the log', async () => {
    const hooks = await receiver();
    const { endpoint } = await register(server, hooks.url);
    for (const id of ['wh-page-1', 'wh-page-2', 'wh-page-3']) await lowStock(server, id);
    await hooks.until((rs) => rs.length >= 3);
    const all = await until(async () => {
      const rows = await deliveries(server, { endpointId: endpoint.id, status: 'DELIVERED' });
      return rows.length === 3 ? rows : undefined;
    }, 'three deliveries');
    const page1 = await deliveries(server, { endpointId: endpoint.id, first: 2 });
    const page2 = await deliveries(server, { endpointId: endpoint.id, first: 2, before: page1[1]?.id });
    expect([...page1, ...page2].map((d) => d.id)).toEqual(all.map((d) => d.id));

    const oldest = all[2] as Delivery;
    const replayed = await gql(server.url, REPLAY, { id: oldest.id });
    expect(replayed.data?.replayWebhookDelivery).toMatchObject({ id: oldest.id, status: 'PENDING' });
    const requests = await hooks.until((rs) => rs.length >= 4);
    expect(headersOf(requests[3] as Received)['webhook-id']).toBe(oldest.webhookId);
    await until(async () => {
      const rows = await deliveries(server, { endpointId: endpoint.id, status: 'DELIVERED' });
      return rows.find((d) => d.id === oldest.id && d.attempts === 2);
    }, 'the replay to be delivered');

    const unknown = await gql(server.url, REPLAY, { id: '999999999' });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const malformed = await gql(server.url, DELIVERIES, { before: 'x' });
    expect(malformed.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    await gql(server.url, DELETE, { id: endpoint.id });
  });

  it('refuses bad registrations with a code that says what is wrong', async () => {
    const refusal = async (variables: Record<string, unknown>) =>
      (await gql(server.url, REGISTER, { kinds: ['STOCK_WARNING'], ...variables })).errors?.[0];
    expect(await refusal({ url: 'ftp://example.com/x' })).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
      message: expect.stringContaining('http or https'),
    });
    expect((await refusal({ url: 'not a url' }))?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await refusal({ url: 'http://127.0.0.1/x', kinds: [] }))?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await refusal({ url: 'http://127.0.0.1/x', secret: 'whsec_c2hvcnQ=' })).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
      message: expect.stringContaining('24 to 64'),
    });
    const given = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const registered = await register(server, 'http://127.0.0.1:9/x', given);
    expect(registered.secret).toBe(given);
    await gql(server.url, DELETE, { id: registered.endpoint.id });
    const gone = await gql(server.url, DELETE, { id: registered.endpoint.id });
    expect(gone.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('webhooks to private addresses, refused by default', () => {
  it('refuses loopback and private URLs unless WEBHOOKS_ALLOW_PRIVATE', async () => {
    const server = await startTestServer();
    for (const url of ['http://127.0.0.1:8080/x', 'http://localhost/x', 'https://10.1.2.3/x', 'http://[::1]/x']) {
      const result = await gql(server.url, REGISTER, { url, kinds: ['STOCK_WARNING'] });
      expect(result.errors?.[0]).toMatchObject({
        extensions: { code: 'WEBHOOK_URL_REFUSED' },
        message: expect.stringContaining('WEBHOOKS_ALLOW_PRIVATE'),
      });
    }
    expect((await gql(server.url, ENDPOINTS)).data?.webhookEndpoints).toEqual([]);
  });

  it('knows which addresses are internal', () => {
    for (const address of [
      '127.0.0.1',
      '10.0.0.1',
      '172.20.1.1',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
      '100.64.0.1',
    ]) {
      expect(isInternalAddress(address), address).toBe(true);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) {
      expect(isInternalAddress(address), address).toBe(false);
    }
  });
});

describe('webhooks that fail for a whole retry window', () => {
  it('are kept as FAILED, then delivered by a replay with the same webhook-id', async () => {
    const server = await startTestServer({
      env: {
        WEBHOOKS_ALLOW_PRIVATE: 'true',
        // pg-boss retries after 1-2 s, then 2-4 s: the second attempt is within the window, a third would not be.
        WEBHOOK_BACKOFF_BASE_SECONDS: '1',
        WEBHOOK_RETRY_WINDOW_MS: '2500',
        WEBHOOK_POLL_INTERVAL_MS: '50',
      },
    });
    const hooks = await receiver(() => 500);
    const { endpoint } = await register(server, hooks.url);
    await lowStock(server, 'wh-failed');
    const failed = await until(async () => {
      const [d] = await deliveries(server, { endpointId: endpoint.id, status: 'FAILED' });
      return d;
    }, 'the delivery to fail for good');
    expect(failed.attempts).toBeGreaterThanOrEqual(2);
    expect(failed.attempts).toBe(hooks.requests.length);
    expect(failed.lastError).toBe('HTTP 500: receiver says no');

    hooks.answer = () => 200;
    const replayed = await gql(server.url, REPLAY, { id: failed.id });
    expect(replayed.errors).toBeUndefined();
    const requests = await hooks.until((rs) => rs.length > failed.attempts);
    expect(new Set(requests.map((r) => headersOf(r)['webhook-id']))).toEqual(new Set([failed.webhookId]));
    const delivered = await until(async () => {
      const [d] = await deliveries(server, { endpointId: endpoint.id });
      return d?.status === 'DELIVERED' ? d : undefined;
    }, 'the replayed delivery');
    expect(delivered.attempts).toBe(failed.attempts + 1);
  });
});

describe('a graceful stop mid-delivery', () => {
  it('gives the delivery back, due at once and not counted as a failed attempt', async () => {
    const server = await startTestServer({ env: { WEBHOOKS_ALLOW_PRIVATE: 'true', WEBHOOK_TIMEOUT_MS: '60000' } });
    const hooks = await receiver(() => 'hang');
    await register(server, hooks.url);
    await lowStock(server, 'wh-stop');
    await hooks.until((rs) => rs.length >= 1);
    await server.stop();
    const db = new pg.Client({ connectionString: server.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query(
        'SELECT status, attempts, last_error, next_attempt_at <= now() AS due FROM webhook_deliveries',
      );
      expect(rows).toEqual([{ status: 'PENDING', attempts: 0, last_error: null, due: true }]);
      const { rows: endpoints } = await db.query('SELECT enabled, consecutive_failures FROM webhook_endpoints');
      expect(endpoints).toEqual([{ enabled: true, consecutive_failures: 0 }]);
    } finally {
      await db.end();
    }
  });
});

describe('a receiver that hangs', () => {
  it('holds one sending slot, not the others: deliveries to a healthy endpoint go on meanwhile', async () => {
    const server = await startTestServer({
      env: { WEBHOOKS_ALLOW_PRIVATE: 'true', WEBHOOK_TIMEOUT_MS: '60000', WEBHOOK_CONCURRENCY: '2' },
    });
    const stuck = await receiver((_request, count) => (count === 1 ? 'hang' : 200));
    const healthy = await receiver();
    await register(server, stuck.url);
    await register(server, healthy.url);
    await lowStock(server, 'wh-slot-0');
    await stuck.until((rs) => rs.length >= 1);
    for (const id of ['wh-slot-1', 'wh-slot-2', 'wh-slot-3']) await lowStock(server, id);
    // Well before the stuck request's 60 s timeout, every item reached the healthy receiver.
    const requests = await healthy.until((rs) => rs.length >= 4);
    expect(
      new Set(requests.map((r) => (JSON.parse(r.body) as { data: { productId: string } }).data.productId)),
    ).toEqual(new Set(['wh-slot-0', 'wh-slot-1', 'wh-slot-2', 'wh-slot-3']));
  });
});
