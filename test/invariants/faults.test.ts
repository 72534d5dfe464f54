// Faults of the parts (issue 7): PostgreSQL restarted under a running server, Redis restarted
// under two servers, SIGTERM under load, and a subscriber that stops reading. Each outage is
// made on a private PostgreSQL or Redis, never on the machine's shared ones.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUnavailable } from '../../src/core/errors.js';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { createTestDatabase } from '../helpers/database.js';
import { createPostgres, removeAllPostgres } from '../helpers/postgres.js';
import { type ServiceProcess, startProcess } from '../helpers/process.js';
import { startRedis, stopAllRedis } from '../helpers/redis.js';
import { disposeAll, startTestServer } from '../helpers/server.js';
import { type ActivityInput, FOLLOW_ACTIVITY, type Followed, FROM_START, recordActivity } from '../helpers/streams.js';

const children: ServiceProcess[] = [];
const drops: Array<() => Promise<void>> = [];

afterAll(async () => {
  await closeAllClients();
  await Promise.all(children.map((child) => child.stop('SIGKILL')));
  await disposeAll();
  await Promise.all(drops.map((drop) => drop()));
  await stopAllRedis();
  await removeAllPostgres();
});

const browse = (eventId: string): ActivityInput => ({ eventId, userId: 'u', type: 'BROWSE', productId: 'p' });

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function metric(httpBase: string, name: string): Promise<number | null> {
  const text = await (await fetch(`${httpBase}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : null;
}

describe('PostgreSQL restarted while the server runs', () => {
  it('mutations fail with UNAVAILABLE and /ready is 503 during the outage; after it everything works without a restart', async () => {
    const postgres = await createPostgres();
    const server = await startTestServer({ databaseUrl: postgres.url });
    const sub = subscribe<{ userActivity: Followed }>(server.wsUrl, FOLLOW_ACTIVITY, { after: FROM_START });
    await recordActivity(server.url, [browse('before-outage')]);
    expect((await sub.next()).data?.userActivity.eventId).toBe('before-outage');

    await postgres.stop('fast');
    const refused = await gql(
      server.url,
      'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e) { accepted } }',
      {
        e: [browse('during-outage')],
      },
    );
    expect(refused.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/database/i),
      extensions: { code: 'UNAVAILABLE' },
    });
    const ready = await fetch(`${server.httpBase}/ready`);
    expect(ready.status).toBe(503);
    expect((await fetch(`${server.httpBase}/health`)).status).toBe(200);

    await postgres.start();
    await waitFor('/ready after the restart', async () => (await fetch(`${server.httpBase}/ready`)).status === 200);
    const report = await recordActivity(server.url, [browse('during-outage'), browse('after-outage')]);
    expect(report.accepted).toBe(2);
    // The open subscription survived the outage and goes on in order.
    const items = [await sub.next(), await sub.next()].map((result) => result.data?.userActivity.eventId);
    expect(items).toEqual(['during-outage', 'after-outage']);
    await sub.dispose();
  });
});

describe('a request that must look up its credential during a database outage', () => {
  it('is answered UNAVAILABLE over HTTP, and a WebSocket is closed with 1013 (try again later), not an internal error', async () => {
    const postgres = await createPostgres();
    // No request before the outage: the first ones must ask the database whether any API key exists.
    const server = await startTestServer({ databaseUrl: postgres.url });
    await postgres.stop('fast');
    // The server remembers for a second that no key exists; until then a connection is accepted
    // (its subscription answers UNAVAILABLE). Connect until the lookup itself meets the outage.
    let refusal = '';
    await waitFor('a connection that needs the lookup', async () => {
      const sub = subscribe<{ userActivity: Followed }>(server.wsUrl, FOLLOW_ACTIVITY, { after: FROM_START });
      const outcome = await sub.next().then(
        () => null,
        (error: Error) => error.message,
      );
      await sub.dispose();
      refusal = outcome ?? '';
      return outcome !== null;
    });
    expect(refusal).toMatch(/1013 .*database is unavailable/);
    const refused = await gql(
      server.url,
      'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e) { accepted } }',
      { e: [browse('auth-outage')] },
    );
    expect(refused.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/database/i),
      extensions: { code: 'UNAVAILABLE' },
    });

    await postgres.start();
    await waitFor('/ready after the restart', async () => (await fetch(`${server.httpBase}/ready`)).status === 200);
    expect((await recordActivity(server.url, [browse('auth-outage')])).accepted).toBe(1);
  });
});

describe('Redis restarted while two servers run', () => {
  it('fan-out resumes by itself, and subscribers receive what was committed meanwhile', async () => {
    const redis = await startRedis();
    const database = await createTestDatabase();
    drops.push(() => database.drop());
    // Polled once a minute: what arrives within seconds was woken through Redis.
    const env = { REDIS_URL: redis.url, FEED_POLL_INTERVAL_MS: '60000' };
    const [a, b] = await Promise.all([
      startTestServer({ databaseUrl: database.url, env }),
      startTestServer({ databaseUrl: database.url, env }),
    ]);
    for (const server of [a, b]) {
      await waitFor('redis connected', async () => (await metric(server.httpBase, 'shopstream_redis_connected')) === 1);
    }
    const sub = subscribe<{ userActivity: Followed }>(b.wsUrl, FOLLOW_ACTIVITY, { after: FROM_START });
    await recordActivity(a.url, [browse('r-before')]);
    expect((await sub.next(5_000)).data?.userActivity.eventId).toBe('r-before');

    await redis.stop();
    await waitFor('redis loss noticed', async () => (await metric(b.httpBase, 'shopstream_redis_connected')) === 0);
    // Writes do not need Redis.
    expect((await recordActivity(a.url, [browse('r-meanwhile')])).accepted).toBe(1);

    await redis.start();
    expect((await sub.next(10_000)).data?.userActivity.eventId).toBe('r-meanwhile');
    await recordActivity(a.url, [browse('r-after')]);
    expect((await sub.next(5_000)).data?.userActivity.eventId).toBe('r-after');
    await sub.dispose();
  });
});

describe('graceful shutdown under load', () => {
  it('SIGTERM while batches stream in: every acknowledged event is stored, subscriptions complete, exit 0', async () => {
    const database = await createTestDatabase();
    drops.push(() => database.drop());
    const child = await startProcess({ DATABASE_URL: database.url });
    children.push(child);
    const wsUrl = child.url.replace(/^http/, 'ws');
    const subs = [0, 1].map(() => subscribe<{ userActivity: Followed }>(wsUrl, FOLLOW_ACTIVITY, { after: FROM_START }));

    const acknowledged: string[] = [];
    let batch = 0;
    let signalled = false;
    const worker = async () => {
      for (;;) {
        const events = Array.from({ length: 50 }, (_, i) => browse(`load-${batch}-${i}`));
        batch++;
        const answer = await recordActivity(child.url, events).catch(() => null);
        if (!answer) return; // refused (503 / UNAVAILABLE) or the socket is gone: shutdown under way
        expect(answer.accepted).toBe(50);
        acknowledged.push(...events.map((event) => event.eventId));
        if (acknowledged.length >= 500 && !signalled) {
          signalled = true;
          child.child.kill('SIGTERM');
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    // Waits for the exit without a second signal (which would mean "now", exit 1).
    const code = await new Promise<number | null>((resolve) => {
      if (child.child.exitCode !== null) resolve(child.child.exitCode);
      else child.child.once('exit', (exitCode) => resolve(exitCode));
    });
    expect(code, child.output().slice(-2000)).toBe(0);

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM activity_events WHERE event_id = ANY($1)',
      [acknowledged],
    );
    await client.end();
    expect(rows[0]?.n).toBe(acknowledged.length);

    for (const sub of subs) {
      await sub.completed;
      const ids: string[] = [];
      for (;;) {
        const result = await sub.next(1_000).catch((error: Error) => error);
        if (result instanceof Error) {
          // Completed by the server (clients reconnect elsewhere), not torn down.
          expect(result.message).toMatch(/completed/);
          break;
        }
        ids.push(result.data?.userActivity.eventId as string);
      }
      expect(new Set(ids).size).toBe(ids.length);
    }
  });
});

describe('a subscriber that falls behind', () => {
  it('is ended with RESYNC_REQUIRED and its last cursor, and counted in /metrics', async () => {
    const server = await startTestServer({ env: { SUBSCRIBER_QUEUE_LIMIT: '5' } });
    // The core's own stream, read by hand: a consumer that stops calling next() stops reading.
    // From the start of this fresh database, so that lag-0 is delivered however late the stream
    // starts on a busy machine (without a cursor it would begin at the head, maybe past lag-0).
    const stream = server.core.followUserActivity({}, FROM_START);
    const first = stream.next();
    await recordActivity(server.url, [browse('lag-0')]);
    const delivered = (await first).value as { eventId: string; cursor: string };
    expect(delivered.eventId).toBe('lag-0');
    await recordActivity(
      server.url,
      Array.from({ length: 10 }, (_, i) => browse(`lag-${i + 1}`)),
    );
    // The feed reads the batch after it is acknowledged; the overflow shows in /metrics.
    await waitFor(
      'the lagging subscriber counted',
      async () => (await metric(server.httpBase, 'shopstream_subscriber_resyncs_total{feed="activity_events"}')) === 1,
    );
    const ending = await stream.next();
    expect(ending.value).toMatchObject({ code: 'RESYNC_REQUIRED', details: { cursor: delivered.cursor } });
    expect((await stream.next()).done).toBe(true);
  });
});

describe('databaseUnavailable', () => {
  it('recognises lost and refused connections, directly, wrapped or one per address', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(databaseUnavailable(refused)?.code).toBe('UNAVAILABLE');
    expect(databaseUnavailable(Object.assign(new Error('terminating connection'), { code: '57P01' }))).not.toBeNull();
    expect(databaseUnavailable(new Error('Connection terminated unexpectedly'))).not.toBeNull();
    expect(databaseUnavailable(new Error('wrapped', { cause: refused }))).not.toBeNull();
    expect(databaseUnavailable(new AggregateError([refused], 'all addresses failed'))).not.toBeNull();
    // Prisma's client error for a connection PostgreSQL ended while it restarted (seen in npm run chaos).
    const prisma = Object.assign(new Error('Database error. Code: `57P01`.'), {
      code: 'P2039',
      meta: {
        modelName: 'ApiKey',
        driverAdapterError: {
          name: 'DriverAdapterError',
          cause: { kind: 'postgres', code: '57P01', originalCode: '57P01' },
        },
      },
    });
    expect(databaseUnavailable(prisma)?.code).toBe('UNAVAILABLE');
  });

  it('leaves every other error to be masked as unexpected', () => {
    expect(databaseUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBeNull();
    expect(databaseUnavailable(new TypeError('x is undefined'))).toBeNull();
    expect(databaseUnavailable(null)).toBeNull();
  });
});
