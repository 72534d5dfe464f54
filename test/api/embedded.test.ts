// The embedded default: with no DATABASE_URL, `npm start` serves on PGlite under DATA_DIR, and
// the data survives a restart. The database is reachable only through an owner-only Unix socket:
// the process listens on no TCP port but its HTTP one (issue 18).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { type ServiceProcess, startProcess } from '../helpers/process.js';
import { HAS_PROC, listeningTcpPorts, listeningUnixSockets } from '../helpers/sockets.js';
import { type Receiver, startReceiver, until } from '../helpers/webhooks.js';

const dataDir = mkdtempSync(join(tmpdir(), 'shopstream-embedded-'));
let service: ServiceProcess | null = null;
let receiver: Receiver | null = null;

afterAll(async () => {
  await closeAllClients();
  await service?.stop();
  await receiver?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('embedded database (no DATABASE_URL)', () => {
  it('ingests, streams and keeps data across a restart', async () => {
    service = await startProcess({ DATA_DIR: dataDir });
    expect(service.output()).toContain('embedded');
    if (HAS_PROC) {
      const pid = service.child.pid as number;
      expect(await listeningTcpPorts(pid)).toEqual([Number(new URL(service.url).port)]);
      expect(await listeningUnixSockets(pid)).toEqual([join(dataDir, '.s.PGSQL.5432')]);
    }
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, '.s.PGSQL.5432')).mode & 0o777).toBe(0o600);
    const wsUrl = service.url.replace('http:', 'ws:');
    const record = (eventId: string) =>
      gql(
        service!.url,
        `mutation { recordActivity(events: [{ eventId: "${eventId}", userId: "emb", type: BROWSE, productId: "1" }]) { accepted } }`,
      );
    expect((await record('emb-1')).data?.recordActivity.accepted).toBe(1);
    const page = await gql(service.url, '{ userActivity(userId: "emb") { pageInfo { endCursor } } }');
    const sub = subscribe<any>(
      wsUrl,
      'subscription ($after: String) { userActivity(userId: "emb", after: $after) { eventId } }',
      {
        after: page.data?.userActivity.pageInfo.endCursor,
      },
    );
    await record('emb-2');
    expect((await sub.take(1))[0].userActivity.eventId).toBe('emb-2');
    await sub.dispose();
    const ready = await fetch(service.url.replace('/graphql', '/ready'));
    expect(ready.status).toBe(200);
    expect(await service.stop()).toBe(0);

    service = await startProcess({ DATA_DIR: dataDir });
    const stored = await gql(service.url, '{ userActivity(userId: "emb") { edges { node { eventId } } } }');
    expect(stored.data?.userActivity.edges.length).toBeGreaterThan(0);
    expect(await service.stop()).toBe(0);
    service = null;
    // Two start-ups of PGlite (the first creates the cluster): slow on a busy machine.
  }, 120_000);

  it('delivers webhooks through pg-boss on its single connection: signed, retried after a 500', async () => {
    const webhookDir = mkdtempSync(join(tmpdir(), 'shopstream-embedded-hooks-'));
    try {
      receiver = await startReceiver((_request, count) => (count === 1 ? 500 : 204));
      service = await startProcess({
        DATA_DIR: webhookDir,
        WEBHOOKS_ALLOW_PRIVATE: 'true',
        WEBHOOK_BACKOFF_BASE_SECONDS: '1',
      });
      const registered = await gql(
        service.url,
        `mutation ($url: String!) { registerWebhookEndpoint(url: $url, kinds: [STOCK_WARNING]) { secret } }`,
        { url: receiver.url },
      );
      const secret = registered.data?.registerWebhookEndpoint.secret as string;
      const recorded = await gql(
        service.url,
        'mutation { recordInventory(events: [{ eventId: "emb-stock", productId: "emb-p", quantity: 2 }]) { accepted } }',
      );
      expect(recorded.errors).toBeUndefined();
      const requests = await receiver.until((rs) => rs.length >= 2);
      for (const request of requests) {
        const payload = new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
        expect(payload).toMatchObject({ data: { productId: 'emb-p', kind: 'LOW_STOCK' } });
      }
      expect(requests[1]?.headers['webhook-id']).toBe(requests[0]?.headers['webhook-id']);
      // The queue polls through the app's one connection and never holds it: the API still answers.
      const delivered = await until(async () => {
        const rows = (await gql(service!.url, '{ webhookDeliveries { status attempts lastStatusCode } }')).data
          ?.webhookDeliveries;
        return rows?.[0]?.status === 'DELIVERED' ? rows : undefined;
      }, 'the delivery to be DELIVERED');
      expect(delivered).toEqual([{ status: 'DELIVERED', attempts: 2, lastStatusCode: 204 }]);
      expect(await service.stop()).toBe(0);
      service = null;
    } finally {
      rmSync(webhookDir, { recursive: true, force: true });
    }
  }, 120_000);
});
