// Single-event ingest: events/s with one event per recordActivity mutation (ack STORED: answered
// at commit of the log append) from 16 concurrent clients, against a bare single-row INSERT of
// the same rows from 16 connections. The processors catch up before the baseline is measured.
import pg from 'pg';
import {
  closedLoop,
  ingest,
  processorsCaughtUp,
  RECORD_ACTIVITY_STORED,
  type Result,
  type Scenario,
  scratchDatabase,
  startServer,
} from '../lib.js';
import { BARE_ROW_INSERT, bareHttpRate, createBareTable, toRow } from './ingest-rows.js';
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
      const eventAt = (n: number) => {
        const event = events[n % events.length] as (typeof events)[number];
        const round = Math.floor(n / events.length);
        return round === 0 ? event : { ...event, eventId: `${event.eventId}-r${round}` };
      };
      for (let i = 0; i < 200; i++) await ingest(server.url, RECORD_ACTIVITY_STORED, [eventAt(i)]);
      await processorsCaughtUp(server.url, 60_000);
      let next = 200;
      let accepted = 0;
      const served = await closedLoop(CLIENTS, SECONDS * 1000, async () => {
        const report = await ingest(server.url, RECORD_ACTIVITY_STORED, [eventAt(next++)]);
        accepted += report.accepted;
      });
      const rate = accepted / SECONDS;
      const storedAt = performance.now();
      await processorsCaughtUp(server.url, 300_000);
      const catchUpSeconds = (performance.now() - storedAt) / 1000;

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
      const singles = events.map((e) => [e]);
      const ceiling = await bareHttpRate(db, singles, CLIENTS, SECONDS);
      const yogaCeiling = await bareHttpRate(db, singles, CLIENTS, SECONDS, true);
      const ratio = rate / bare;
      return [
        {
          scenario: 'single-event ingest',
          figure: 'events/s, 1 event per mutation, 16 clients, ack STORED',
          value: rate,
          unit: 'events/s',
          baselineLabel: 'bare single-row INSERT, 16 connections',
          baseline: bare,
          ratio,
          target: '≥ 0.5×',
          met: ratio >= 0.5,
          notes: `${served} mutations in ${SECONDS} s; the processors caught up ${catchUpSeconds.toFixed(1)} s after the last answer`,
        },
        {
          scenario: 'single-event ingest',
          figure:
            'ceiling: bare node:http + JSON + the same INSERT, no GraphQL (bench/bare-http.ts), 1 event per request, 16 clients',
          value: ceiling,
          unit: 'events/s',
          baselineLabel: 'bare single-row INSERT, 16 connections',
          baseline: bare,
          ratio: ceiling / bare,
          target: 'none: what this machine leaves an HTTP service',
          met: null,
          notes: `ack STORED reached ${(rate / ceiling).toFixed(2)}× this ceiling`,
        },
        {
          scenario: 'single-event ingest',
          figure:
            'ceiling of the stack: graphql-yoga + graphql-js + the same INSERT, nothing of ours (bench/bare-yoga.ts), 1 event per request, 16 clients',
          value: yogaCeiling,
          unit: 'events/s',
          baselineLabel: 'bare single-row INSERT, 16 connections',
          baseline: bare,
          ratio: yogaCeiling / bare,
          target: 'none: what Yoga and graphql-js leave on this machine',
          met: null,
          notes: `ack STORED reached ${(rate / yogaCeiling).toFixed(2)}× this ceiling`,
        },
      ];
    } finally {
      await server.stop();
      await db.drop();
    }
  },
};
