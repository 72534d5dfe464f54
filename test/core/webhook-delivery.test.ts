// Webhook delivery below the API: the destination is resolved once and the connection goes to
// the address that was checked (DNS rebinding), delivered rows are pruned past the retention in
// bounded batches, and the queue reads as /metrics shows it. Real sockets, a real receiver, real
// PostgreSQL; only the name resolution is the test's own (a resolver is a parameter).
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { readWebhookQueue } from '../../src/core/webhooks/admin.js';
import { pinDestination, type Resolve } from '../../src/core/webhooks/destination.js';
import { sendWebhook } from '../../src/core/webhooks/send.js';
import { createWebhookWorker, PRUNE_BATCH } from '../../src/core/webhooks/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type Receiver, startReceiver } from '../helpers/webhooks.js';

let receiver: Receiver;
let database: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  receiver = await startReceiver();
  database = await createTestDatabase();
  pool = new pg.Pool({ connectionString: database.url, max: 2 });
});
afterAll(async () => {
  await receiver?.close();
  await pool?.end();
  await database?.drop();
});

/** A resolver that answers from a list, one answer per call, and counts the calls. */
function answering(...answers: string[][]): Resolve & { calls: number } {
  const resolve = Object.assign(
    async (_host: string) => {
      const answer = answers[Math.min(resolve.calls, answers.length - 1)] as string[];
      resolve.calls++;
      return answer;
    },
    { calls: 0 },
  );
  return resolve;
}

const post = (url: string, resolve: Resolve, allowPrivate: boolean) =>
  sendWebhook(url, {
    headers: { 'content-type': 'application/json' },
    body: '{"type":"test"}',
    signal: AbortSignal.timeout(5000),
    allowPrivate,
    errorTextLimit: 500,
    resolve,
  });

describe('the destination of an attempt', () => {
  it('refuses a name any of whose addresses is internal, and an internal address literal', async () => {
    const url = new URL('https://hooks.example/x');
    await expect(pinDestination(url, { allowPrivate: false, resolve: answering(['10.1.2.3']) })).rejects.toThrow(
      'url points to hooks.example (10.1.2.3), a loopback or private address',
    );
    await expect(
      pinDestination(url, { allowPrivate: false, resolve: answering(['93.184.215.14', '169.254.169.254']) }),
    ).rejects.toThrow(/169\.254\.169\.254/);
    await expect(pinDestination(new URL('http://[::1]:8080/'), { allowPrivate: false })).rejects.toThrow(
      /url points to ::1/,
    );
    expect(await pinDestination(url, { allowPrivate: false, resolve: answering(['93.184.215.14']) })).toEqual({
      address: '93.184.215.14',
      family: 4,
    });
  });

  it('connects to the address it checked, once resolved, with the Host of the name', async () => {
    const port = new URL(receiver.url).port;
    // A name no real resolver knows: the request can only have gone where our resolver said.
    // The second answer (a rebinding) is never asked for.
    const resolve = answering(['127.0.0.1'], ['10.9.9.9']);
    const result = await post(`http://receiver.shopstream.invalid:${port}/hooks`, resolve, true);
    expect(result.status).toBe(200);
    expect(resolve.calls).toBe(1);
    const last = receiver.requests.at(-1);
    expect(last?.headers.host).toBe(`receiver.shopstream.invalid:${port}`);
    expect(last?.body).toBe('{"type":"test"}');
  });

  it('sends nothing to a name that resolves to an internal address at the attempt (rebinding)', async () => {
    const port = new URL(receiver.url).port;
    const before = receiver.requests.length;
    // Public when registered; loopback when the attempt resolves it.
    const resolve = answering(['127.0.0.1']);
    await expect(post(`http://rebound.shopstream.invalid:${port}/hooks`, resolve, false)).rejects.toThrow(
      /loopback or private address/,
    );
    expect(receiver.requests.length).toBe(before);
  });

  it('reads at most the error text limit of a failed answer', async () => {
    const failing = await startReceiver(() => 500);
    try {
      const result = await post(failing.url, answering(['127.0.0.1']), true);
      expect(result).toEqual({ status: 500, text: 'receiver says no' });
    } finally {
      await failing.close();
    }
  });
});

describe('retention of delivered deliveries', () => {
  it('deletes delivered rows older than the retention in bounded batches, and keeps the rest', async () => {
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO webhook_endpoints (url, kinds, secret) VALUES ('https://a.example/', ARRAY['SALES_ALERT'], 'whsec_x')
       RETURNING id::text`,
    );
    const endpoint = rows[0]?.id;
    const old = PRUNE_BATCH * 2 + 500;
    await pool.query(
      `INSERT INTO webhook_deliveries (endpoint_id, kind, item_key, webhook_id, payload, status, delivered_at,
                                       next_attempt_at, created_at)
       SELECT $1::uuid, 'SALES_ALERT', 'k' || g, 'msg_' || g, '{}'::jsonb, s.status,
              CASE WHEN s.status = 'DELIVERED' THEN s.at END,
              CASE WHEN s.status = 'PENDING' THEN now() + interval '1 hour' END, s.at
         FROM generate_series(1, $2::int) g,
              LATERAL (SELECT 'DELIVERED' AS status, now() - interval '3 hours' AS at) s
       UNION ALL
       SELECT $1::uuid, 'SALES_ALERT', 'keep-' || s.status, 'msg_keep_' || s.status, '{}'::jsonb, s.status,
              CASE WHEN s.status = 'DELIVERED' THEN now() - interval '30 minutes' END,
              CASE WHEN s.status = 'PENDING' THEN now() + interval '1 hour' END, now() - interval '5 hours'
         FROM (VALUES ('DELIVERED'), ('FAILED'), ('PENDING')) AS s(status)`,
      [endpoint, old],
    );
    const settings = { ...loadConfig({}).webhooks, retentionHours: 1 };
    const worker = createWebhookWorker({ pool, settings, log: pino({ level: 'silent' }) });
    expect(await worker.prune()).toBe(old);
    const left = await pool.query<{ item_key: string }>('SELECT item_key FROM webhook_deliveries ORDER BY item_key');
    expect(left.rows.map((r) => r.item_key)).toEqual(['keep-DELIVERED', 'keep-FAILED', 'keep-PENDING']);
    expect(await worker.prune()).toBe(0);

    // What /metrics shows: one pending (not due yet, queued 5 hours ago), one failed.
    const queue = await readWebhookQueue(pool);
    expect(queue).toMatchObject({ pending: 1, due: 0, failed: 1 });
    expect(queue.oldestPendingSeconds).toBeGreaterThan(4 * 3600);
  });
});
