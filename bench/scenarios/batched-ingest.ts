// Batched ingest: events/s through recordActivity (500-event batches, 2 client connections) with
// ack STORED (answered at commit of the log append, while every processor follows the log in the
// same server) and with the default ack PROCESSED (answered once every processor has applied the
// batch), against bare `pg` INSERT … SELECT FROM unnest of the same rows into an equivalent table
// with the same unique key, also from 2 connections. The processors catch up before each next
// measurement, so that no backlog is charged to it. A last figure shows what the processors cost
// ingest on these two cores: ack STORED again, from a server that runs no processor (PROCESSORS
// and BACKGROUND_PROCESSORS none: an ingest-only process) on the same database.
import {
  closedLoop,
  ingest,
  processorsCaughtUp,
  RECORD_ACTIVITY,
  RECORD_ACTIVITY_STORED,
  type Result,
  type Scenario,
  scratchDatabase,
  startServer,
} from '../lib.js';
import { bareBatchRate, bareHttpRate } from './ingest-rows.js';
import { activityBatches, freshBatch } from './traffic.js';

const SIZE = 500;
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 12);
const CATCH_UP_MS = 300_000;

export const batchedIngest: Scenario = {
  name: 'batched-ingest',
  title: 'batched ingest',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const server = await startServer(db.url);
    try {
      const batches = activityBatches(600, SIZE, `bi-${Date.now().toString(36)}`);
      let next = 0;
      const timed = async (mutation: string, url = server.url) => {
        let accepted = 0;
        const served = await closedLoop(CLIENTS, SECONDS * 1000, async () => {
          const report = await ingest(url, mutation, freshBatch(batches, next++));
          accepted += report.accepted;
        });
        return { served, rate: accepted / SECONDS };
      };
      // Warm-up (JIT, plans, caches), not counted.
      for (let i = 0; i < 4; i++) await ingest(server.url, RECORD_ACTIVITY_STORED, freshBatch(batches, next++));
      await processorsCaughtUp(server.url, CATCH_UP_MS);

      const stored = await timed(RECORD_ACTIVITY_STORED);
      const storedAt = performance.now();
      await processorsCaughtUp(server.url, CATCH_UP_MS);
      const catchUpSeconds = (performance.now() - storedAt) / 1000;

      const processed = await timed(RECORD_ACTIVITY);
      await processorsCaughtUp(server.url, CATCH_UP_MS);
      await server.stop();

      const ingestOnly = await startServer(db.url, { PROCESSORS: 'none', BACKGROUND_PROCESSORS: 'none' });
      let alone: Awaited<ReturnType<typeof timed>>;
      try {
        for (let i = 0; i < 4; i++) await ingest(ingestOnly.url, RECORD_ACTIVITY_STORED, freshBatch(batches, next++));
        alone = await timed(RECORD_ACTIVITY_STORED, ingestOnly.url);
      } finally {
        await ingestOnly.stop();
      }

      const bare = await bareBatchRate(db, batches, CLIENTS, SECONDS);
      const ceiling = await bareHttpRate(db, batches, CLIENTS, SECONDS);
      const yogaCeiling = await bareHttpRate(db, batches, CLIENTS, SECONDS, true);
      const storedRatio = stored.rate / bare;
      const processedRatio = processed.rate / bare;
      return [
        {
          scenario: 'batched ingest',
          figure: 'events/s, 500-event batches, 2 clients, ack STORED',
          value: stored.rate,
          unit: 'events/s',
          baselineLabel: 'bare pg unnest INSERT',
          baseline: bare,
          ratio: storedRatio,
          target: '≥ 0.5×',
          met: storedRatio >= 0.5,
          notes: `ack STORED: ${stored.served} batches in ${SECONDS} s; the processors caught up ${catchUpSeconds.toFixed(1)} s after the last answer (${Math.round((stored.served * SIZE) / (SECONDS + catchUpSeconds)).toLocaleString('en-US')} events/s stored and processed)`,
        },
        {
          scenario: 'batched ingest',
          figure: 'events/s, 500-event batches, 2 clients, ack PROCESSED (default)',
          value: processed.rate,
          unit: 'events/s',
          baselineLabel: 'bare pg unnest INSERT',
          baseline: bare,
          ratio: processedRatio,
          target: '≥ 0.1×',
          met: processedRatio >= 0.1,
          notes: `ack PROCESSED: ${processed.served} batches in ${SECONDS} s`,
        },
        {
          scenario: 'batched ingest',
          figure:
            'what the processors cost: ack STORED from a server that runs no processor (an ingest-only process), 500-event batches, 2 clients',
          value: alone.rate,
          unit: 'events/s',
          baselineLabel: 'bare pg unnest INSERT',
          baseline: bare,
          ratio: alone.rate / bare,
          target: 'none: ingest alone, without the processors that share the two cores',
          met: null,
          notes: `ack STORED with every processor following the log reached ${(stored.rate / alone.rate).toFixed(2)}× this`,
        },
        {
          scenario: 'batched ingest',
          figure:
            'ceiling: bare node:http + JSON + the same INSERT, no GraphQL (bench/bare-http.ts), 500-event batches, 2 clients',
          value: ceiling,
          unit: 'events/s',
          baselineLabel: 'bare pg unnest INSERT',
          baseline: bare,
          ratio: ceiling / bare,
          target: 'none: what this machine leaves an HTTP service',
          met: null,
          notes: `ack STORED reached ${(stored.rate / ceiling).toFixed(2)}× this ceiling`,
        },
        {
          scenario: 'batched ingest',
          figure:
            'ceiling of the stack: graphql-yoga + graphql-js + the same INSERT, nothing of ours (bench/bare-yoga.ts), 500-event batches, 2 clients',
          value: yogaCeiling,
          unit: 'events/s',
          baselineLabel: 'bare pg unnest INSERT',
          baseline: bare,
          ratio: yogaCeiling / bare,
          target: 'none: what Yoga and graphql-js leave on this machine',
          met: null,
          notes: `ack STORED reached ${(stored.rate / yogaCeiling).toFixed(2)}× this ceiling`,
        },
      ];
    } finally {
      await server.stop();
      await db.drop();
    }
  },
};
