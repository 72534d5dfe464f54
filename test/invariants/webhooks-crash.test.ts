// Webhooks survive the process that sends them: a server killed with SIGKILL mid-delivery leaves
// the delivery in PostgreSQL, and the restarted server sends it again with the same webhook-id
// (the receiver de-duplicates on it). And server processes sharing one database, one of them
// running the inventory processor in its background worker, send each item once between them.
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { gql } from '../helpers/clients.js';
import { createTestDatabase } from '../helpers/database.js';
import { type ServiceProcess, startProcess } from '../helpers/process.js';
import { type Received, type Receiver, startReceiver, until } from '../helpers/webhooks.js';

const REGISTER = `mutation ($url: String!) {
  registerWebhookEndpoint(url: $url, kinds: [STOCK_WARNING]) { secret endpoint { id } }
}`;
const RECORD = `mutation ($events: [InventoryEventInput!]!) { recordInventory(events: $events) { accepted } }`;
const DELIVERIES = `query ($endpointId: ID) { webhookDeliveries(endpointId: $endpointId) { id webhookId status attempts } }`;

const children: ServiceProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(children.map((child) => child.stop('SIGKILL')));
  for (const cleanup of cleanups) await cleanup();
});

async function start(env: Record<string, string>): Promise<ServiceProcess> {
  const child = await startProcess(env);
  children.push(child);
  return child;
}

async function receiver(answer: Receiver['answer']): Promise<Receiver> {
  const r = await startReceiver(answer);
  cleanups.push(() => r.close());
  return r;
}

const idOf = (request: Received) => request.headers['webhook-id'] as string;

describe('webhook deliveries across processes', () => {
  it('are not lost when the server is killed mid-delivery: the restarted one sends it again, same webhook-id', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const env = {
      DATABASE_URL: database.url,
      BACKGROUND_PROCESSORS: 'none',
      WEBHOOKS_ALLOW_PRIVATE: 'true',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_POLL_INTERVAL_MS: '100',
      WEBHOOK_BACKOFF_BASE_SECONDS: '1',
    };
    // The first request is left hanging: the server is mid-delivery when it is killed.
    const hooks = await receiver((_request, count) => (count === 1 ? 'hang' : 200));
    const first = await start(env);
    const registered = (await gql(first.url, REGISTER, { url: hooks.url })).data?.registerWebhookEndpoint;
    const recorded = await gql(first.url, RECORD, { events: [{ eventId: 'e1', productId: 'crash-1', quantity: 2 }] });
    expect(recorded.errors).toBeUndefined();
    await hooks.until((rs) => rs.length >= 1);
    await first.stop('SIGKILL');

    const second = await start(env);
    const requests = await hooks.until((rs) => rs.length >= 2);
    expect(idOf(requests[1] as Received)).toBe(idOf(requests[0] as Received));
    for (const request of requests) {
      const payload = new Webhook(registered.secret).verify(request.body, request.headers as Record<string, string>);
      expect(payload).toMatchObject({ data: { productId: 'crash-1', kind: 'LOW_STOCK' } });
    }
    const delivered = await until(async () => {
      const rows = (await gql(second.url, DELIVERIES, { endpointId: registered.endpoint.id })).data?.webhookDeliveries;
      return rows?.[0]?.status === 'DELIVERED' ? rows : undefined;
    }, 'the delivery to be DELIVERED after the restart');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ webhookId: idOf(requests[0] as Received), attempts: 2 });
    await second.stop();
  });

  it('are sent once between two servers sharing a database, with the processor in a background worker', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const common = { DATABASE_URL: database.url, WEBHOOKS_ALLOW_PRIVATE: 'true', WEBHOOK_POLL_INTERVAL_MS: '100' };
    const hooks = await receiver(() => 200);
    // a: runs the inventory processor in its background worker; b: runs no processor at all.
    const a = await start({ ...common, BACKGROUND_PROCESSORS: 'inventory' });
    const b = await start({ ...common, PROCESSORS: 'none', BACKGROUND_PROCESSORS: 'none' });
    await gql(b.url, REGISTER, { url: hooks.url });
    const products = Array.from({ length: 6 }, (_, i) => `shared-${i}`);
    const recorded = await gql(b.url, RECORD, {
      events: products.map((productId, i) => ({ eventId: `s${i}`, productId, quantity: 1 })),
    });
    expect(recorded.errors).toBeUndefined();
    await hooks.until((rs) => rs.length >= products.length);
    const delivered = await until(async () => {
      const rows = (await gql(a.url, DELIVERIES, {})).data?.webhookDeliveries as Array<{ status: string }>;
      return rows?.length === products.length && rows.every((d) => d.status === 'DELIVERED') ? rows : undefined;
    }, 'every delivery to be DELIVERED');
    expect(delivered).toHaveLength(products.length);
    // Each item once: as many requests as items, each with its own webhook-id.
    expect(new Set(hooks.requests.map(idOf)).size).toBe(products.length);
    expect(hooks.requests).toHaveLength(products.length);
    await Promise.all([a.stop(), b.stop()]);
  });
});
