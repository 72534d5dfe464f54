// End-to-end latency at 1,000 graphql-ws subscribers of the shared stream and a steady rate of
// one-event recordActivity mutations: commit → receipt by each subscriber, bounded from above by
// the time from the server's stamp on the event (occurredAt, taken just before its commit) to the
// receipt, and from the client's send to the receipt in the notes.
//
// The baseline, in the same run: a bare `ws` server (bare-ws.ts) broadcasting a frame of the same
// shape at the same rate to 1,000 sockets of the same clients, send → receipt. It is the floor the
// machine sets: the 1,000 receipts of one item are spread over the time the server takes to write
// 1,000 frames and the clients (one process, on the same two cores) take to read them, so even
// the bare server's median subscriber waits for half of that spread. The notes give, for both,
// when the first and the last subscriber of an item received it (medians over the items). Both
// are measured after WARM_SECONDS of the same traffic.
import type WebSocket from 'ws';
import {
  ACTIVITY_SUBSCRIPTION,
  gql,
  openBareSockets,
  openSockets,
  percentile,
  RECORD_ACTIVITY,
  type Result,
  type Scenario,
  scratchDatabase,
  sleep,
  startBareWs,
  startServer,
  until,
} from '../lib.js';
import { activityBatches } from './traffic.js';

const SUBSCRIBERS = 1000;
/** Events/s: about half of what the shared-stream fan-out sustains to 1,000 subscribers here. */
const RATE = Number(process.env.BENCH_LATENCY_RATE ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 12);
const WARM_SECONDS = 3;

/** Calls send(0 … count − 1), one every 1/RATE s; resolves when every call's promise has. */
async function atRate(count: number, send: (i: number) => Promise<unknown>): Promise<void> {
  const started = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = started + (i * 1000) / RATE - performance.now();
    if (wait > 0) await sleep(wait);
    inFlight.push(send(i));
  }
  await Promise.all(inFlight);
}

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
      /** Receipt times (Date.now()) of each measured event, by eventId, with its stamp. */
      const receipts = new Map<string, { stamp: number; at: number[] }>();
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
            const now = Date.now();
            delays.push(performance.now() - at);
            sinceStamp.push(now - Date.parse(occurredAt));
            const entry = receipts.get(eventId) ?? { stamp: Date.parse(occurredAt), at: [] };
            entry.at.push(now);
            receipts.set(eventId, entry);
          }
        });
      }
      await gql(server.url, RECORD_ACTIVITY, {
        events: [{ eventId: 'warm', userId: 'u-0', type: 'BROWSE', productId: 'p-1' }],
      });
      await until(() => warm >= SUBSCRIBERS, 30_000, 'every subscription to go live');

      const runId = Date.now().toString(36);
      const stampless = (prefix: string, count: number) =>
        (activityBatches(1, count, prefix)[0] ?? []).map((e) => ({ ...e, occurredAt: undefined }));
      // A warm-up at the same rate, not measured: the figures are the steady state's, not the
      // first seconds of a cold process's compiler.
      const warmUp = stampless(`lat-warm-${runId}`, RATE * WARM_SECONDS);
      await atRate(warmUp.length, (i) => gql(server.url, RECORD_ACTIVITY, { events: [warmUp[i]] }));
      await until(() => warm >= SUBSCRIBERS * (1 + warmUp.length), 60_000, 'every warm-up delivery');

      const events = stampless(`lat-${runId}`, RATE * SECONDS);
      const responses: number[] = [];
      await atRate(events.length, (i) => {
        const event = events[i] as (typeof events)[number];
        const t0 = performance.now();
        sentAt.set(event.eventId, t0);
        return gql(server.url, RECORD_ACTIVITY, { events: [event] }).then(
          () => void responses.push(performance.now() - t0),
        );
      });
      await until(() => delays.length >= events.length * SUBSCRIBERS, 60_000, 'every delivery');
      delays.sort((a, b) => a - b);
      sinceStamp.sort((a, b) => a - b);
      responses.sort((a, b) => a - b);
      const p50 = percentile(sinceStamp, 50);
      const p99 = percentile(sinceStamp, 99);
      const sent50 = percentile(delays, 50);
      const sent99 = percentile(delays, 99);
      const ours = spreadOf([...receipts.values()]);
      // The bare server measures alone (the finally below does this again, which is harmless).
      await Promise.all(sockets.map((s) => s.close()));
      await server.stop();
      const bare = await measureBareLatency(events.length);
      const notes =
        `${events.length} one-event mutations at ${RATE}/s, ${delays.length} deliveries; ` +
        `the mutation's response (ack PROCESSED) p50 ${percentile(responses, 50).toFixed(1)} ms, p99 ${percentile(responses, 99).toFixed(1)} ms; ` +
        `from the client's send: p50 ${sent50.toFixed(1)} ms, p99 ${sent99.toFixed(1)} ms. ` +
        `An item's first and last receipt (median over items): ${ours.first} and ${ours.last} ms here, ` +
        `${bare.spread.first} and ${bare.spread.last} ms from the bare ws server`;
      const figure = `commit → receipt (at most: from the server's stamp just before the commit), ${SUBSCRIBERS} subscribers, ${RATE} events/s`;
      return [
        {
          scenario: 'end-to-end latency p50',
          figure,
          value: p50,
          unit: 'ms',
          baselineLabel: 'bare ws broadcast to the same clients, send → receipt p50',
          baseline: bare.p50,
          ratio: bare.p50 / p50,
          target: 'p50 ≤ 10 ms',
          met: p50 <= 10,
          notes,
        },
        {
          scenario: 'end-to-end latency p99',
          figure,
          value: p99,
          unit: 'ms',
          baselineLabel: 'bare ws broadcast to the same clients, send → receipt p99',
          baseline: bare.p99,
          ratio: bare.p99 / p99,
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

/** Medians over items of the first and the last subscriber's receipt, in ms after the stamp. */
function spreadOf(items: ReadonlyArray<{ stamp: number; at: readonly number[] }>): { first: number; last: number } {
  const firsts = items.map((i) => Math.min(...i.at) - i.stamp).sort((a, b) => a - b);
  const lasts = items.map((i) => Math.max(...i.at) - i.stamp).sort((a, b) => a - b);
  return { first: percentile(firsts, 50), last: percentile(lasts, 50) };
}

/**
 * The bare `ws` figure: `count` frames shaped like the subscription's `next`, one every 1/RATE s,
 * each stamped by the bare server as it sends it (Date.now(), the clock the server's stamp uses),
 * to 1,000 sockets that parse every message as GqlSocket does.
 */
async function measureBareLatency(count: number) {
  const bare = await startBareWs();
  const receipts = new Map<number, { stamp: number; at: number[] }>();
  const sinceStamp: number[] = [];
  let sockets: WebSocket[] = [];
  try {
    sockets = await openBareSockets(bare.url, SUBSCRIBERS, (raw) => {
      const message = JSON.parse(raw.toString()) as {
        type: string;
        payload: { data: { userActivity: { eventId: string; occurredAt: string } } };
      };
      if (message.type !== 'next') return;
      const now = Date.now();
      const { eventId, occurredAt } = message.payload.data.userActivity;
      if (eventId === 'warm') return;
      const stamp = Number(occurredAt);
      sinceStamp.push(now - stamp);
      const entry = receipts.get(Number(eventId)) ?? { stamp, at: [] };
      entry.at.push(now);
      receipts.set(Number(eventId), entry);
    });
    const frame = JSON.stringify({
      id: '1',
      type: 'next',
      payload: {
        data: {
          userActivity: {
            cursor: 'MTIzNDU2Nzg5OjEyMzQ1Ng',
            eventId: '__N__',
            userId: 'u-1234',
            type: 'BROWSE',
            productId: 'p-567',
            quantity: 1,
            occurredAt: '__T__',
          },
        },
      },
    });
    // The same warm-up as the server's: frames whose eventId is not a number are not measured.
    await atRate(RATE * WARM_SECONDS, () => bare.broadcast(frame.replace('__N__', 'warm'), 1));
    await atRate(count, (i) => bare.broadcast(frame.replace('__N__', String(i)), 1));
    await until(() => sinceStamp.length >= count * SUBSCRIBERS, 60_000, 'every bare delivery');
    sinceStamp.sort((a, b) => a - b);
    return {
      p50: percentile(sinceStamp, 50),
      p99: percentile(sinceStamp, 99),
      spread: spreadOf([...receipts.values()]),
    };
  } finally {
    for (const s of sockets) s.terminate();
    await bare.stop();
  }
}
