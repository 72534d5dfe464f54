// Fan-out, shared stream: items/s delivered to 1,000 graphql-ws subscribers of the same stream
// (userActivity, everyone's), against a bare `ws` server broadcasting a payload of the same
// shape and size to 1,000 sockets. Both sides: clients in this process parse every message.
import type WebSocket from 'ws';
import {
  ACTIVITY_SUBSCRIPTION,
  type GqlSocket,
  gql,
  openBareSockets,
  openSockets,
  RECORD_ACTIVITY,
  type Result,
  type Scenario,
  scratchDatabase,
  startBareWs,
  startServer,
  until,
} from '../lib.js';
import { activityBatches } from './traffic.js';

const SUBSCRIBERS = 1000;
const EVENTS = Number(process.env.BENCH_FANOUT_EVENTS ?? 1000);
const BATCH = 250;

export async function measureStreamFanout(serverUrl: string, wsUrl: string, filtered: boolean, events = EVENTS) {
  const sockets = await openSockets(wsUrl, SUBSCRIBERS);
  let received = 0;
  let lastAt = 0;
  const warm = new Set<number>();
  try {
    sockets.forEach((socket: GqlSocket, i) => {
      socket.subscribe(ACTIVITY_SUBSCRIPTION, filtered ? { userId: `fan-u-${i}` } : {}, (data) => {
        const item = data.userActivity as { eventId: string };
        if (item.eventId.startsWith('warm-')) warm.add(i);
        else {
          received++;
          lastAt = performance.now();
        }
      });
    });
    // One warm-up event per subscriber's user (or one for all): every subscription is live after it.
    const warmEvents = filtered
      ? sockets.map((_, i) => ({ eventId: `warm-${i}`, userId: `fan-u-${i}`, type: 'BROWSE', productId: 'p-1' }))
      : [{ eventId: 'warm-0', userId: 'fan-u-0', type: 'BROWSE', productId: 'p-1' }];
    for (let i = 0; i < warmEvents.length; i += 500) {
      await gql(serverUrl, RECORD_ACTIVITY, { events: warmEvents.slice(i, i + 500) });
    }
    await until(() => warm.size === SUBSCRIBERS, 30_000, 'every subscription to go live');

    const batches = activityBatches(Math.ceil(events / BATCH), BATCH, `fan-${Date.now().toString(36)}`);
    if (filtered) {
      // Each event goes to the one subscriber whose user it names.
      let n = 0;
      for (const batch of batches) for (const event of batch) event.userId = `fan-u-${n++ % SUBSCRIBERS}`;
    }
    const expected = filtered ? events : events * SUBSCRIBERS;
    const started = performance.now();
    for (const batch of batches) await gql(serverUrl, RECORD_ACTIVITY, { events: batch });
    const ingestMs = performance.now() - started;
    await until(() => received >= expected, 60_000, `${expected} deliveries (got ${received})`);
    return { rate: (received / (lastAt - started)) * 1000, expected, ingestMs, seconds: (lastAt - started) / 1000 };
  } finally {
    await Promise.all(sockets.map((s) => s.close()));
  }
}

/** The bare `ws` figure: `count` messages broadcast to 1,000 sockets, parsed by the clients. */
export async function measureBareBroadcast(count: number): Promise<number> {
  const bare = await startBareWs();
  let received = 0;
  let lastAt = 0;
  let sockets: WebSocket[] = [];
  try {
    sockets = await openBareSockets(bare.url, SUBSCRIBERS, (raw) => {
      JSON.parse(raw.toString());
      received++;
      lastAt = performance.now();
    });
    const payload = JSON.stringify({
      id: '1',
      type: 'next',
      payload: {
        data: {
          userActivity: {
            cursor: 'MTIzNDU2Nzg5OjEyMzQ1Ng__N__',
            eventId: 'fan-mf2x3k-activity-__N__',
            userId: 'u-1234',
            type: 'ADD_TO_CART',
            productId: 'p-567',
            quantity: 1,
            occurredAt: '2026-11-25T15:00:00.000Z',
          },
        },
      },
    });
    const started = performance.now();
    await bare.broadcast(payload, count);
    await until(() => received >= count * SUBSCRIBERS, 60_000, 'the bare broadcast');
    return (received / (lastAt - started)) * 1000;
  } finally {
    for (const s of sockets) s.terminate();
    await bare.stop();
  }
}

export const fanoutShared: Scenario = {
  name: 'fanout-shared',
  title: 'fan-out, shared stream',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const server = await startServer(db.url);
    try {
      const measured = await measureStreamFanout(server.url, server.wsUrl, false);
      await server.stop();
      const bare = await measureBareBroadcast(EVENTS);
      const ratio = measured.rate / bare;
      return [
        {
          scenario: 'fan-out, shared stream',
          figure: `items/s delivered, ${SUBSCRIBERS} graphql-ws subscribers, ${EVENTS} events`,
          value: measured.rate,
          unit: 'items/s',
          baselineLabel: 'bare ws broadcast to 1,000 sockets',
          baseline: bare,
          ratio,
          target: '≥ 0.8×',
          met: ratio >= 0.8,
          notes: `${measured.expected} deliveries in ${measured.seconds.toFixed(2)} s from the first mutation (ingest itself took ${(measured.ingestMs / 1000).toFixed(2)} s)`,
        },
      ];
    } finally {
      await server.stop();
      await db.drop();
    }
  },
};
