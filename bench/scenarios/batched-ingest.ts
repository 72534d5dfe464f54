// Batched ingest: events/s through recordActivity (500-event batches, every processor on,
// 2 client connections) against bare `pg` INSERT … SELECT FROM unnest of the same rows into an
// equivalent table with the same unique key, also from 2 connections.
import pg from 'pg';
import { closedLoop, gql, RECORD_ACTIVITY, type Result, type Scenario, scratchDatabase, startServer } from '../lib.js';
import { BARE_BATCH_INSERT, columns, createBareTable, toRow } from './ingest-rows.js';
import { activityBatches } from './traffic.js';

const SIZE = 500;
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 12);

export const batchedIngest: Scenario = {
  name: 'batched-ingest',
  title: 'batched ingest',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const server = await startServer(db.url);
    try {
      const batches = activityBatches(600, SIZE, `bi-${Date.now().toString(36)}`);
      // Warm-up (JIT, plans, caches), not counted.
      for (let i = 0; i < 4; i++) await gql(server.url, RECORD_ACTIVITY, { events: batches[i] });
      let next = 4;
      const served = await closedLoop(CLIENTS, SECONDS * 1000, async () => {
        const batch = batches[next++ % batches.length];
        await gql(server.url, RECORD_ACTIVITY, { events: batch });
      });
      const rate = (served * SIZE) / SECONDS;

      await createBareTable(db.pool);
      const rows = batches.map((b) => columns(b.map(toRow)));
      const clients = await Promise.all(
        Array.from({ length: CLIENTS }, () => new pg.Client({ connectionString: db.url })),
      );
      await Promise.all(clients.map((c) => c.connect()));
      let bareNext = 0;
      const bareDone = await closedLoop(CLIENTS, SECONDS * 1000, async (client) => {
        const n = bareNext++;
        const cols = rows[n % rows.length] as unknown[][];
        // A fresh eventId per round, so that the baseline never skips a row as a duplicate.
        const round = Math.floor(n / rows.length);
        const ids = round === 0 ? cols[0] : (cols[0] as string[]).map((id) => `${id}-r${round}`);
        await clients[client]?.query(BARE_BATCH_INSERT, [ids, ...cols.slice(1)]);
      });
      await Promise.all(clients.map((c) => c.end()));
      const bare = (bareDone * SIZE) / SECONDS;
      const ratio = rate / bare;
      return [
        {
          scenario: 'batched ingest',
          figure: 'events/s, 500-event batches, 2 clients',
          value: rate,
          unit: 'events/s',
          baselineLabel: 'bare pg unnest INSERT',
          baseline: bare,
          ratio,
          target: '≥ 0.25× (aim 0.4×)',
          met: ratio >= 0.25,
          notes: `${served} batches in ${SECONDS} s`,
        },
      ];
    } finally {
      await server.stop();
      await db.drop();
    }
  },
};
