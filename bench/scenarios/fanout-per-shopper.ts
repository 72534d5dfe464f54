// Fan-out, per shopper: items/s delivered to 1,000 graphql-ws subscribers, each filtered to its
// own user (userActivity(userId:)), every event addressed to one of them; against the same bare
// `ws` broadcast figure as the shared stream.
//
// Each event reaches one subscriber, so a live measurement would only time ingest (see the ingest
// scenarios). This one times the delivery path itself: the subscribers' server is paused (SIGSTOP)
// while a second server process stores the events in the same database, then resumed; the figure
// is the rate at which it reads that backlog from the feed and delivers it, filtered, to its owners.
import type { Result, Scenario } from '../lib.js';
import {
  ACTIVITY_SUBSCRIPTION,
  gql,
  openSockets,
  RECORD_ACTIVITY,
  scratchDatabase,
  sleep,
  startServer,
  until,
} from '../lib.js';
import { measureBareBroadcast } from './fanout-shared.js';
import { activityBatches } from './traffic.js';

const SUBSCRIBERS = 1000;
const EVENTS = Number(process.env.BENCH_PER_SHOPPER_EVENTS ?? 20_000);
const BATCH = 500;

export const fanoutPerShopper: Scenario = {
  name: 'fanout-per-shopper',
  title: 'fan-out, per-shopper',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const serving = await startServer(db.url);
    const writer = await startServer(db.url);
    let measured: { rate: number; seconds: number };
    try {
      const sockets = await openSockets(serving.wsUrl, SUBSCRIBERS);
      let received = 0;
      let lastAt = 0;
      const warm = new Set<number>();
      sockets.forEach((socket, i) => {
        socket.subscribe(ACTIVITY_SUBSCRIPTION, { userId: `shop-u-${i}` }, (data) => {
          const item = data.userActivity as { eventId: string };
          if (item.eventId.startsWith('warm-')) warm.add(i);
          else {
            received++;
            lastAt = performance.now();
          }
        });
      });
      // Warm-up through the writer: the serving process finds it by polling the feed.
      for (let round = 0; warm.size < SUBSCRIBERS; round++) {
        if (round === 30) throw new Error(`only ${warm.size} of ${SUBSCRIBERS} subscriptions went live`);
        const events = sockets.map((_, i) => ({
          eventId: `warm-${round}-${i}`,
          userId: `shop-u-${i}`,
          type: 'BROWSE',
          productId: 'p-1',
        }));
        for (let i = 0; i < events.length; i += BATCH)
          await gql(writer.url, RECORD_ACTIVITY, { events: events.slice(i, i + BATCH) });
        await until(() => warm.size === SUBSCRIBERS, 3000, 'warm-up').catch(() => {});
      }

      const batches = activityBatches(Math.ceil(EVENTS / BATCH), BATCH, `shop-${Date.now().toString(36)}`);
      let n = 0;
      for (const batch of batches) for (const event of batch) event.userId = `shop-u-${n++ % SUBSCRIBERS}`;
      process.kill(serving.pid, 'SIGSTOP');
      try {
        for (const batch of batches) await gql(writer.url, RECORD_ACTIVITY, { events: batch });
        // The writer also rebuilds the shoppers' recommendation lists after the batches; let it
        // finish, so that the figure is delivery alone, not delivery sharing the CPU with that.
        for (let queued = 1; queued > 0; ) {
          const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM recommendation_rebuilds');
          queued = rows[0].n;
          if (queued > 0) await sleep(100);
        }
      } finally {
        process.kill(serving.pid, 'SIGCONT');
      }
      const started = performance.now();
      await until(() => received >= EVENTS, 120_000, `${EVENTS} deliveries (got ${received})`);
      measured = { rate: (received / (lastAt - started)) * 1000, seconds: (lastAt - started) / 1000 };
      await Promise.all(sockets.map((s) => s.close()));
    } finally {
      await writer.stop();
      await serving.stop();
      await db.drop();
    }
    const bare = await measureBareBroadcast(1000);
    const ratio = measured.rate / bare;
    return [
      {
        scenario: 'fan-out, per-shopper',
        figure: `items/s delivered from a ${EVENTS}-event backlog, 1000 subscribers filtered to their user`,
        value: measured.rate,
        unit: 'items/s',
        baselineLabel: 'bare ws broadcast to 1,000 sockets',
        baseline: bare,
        ratio,
        target: '≥ 0.5×',
        met: ratio >= 0.5,
        notes: `${EVENTS} events stored by a second process while the subscribers' server was paused, then delivered in ${measured.seconds.toFixed(2)} s`,
      },
    ];
  },
};
