// The background worker (src/background.ts), as `npm start` runs it on PostgreSQL: the
// recommendations and activity summaries run in a niced child process; ack PROCESSED still
// answers only once they passed the batch; a worker killed with -9 is replaced and goes on from
// its checkpoint; the worker never outlives its server, however the server ends.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql } from '../helpers/clients.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ServiceProcess, startProcess } from '../helpers/process.js';
import { recordActivity } from '../helpers/streams.js';

let database: TestDatabase;
const services: ServiceProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
}, 30_000);

afterAll(async () => {
  await Promise.all(services.map((service) => service.stop('SIGKILL')));
  await database?.drop();
});

async function start(): Promise<ServiceProcess> {
  const service = await startProcess({ DATABASE_URL: database.url });
  services.push(service);
  return service;
}

/** The pids of every worker the service has started so far, oldest first (from its log). */
function workerPids(service: ServiceProcess): number[] {
  return service
    .output()
    .split('\n')
    .filter((line) => line.includes('"background worker started"'))
    .map((line) => (JSON.parse(line) as { pid: number }).pid);
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** nice(1) value of a process, from /proc (field 19 of stat, after the parenthesised name). */
const niceness = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[16]);

const FUNNEL = `query ($from: DateTime, $to: DateTime) { funnel(from: $from, to: $to) { browsers } }`;
const RECOMMENDATIONS = `query ($u: ID!) { recommendations(userId: $u) { items { productId reason } } }`;
const range = { from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' };
const at = '2026-06-01T10:00:00Z';

describe('the background worker', () => {
  let service: ServiceProcess;

  it('runs the recommendations, the activity summaries and the sales alerts at a lower priority, and ack PROCESSED waits for them', async () => {
    service = await start();
    const [pid] = workerPids(service);
    expect(pid).toBeGreaterThan(0);
    expect(niceness(pid as number)).toBe(10);
    // The server's own processors are the rest: the worker's are not also run in the server.
    expect(service.output()).toContain('"processors":["recommendations","activity-summaries","sales-alerts"]');

    await recordActivity(service.url, [
      { eventId: 'bg-1', userId: 'u-1', type: 'BROWSE', productId: 'p-1', occurredAt: at },
      { eventId: 'bg-2', userId: 'u-2', type: 'BROWSE', productId: 'p-1', occurredAt: at },
      { eventId: 'bg-3', userId: 'u-2', type: 'BROWSE', productId: 'p-2', occurredAt: at },
    ]);
    // Answered with ack PROCESSED (the default): both worker processors passed the batch.
    const funnel = await gql(service.url, FUNNEL, range);
    expect(funnel.data?.funnel.browsers).toBe(2);
    const lists = await gql(service.url, RECOMMENDATIONS, { u: 'u-1' });
    expect(lists.data?.recommendations.items).toContainEqual(
      expect.objectContaining({ productId: 'p-2', reason: expect.stringContaining('p-1') }),
    );
  });

  it('is restarted after kill -9 and goes on from its checkpoint', async () => {
    const [first] = workerPids(service) as [number];
    process.kill(first, 'SIGKILL');
    await until('a second worker started', () => workerPids(service).length === 2);
    expect(service.output()).toContain('background worker exited; restarting it');
    const second = workerPids(service)[1] as number;
    expect(second).not.toBe(first);

    await recordActivity(service.url, [
      { eventId: 'bg-4', userId: 'u-3', type: 'BROWSE', productId: 'p-3', occurredAt: at },
    ]);
    const funnel = await gql(service.url, FUNNEL, range);
    expect(funnel.data?.funnel.browsers).toBe(3);
  });

  it('stops with its server (SIGTERM), and never outlives a server killed with -9', async () => {
    const worker = workerPids(service).at(-1) as number;
    expect(await service.stop('SIGTERM')).toBe(0);
    expect(alive(worker)).toBe(false);

    const killed = await start();
    const orphan = workerPids(killed)[0] as number;
    expect(alive(orphan)).toBe(true);
    await killed.stop('SIGKILL');
    await until('the worker of the killed server exited', () => !alive(orphan));
  });
});
