// End-to-end latency: from sending a one-event recordActivity mutation to its receipt by each of
// 1,000 graphql-ws subscribers of the shared stream, at a steady rate; the baseline is the
// mutation's own response time (send → acknowledged, i.e. committed) in the same run.
import {
  ACTIVITY_SUBSCRIPTION,
  gql,
  openSockets,
  percentile,
  RECORD_ACTIVITY,
  type Result,
  type Scenario,
  scratchDatabase,
  sleep,
  startServer,
  until,
} from '../lib.js';
import { activityBatches } from './traffic.js';

const SUBSCRIBERS = 1000;
/** Events/s: about half of what the shared-stream fan-out sustains to 1,000 subscribers here. */
const RATE = Number(process.env.BENCH_LATENCY_RATE ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 12);

export const latency: Scenario = {
  name: 'latency',
  title: 'end-to-end latency',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const server = await startServer(db.url);
    const sockets = await openSockets(server.wsUrl, SUBSCRIBERS);
    try {
      const sentAt = new Map<string, number>();
      const delays: number[] = [];
      let warm = 0;
      for (const socket of sockets) {
        socket.subscribe(ACTIVITY_SUBSCRIPTION, {}, (data) => {
          const id = (data.userActivity as { eventId: string }).eventId;
          const at = sentAt.get(id);
          if (at === undefined) warm++;
          else delays.push(performance.now() - at);
        });
      }
      await gql(server.url, RECORD_ACTIVITY, {
        events: [{ eventId: 'warm', userId: 'u-0', type: 'BROWSE', productId: 'p-1' }],
      });
      await until(() => warm >= SUBSCRIBERS, 30_000, 'every subscription to go live');

      const events = (activityBatches(1, RATE * SECONDS, `lat-${Date.now().toString(36)}`)[0] ?? []).map((e) => ({
        ...e,
        occurredAt: undefined,
      }));
      const responses: number[] = [];
      const inFlight: Promise<void>[] = [];
      const started = performance.now();
      for (let i = 0; i < events.length; i++) {
        const due = started + (i * 1000) / RATE;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const event = events[i] as (typeof events)[number];
        const t0 = performance.now();
        sentAt.set(event.eventId, t0);
        inFlight.push(
          gql(server.url, RECORD_ACTIVITY, { events: [event] }).then(() => void responses.push(performance.now() - t0)),
        );
      }
      await Promise.all(inFlight);
      await until(() => delays.length >= events.length * SUBSCRIBERS, 60_000, 'every delivery');
      delays.sort((a, b) => a - b);
      responses.sort((a, b) => a - b);
      const p50 = percentile(delays, 50);
      const p99 = percentile(delays, 99);
      const base50 = percentile(responses, 50);
      const base99 = percentile(responses, 99);
      const notes = `${events.length} one-event mutations at ${RATE}/s, ${delays.length} deliveries`;
      return [
        {
          scenario: 'end-to-end latency p50',
          figure: `send → receipt, ${SUBSCRIBERS} subscribers, ${RATE} events/s`,
          value: p50,
          unit: 'ms',
          baselineLabel: 'mutation response p50',
          baseline: base50,
          ratio: p50 / base50,
          target: 'p50 ≤ 10 ms',
          met: p50 <= 10,
          notes,
        },
        {
          scenario: 'end-to-end latency p99',
          figure: `send → receipt, ${SUBSCRIBERS} subscribers, ${RATE} events/s`,
          value: p99,
          unit: 'ms',
          baselineLabel: 'mutation response p99',
          baseline: base99,
          ratio: p99 / base99,
          target: 'p99 ≤ 50 ms',
          met: p99 <= 50,
        },
      ];
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
      await server.stop();
      await db.drop();
    }
  },
};
