// Invariants 3 and 5 across processes (issue 7): several server processes share one PostgreSQL
// and one Redis; a mutation sent to any of them reaches every subscriber on every process once,
// in cursor order, and a client resumes on another process from its cursor. The feed is polled
// only once a minute here, so what arrives in time was carried by Redis wake-ups.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, subscribe, untilLive } from '../helpers/clients.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ServiceProcess, startProcess } from '../helpers/process.js';
import { type PrivateRedis, startRedis, stopAllRedis } from '../helpers/redis.js';
import {
  type ActivityInput,
  expectCursorOrder,
  FOLLOW_ACTIVITY,
  type Followed,
  FROM_START,
  followActivity,
  recordActivity,
} from '../helpers/streams.js';

let redis: PrivateRedis;
let database: TestDatabase;
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  [redis, database] = await Promise.all([startRedis(), createTestDatabase()]);
  const env = { DATABASE_URL: database.url, REDIS_URL: redis.url, FEED_POLL_INTERVAL_MS: '60000' };
  processes.push(...(await Promise.all([startProcess(env), startProcess(env), startProcess(env)])));
}, 60_000);

afterAll(async () => {
  await closeAllClients();
  await Promise.all(processes.map((service) => service.stop('SIGKILL')));
  await stopAllRedis();
  await database?.drop();
});

const wsUrl = (service: ServiceProcess) => service.url.replace(/^http/, 'ws');

function batchesOf(prefix: string, batches: number, size: number): ActivityInput[][] {
  return Array.from({ length: batches }, (_, b) =>
    Array.from({ length: size }, (_, i) => ({
      eventId: `${prefix}-${b}-${i}`,
      userId: `user-${(b + i) % 7}`,
      type: 'BROWSE' as const,
      productId: `p-${i}`,
    })),
  );
}

/** Sends the batches round-robin over every process, three at a time. */
async function sendEverywhere(batches: ActivityInput[][]) {
  for (let i = 0; i < batches.length; i += 3) {
    await Promise.all(
      batches
        .slice(i, i + 3)
        .map((batch, j) => recordActivity((processes[(i + j) % processes.length] as ServiceProcess).url, batch)),
    );
  }
}

describe('several processes, one truth', () => {
  it('every process reports its Redis fan-out connected in /metrics', async () => {
    for (const service of processes) {
      const metrics = service.url.replace(/\/graphql$/, '/metrics');
      const deadline = Date.now() + 10_000;
      // The subscriber connection comes up shortly after the server listens.
      while (!/^shopstream_redis_connected 1$/m.test(await (await fetch(metrics)).text())) {
        if (Date.now() > deadline) throw new Error(`${metrics}: shopstream_redis_connected never became 1`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });

  it('a mutation sent to any process reaches every subscriber on every process exactly once, in cursor order', async () => {
    const batches = batchesOf('fan', 30, 10);
    const expected = batches.flat().map((event) => event.eventId);
    // Two subscribers per process, all from the start of the (fresh) feed.
    const following = processes.flatMap((service) => [
      followActivity(wsUrl(service), FROM_START, expected.length),
      followActivity(wsUrl(service), FROM_START, expected.length),
    ]);
    await sendEverywhere(batches);
    const seen = await Promise.all(following);
    const first = seen[0] as Followed[];
    for (const items of seen) {
      expectCursorOrder(items);
      expect(items.map((item) => item.eventId).sort()).toEqual([...expected].sort());
      // One order for everybody: the feed's.
      expect(items.map((item) => item.eventId)).toEqual(first.map((item) => item.eventId));
    }
  });

  it('a live subscriber on one process receives what is committed on another, without polling', async () => {
    const [a, b] = processes as [ServiceProcess, ServiceProcess];
    const sub = subscribe<{ userActivity: Followed }>(wsUrl(b), FOLLOW_ACTIVITY, { after: null });
    try {
      await untilLive(
        sub,
        (marker) => recordActivity(a.url, [{ eventId: `live-${marker}`, userId: 'm', type: 'BROWSE', productId: 'm' }]),
        (data) => data.userActivity.eventId.replace(/^live-/, ''),
      );
      const started = Date.now();
      await recordActivity(a.url, [{ eventId: 'live-one', userId: 'm', type: 'BROWSE', productId: 'x' }]);
      const result = await sub.next(5_000);
      expect(result.data?.userActivity.eventId).toBe('live-one');
      // The poll interval is a minute: this came through Redis.
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await sub.dispose();
    }
  });

  it('a client that reconnects to another process resumes from its cursor, missing and repeating nothing', async () => {
    const [a, b, c] = processes as [ServiceProcess, ServiceProcess, ServiceProcess];
    const before = await followActivity(wsUrl(a), FROM_START, 1);
    const batches = batchesOf('resume', 10, 10);
    const expected = batches.flat().map((event) => event.eventId);

    // Read part of the stream on process A, drop the connection, resume on B, then on C.
    const sub = subscribe<{ userActivity: Followed }>(wsUrl(a), FOLLOW_ACTIVITY, {
      after: (before[0] as Followed).cursor,
    });
    const sending = sendEverywhere(batches);
    const mine: Followed[] = [];
    const relevant = (item: Followed) => item.eventId.startsWith('resume-');
    const collect = async (source: typeof sub, until: number) => {
      while (mine.filter(relevant).length < until) {
        const result = await source.next(20_000);
        if (result.errors) throw new Error(JSON.stringify(result.errors));
        mine.push((result.data as { userActivity: Followed }).userActivity);
      }
    };
    await collect(sub, 30);
    await sub.dispose();
    const onB = subscribe<{ userActivity: Followed }>(wsUrl(b), FOLLOW_ACTIVITY, { after: mine.at(-1)?.cursor });
    await collect(onB, 70);
    await onB.dispose();
    await sending;
    const onC = subscribe<{ userActivity: Followed }>(wsUrl(c), FOLLOW_ACTIVITY, { after: mine.at(-1)?.cursor });
    await collect(onC, expected.length);
    await onC.dispose();

    expectCursorOrder(mine);
    const ids = mine.filter(relevant).map((item) => item.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual([...expected].sort());
  });
});
