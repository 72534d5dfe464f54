// History growth: does processing slow down as the log grows? 200,000 activity events
// (BENCH_GROWTH_EVENTS) through recordActivity with ack STORED at full speed from 2 clients in
// 500-event batches; then the processors finish their backlog. The end-to-end rate (events
// fully processed, i.e. passed by every processor, per second) of the first quarter of the events
// (from the first send to when its last event is processed) is compared with that of the last
// quarter (from when the third quarter's last event is processed to when the last one is).
//
// When an event is processed comes from /metrics, sampled every second:
// shopstream_processed_events_total{processor} counts the events each processor has applied,
// and processors apply their log in order, so the k-th event of the log (batches ordered by the
// `position` each mutation answers) is processed by a processor once its count reaches the
// number of events it follows among the first k. The inventory and sales processors follow only
// the purchases; the others every event.
import { comparePositions, decodeCursor } from '../../src/feed/cursor.js';
import {
  ingest,
  metricByLabel,
  processorsCaughtUp,
  RECORD_ACTIVITY_STORED,
  type Result,
  type Scenario,
  scratchDatabase,
  sleep,
  startServer,
} from '../lib.js';
import { activityBatches } from './traffic.js';

const SIZE = 500;
const CLIENTS = 2;
const EVENTS = Math.max(4 * SIZE, Number(process.env.BENCH_GROWTH_EVENTS ?? 200_000));
const CATCH_UP_MS = Number(process.env.BENCH_GROWTH_TIMEOUT_SECONDS ?? 600) * 1000;
/** Each scrape also computes the lag gauges (a count over the backlog): not more often than this. */
const SAMPLE_MS = 1000;
const PROCESSED = 'shopstream_processed_events_total';
/** Processors that follow only the purchases of the activity log (src/core/*\/processor.ts). */
const PURCHASES_ONLY = new Set(['inventory', 'sales']);
/** Processors that follow no activity: the run sends none of their events, so they have nothing to pass. */
const NO_ACTIVITY = new Set(['catalogue']);

type Sample = { at: number; counts: Map<string, number> };

export const historyGrowth: Scenario = {
  name: 'history-growth',
  title: 'history growth',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const server = await startServer(db.url);
    try {
      const runId = `hg-${Date.now().toString(36)}`;
      const warm = activityBatches(4, SIZE, `${runId}-warm`);
      const batches = activityBatches(Math.ceil(EVENTS / SIZE), SIZE, runId);
      const total = batches.length * SIZE;
      // Warm-up (JIT, plans), processed before the clock starts; the counters start after it.
      for (const batch of warm) await ingest(server.url, RECORD_ACTIVITY_STORED, batch);
      await processorsCaughtUp(server.url, 60_000);
      const before = await metricByLabel(server.url, PROCESSED, 'processor');
      const processors = [...before.keys()].filter((processor) => !NO_ACTIVITY.has(processor));
      if (processors.length === 0) throw new Error(`/metrics has no ${PROCESSED}`);

      const samples: Sample[] = [];
      let scrapeMs = 0;
      let sampling = true;
      const t0 = performance.now();
      const sampler = (async () => {
        while (sampling) {
          const asked = performance.now();
          const counts = await metricByLabel(server.url, PROCESSED, 'processor');
          scrapeMs += performance.now() - asked;
          samples.push({ at: (asked + performance.now()) / 2, counts });
          await sleep(Math.max(0, SAMPLE_MS - (performance.now() - asked)));
        }
      })();

      const positions: string[] = new Array(batches.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          for (let i = next++; i < batches.length; i = next++) {
            const report = await ingest(server.url, RECORD_ACTIVITY_STORED, batches[i] as (typeof batches)[number]);
            if (report.accepted !== SIZE || !report.position) throw new Error(`batch ${i}: ${JSON.stringify(report)}`);
            positions[i] = report.position;
          }
        }),
      );
      const sentAt = performance.now();
      await processorsCaughtUp(server.url, CATCH_UP_MS);
      sampling = false;
      await sampler;
      samples.push({ at: performance.now(), counts: await metricByLabel(server.url, PROCESSED, 'processor') });
      // Where the processing time went: each processor's batches (read, apply, commit), in all.
      const busy = await metricByLabel(server.url, 'shopstream_processor_batch_seconds_sum', 'processor');
      const batchCount = await metricByLabel(server.url, 'shopstream_processor_batch_seconds_count', 'processor');
      const busyNote = [...busy]
        .sort((a, b) => b[1] - a[1])
        .map(([p, seconds]) => `${p} ${seconds.toFixed(1)} s in ${batchCount.get(p) ?? 0} batches`)
        .join(', ');

      // The log's order of the batches, and what each processor follows among the first k events.
      const order = batches
        .map((batch, i) => ({ batch, position: decodeCursor(positions[i] as string) }))
        .sort((a, b) => comparePositions(a.position, b.position));
      const logOrder = order.flatMap((o) => o.batch);
      const followed = (processor: string, k: number) =>
        PURCHASES_ONLY.has(processor) ? logOrder.slice(0, k).filter((e) => e.type === 'PURCHASE').length : k;
      /** When the k-th event of the log was passed by every processor (interpolated between samples). */
      const processedAt = (k: number): number => {
        let latest = t0;
        for (const processor of processors) {
          const target = (before.get(processor) ?? 0) + followed(processor, k);
          const i = samples.findIndex((s) => (s.counts.get(processor) ?? 0) >= target);
          if (i < 0) throw new Error(`${processor} never reached ${target} processed events`);
          const here = samples[i] as Sample;
          const prev = samples[i - 1];
          let at = here.at;
          if (prev) {
            const from = prev.counts.get(processor) ?? 0;
            const to = here.counts.get(processor) ?? 0;
            at = prev.at + ((target - from) / Math.max(1, to - from)) * (here.at - prev.at);
          }
          latest = Math.max(latest, at);
        }
        return latest;
      };
      const quarter = total / 4;
      const q1 = processedAt(quarter);
      const q3 = processedAt(3 * quarter);
      const q4 = processedAt(total);
      const first = quarter / ((q1 - t0) / 1000);
      const last = quarter / ((q4 - q3) / 1000);
      const ratio = last / first;
      const s = (t: number) => ((t - t0) / 1000).toFixed(1);
      return [
        {
          scenario: 'history growth',
          figure: `events/s fully processed, last quarter of ${total.toLocaleString('en-US')} events, ack STORED, 2 clients`,
          value: last,
          unit: 'events/s',
          baselineLabel: 'first quarter',
          baseline: first,
          ratio,
          target: '≥ 0.8×',
          met: ratio >= 0.8,
          notes: `sent in ${s(sentAt)} s (${Math.round(total / ((sentAt - t0) / 1000)).toLocaleString('en-US')} events/s stored); quarters processed at ${s(q1)} s, ${s(processedAt(2 * quarter))} s, ${s(q3)} s, ${s(q4)} s (all ${Math.round(total / ((q4 - t0) / 1000)).toLocaleString('en-US')} events/s); ${samples.length} /metrics samples (${(scrapeMs / samples.length).toFixed(0)} ms each); processor time: ${busyNote}`,
        },
      ];
    } finally {
      await server.stop();
      await db.drop();
    }
  },
};
