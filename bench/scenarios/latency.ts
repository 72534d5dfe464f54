// End-to-end latency at 1,000 graphql-ws subscribers of the shared stream and a steady rate of
// one-event recordActivity mutations: commit → receipt by each subscriber, bounded from above by
// the time from the server's stamp on the event (occurredAt, taken just before its commit) to the
// receipt, and from the client's send to the receipt in the notes; the baseline is the mutation's
// own response time (send → answered; the default ack, PROCESSED) in the same run.
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
      // The events carry no occurredAt, so the server stamps them with its clock just before their
      // commit: receipt − stamp (the same machine's clock, to the millisecond) bounds commit →
      // receipt from above, without the client's request and the HTTP round trip.
      const sinceStamp: number[] = [];
      let warm = 0;
      for (const socket of sockets) {
        socket.subscribe(ACTIVITY_SUBSCRIPTION, {}, (data) => {
          const { eventId, occurredAt } = data.userActivity as { eventId: string; occurredAt: string };
          const at = sentAt.get(eventId);
          if (at === undefined) warm++;
          else {
            delays.push(performance.now() - at);
            sinceStamp.push(Date.now() - Date.parse(occurredAt));
          }
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
      sinceStamp.sort((a, b) => a - b);
      responses.sort((a, b) => a - b);
      const p50 = percentile(sinceStamp, 50);
      const p99 = percentile(sinceStamp, 99);
      const sent50 = percentile(delays, 50);
      const sent99 = percentile(delays, 99);
      const base50 = percentile(responses, 50);
      const base99 = percentile(responses, 99);
      const notes = `${events.length} one-event mutations at ${RATE}/s, ${delays.length} deliveries; from the client's send: p50 ${sent50.toFixed(1)} ms, p99 ${sent99.toFixed(1)} ms`;
      return [
        {
          scenario: 'end-to-end latency p50',
          figure: `commit → receipt (at most: from the server's stamp just before the commit), ${SUBSCRIBERS} subscribers, ${RATE} events/s`,
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
          figure: `commit → receipt (at most: from the server's stamp just before the commit), ${SUBSCRIBERS} subscribers, ${RATE} events/s`,
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
