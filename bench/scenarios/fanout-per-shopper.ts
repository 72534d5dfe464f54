// Fan-out, per shopper: items/s delivered to 1,000 graphql-ws subscribers, each filtered to its
// own user (userActivity(userId:)), every event addressed to one of them; against the same bare
// `ws` broadcast figure as the shared stream.
import type { Result, Scenario } from '../lib.js';
import { scratchDatabase, startServer } from '../lib.js';
import { measureBareBroadcast, measureStreamFanout } from './fanout-shared.js';

const EVENTS = Number(process.env.BENCH_PER_SHOPPER_EVENTS ?? 10_000);

export const fanoutPerShopper: Scenario = {
  name: 'fanout-per-shopper',
  title: 'fan-out, per-shopper',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const server = await startServer(db.url);
    try {
      const measured = await measureStreamFanout(server.url, server.wsUrl, true, EVENTS);
      await server.stop();
      const bare = await measureBareBroadcast(1000);
      const ratio = measured.rate / bare;
      return [
        {
          scenario: 'fan-out, per-shopper',
          figure: `items/s delivered, 1000 subscribers filtered to their user, ${EVENTS} events`,
          value: measured.rate,
          unit: 'items/s',
          baselineLabel: 'bare ws broadcast to 1,000 sockets',
          baseline: bare,
          ratio,
          target: '≥ 0.3×',
          met: ratio >= 0.3,
          notes: `each event reaches one subscriber, so the figure is bounded by ingest: ${measured.expected} deliveries in ${measured.seconds.toFixed(2)} s, ingest took ${(measured.ingestMs / 1000).toFixed(2)} s`,
        },
      ];
    } finally {
      await server.stop();
      await db.drop();
    }
  },
};
