// Connections: server memory per open subscription with 10,000 live userActivity subscriptions
// (one graphql-ws connection each), against the memory of one bare `ws` connection (10,000
// sockets to a bare ws server). Resident memory (VmRSS) of the server process, before and after.
import WebSocket from 'ws';
import {
  ACTIVITY_SUBSCRIPTION,
  gql,
  openSockets,
  RECORD_ACTIVITY,
  type Result,
  rssOf,
  type Scenario,
  scratchDatabase,
  sleep,
  startBareWs,
  startServer,
  until,
} from '../lib.js';

const SUBSCRIPTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10_000);

export const connections: Scenario = {
  name: 'connections',
  title: 'connections',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const server = await startServer(db.url);
    let perSubscription = Number.NaN;
    try {
      // Warm the server (schema, executor, one subscription) before the first reading.
      const probe = await openSockets(server.wsUrl, 10, 10);
      await gql(server.url, RECORD_ACTIVITY, {
        events: [{ eventId: 'w0', userId: 'u-0', type: 'BROWSE', productId: 'p-1' }],
      });
      await Promise.all(probe.map((s) => s.close()));
      await sleep(1000);
      const before = rssOf(server.pid);
      const sockets = await openSockets(server.wsUrl, SUBSCRIPTIONS, 200);
      let live = 0;
      for (const socket of sockets) socket.subscribe(ACTIVITY_SUBSCRIPTION, {}, () => void live++);
      await gql(server.url, RECORD_ACTIVITY, {
        events: [{ eventId: 'w1', userId: 'u-0', type: 'BROWSE', productId: 'p-1' }],
      });
      await until(() => live >= SUBSCRIPTIONS, 60_000, 'every subscription to go live');
      await sleep(2000);
      perSubscription = (rssOf(server.pid) - before) / SUBSCRIPTIONS;
      for (const s of sockets) s.ws.terminate();
    } finally {
      await server.stop();
      await db.drop();
    }

    const bare = await startBareWs();
    const sockets: WebSocket[] = [];
    try {
      await sleep(500);
      const before = rssOf(bare.pid);
      for (let i = 0; i < SUBSCRIPTIONS; i += 200) {
        const group = Array.from({ length: 200 }, () => new WebSocket(bare.url));
        await Promise.all(group.map((s) => new Promise((resolve) => s.once('open', resolve))));
        sockets.push(...group);
      }
      await sleep(2000);
      const perSocket = (rssOf(bare.pid) - before) / SUBSCRIPTIONS;
      const kb = perSubscription / 1024;
      return [
        {
          scenario: 'connections',
          figure: `server memory per open subscription, ${SUBSCRIPTIONS} subscriptions`,
          value: kb,
          unit: 'KB',
          baselineLabel: 'one bare ws connection, KB',
          baseline: perSocket / 1024,
          ratio: perSubscription / perSocket,
          target: '≤ 20 KB each',
          met: kb <= 20,
        },
      ];
    } finally {
      for (const s of sockets) s.terminate();
      await bare.stop();
    }
  },
};
