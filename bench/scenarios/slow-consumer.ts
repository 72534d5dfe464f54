// Slow consumer: p99 send → receipt latency of 200 subscribers at a steady rate, first with all
// of them reading, then while one more subscriber stops reading its socket (paused TCP reads).
// The ratio is p99 with the stalled one over p99 without, in the same run.
import {
  ACTIVITY_SUBSCRIPTION,
  GqlSocket,
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

const SUBSCRIBERS = 200;
const RATE = 50;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);

export const slowConsumer: Scenario = {
  name: 'slow-consumer',
  title: 'slow consumer',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    // The default per-subscriber queue, so that a stalled subscriber is bounded as in production.
    const server = await startServer(db.url, { SUBSCRIBER_QUEUE_LIMIT: '1000' });
    const sockets = await openSockets(server.wsUrl, SUBSCRIBERS);
    const slow = new GqlSocket(server.wsUrl);
    try {
      await slow.ready;
      const sentAt = new Map<string, number>();
      let delays: number[] = [];
      let warm = 0;
      for (const socket of [...sockets, slow]) {
        socket.subscribe(ACTIVITY_SUBSCRIPTION, {}, (data) => {
          if (socket === slow) return;
          const at = sentAt.get((data.userActivity as { eventId: string }).eventId);
          if (at === undefined) warm++;
          else delays.push(performance.now() - at);
        });
      }
      await gql(server.url, RECORD_ACTIVITY, {
        events: [{ eventId: 'warm', userId: 'u-0', type: 'BROWSE', productId: 'p-1' }],
      });
      await until(() => warm >= SUBSCRIBERS, 30_000, 'every subscription to go live');
      const events = (activityBatches(1, 3 * RATE * SECONDS, `slow-${Date.now().toString(36)}`)[0] ?? []).map((e) => ({
        ...e,
        occurredAt: undefined,
      }));

      const phase = async (from: number): Promise<number> => {
        delays = [];
        const inFlight: Promise<unknown>[] = [];
        const started = performance.now();
        for (let i = 0; i < RATE * SECONDS; i++) {
          const wait = started + (i * 1000) / RATE - performance.now();
          if (wait > 0) await sleep(wait);
          const event = events[from + i] as (typeof events)[number];
          sentAt.set(event.eventId, performance.now());
          inFlight.push(gql(server.url, RECORD_ACTIVITY, { events: [event] }));
        }
        await Promise.all(inFlight);
        await until(() => delays.length >= RATE * SECONDS * SUBSCRIBERS, 60_000, 'every delivery');
        return percentile(
          delays.sort((a, b) => a - b),
          99,
        );
      };
      await phase(0); // warm-up (JIT, plans), not counted
      const normal = await phase(RATE * SECONDS);
      // The slow subscriber stops reading: the kernel buffers fill, then the server's side does.
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const stalled = await phase(2 * RATE * SECONDS);
      const ratio = stalled / normal;
      return [
        {
          scenario: 'slow consumer',
          figure: `p99 of ${SUBSCRIBERS} subscribers while one stops reading, ${RATE} events/s`,
          value: stalled,
          unit: 'ms',
          baselineLabel: 'p99 with no slow subscriber, ms',
          baseline: normal,
          ratio,
          target: '≤ 1.2×',
          met: ratio <= 1.2,
        },
      ];
    } finally {
      slow.ws.terminate();
      await Promise.all(sockets.map((s) => s.close()));
      await server.stop();
      await db.drop();
    }
  },
};
