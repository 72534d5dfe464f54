// Single-event ingest: events/s with one event per recordActivity mutation from 16 concurrent
// clients, against a bare single-row INSERT of the same rows from 16 connections.
import pg from 'pg';
import { closedLoop, gql, RECORD_ACTIVITY, type Result, type Scenario, scratchDatabase, startServer } from '../lib.js';
import { BARE_ROW_INSERT, createBareTable, toRow } from './ingest-rows.js';
import { activityBatches } from './traffic.js';

const CLIENTS = 16;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 12);

export const singleIngest: Scenario = {
  name: 'single-ingest',
  title: 'single-event ingest',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase(CLIENTS);
    const server = await startServer(db.url);
    try {
      const events = activityBatches(1, 100_000, `si-${Date.now().toString(36)}`)[0] ?? [];
      for (let i = 0; i < 200; i++) await gql(server.url, RECORD_ACTIVITY, { events: [events[i]] });
      let next = 200;
      const served = await closedLoop(CLIENTS, SECONDS * 1000, async () => {
        await gql(server.url, RECORD_ACTIVITY, { events: [events[next++ % events.length]] });
      });
      const rate = served / SECONDS;

      await createBareTable(db.pool);
      const rows = events.map(toRow);
      const clients = Array.from({ length: CLIENTS }, () => new pg.Client({ connectionString: db.url }));
      await Promise.all(clients.map((c) => c.connect()));
      let bareNext = 0;
      const bareDone = await closedLoop(CLIENTS, SECONDS * 1000, async (client) => {
        const n = bareNext++;
        const row = rows[n % rows.length] as unknown[];
        await clients[client]?.query(BARE_ROW_INSERT, [`${row[0]}-r${Math.floor(n / rows.length)}`, ...row.slice(1)]);
      });
      await Promise.all(clients.map((c) => c.end()));
      const bare = bareDone / SECONDS;
      const ratio = rate / bare;
      return [
        {
          scenario: 'single-event ingest',
          figure: 'events/s, 1 event per mutation, 16 clients',
          value: rate,
          unit: 'events/s',
          baselineLabel: 'bare single-row INSERT, 16 connections',
          baseline: bare,
          ratio,
          target: '≥ 0.7×',
          met: ratio >= 0.7,
        },
      ];
    } finally {
      await server.stop();
      await db.drop();
    }
  },
};
