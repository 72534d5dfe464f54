// Reconnect storm: 1,000 clients connect at once and resume userActivity from a cursor 1,000
// items back; timed from the first connect until every client has all 1,000 items. Baseline: the
// same 1,000 rows read by raw SQL 1,000 times (keyset page, 20 connections), in the same run.
import pg from 'pg';
import {
  ACTIVITY_SUBSCRIPTION,
  GqlSocket,
  gql,
  RECORD_ACTIVITY,
  type Result,
  type Scenario,
  scratchDatabase,
  startServer,
  until,
} from '../lib.js';
import { activityBatches } from './traffic.js';

const CLIENTS = Number(process.env.BENCH_STORM_CLIENTS ?? 1000);
const MISSED = 1000;

export const reconnectStorm: Scenario = {
  name: 'reconnect-storm',
  title: 'reconnect storm',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const server = await startServer(db.url);
    try {
      // The cursor of an anchor event, as a client that saw it would hold it.
      const first = new GqlSocket(server.wsUrl);
      await first.ready;
      let anchor: string | null = null;
      let warm = false;
      first.subscribe(ACTIVITY_SUBSCRIPTION, {}, (data) => {
        const item = data.userActivity as { eventId: string; cursor: string };
        if (item.eventId === 'anchor') anchor = item.cursor;
        else warm = true;
      });
      await gql(server.url, RECORD_ACTIVITY, {
        events: [{ eventId: 'warm', userId: 'u-0', type: 'BROWSE', productId: 'p-1' }],
      });
      await until(() => warm, 10_000, 'the first subscription');
      await gql(server.url, RECORD_ACTIVITY, {
        events: [{ eventId: 'anchor', userId: 'u-0', type: 'BROWSE', productId: 'p-1' }],
      });
      await until(() => anchor !== null, 10_000, 'the anchor');
      await first.close();
      for (const batch of activityBatches(MISSED / 500, 500, `storm-${Date.now().toString(36)}`)) {
        await gql(server.url, RECORD_ACTIVITY, { events: batch });
      }

      let complete = 0;
      const failures: unknown[] = [];
      const started = performance.now();
      const sockets = Array.from({ length: CLIENTS }, () => new GqlSocket(server.wsUrl));
      await Promise.all(
        sockets.map(async (socket) => {
          await socket.ready;
          let got = 0;
          socket.subscribe(
            ACTIVITY_SUBSCRIPTION,
            { after: anchor },
            () => {
              if (++got === MISSED) complete++;
            },
            (error) => {
              if (got < MISSED && error) failures.push(error);
            },
          );
        }),
      );
      await until(
        () => complete + failures.length === CLIENTS,
        60_000,
        `${CLIENTS} clients to catch up (${complete} did)`,
      );
      if (failures.length > 0) {
        throw new Error(
          `${failures.length} of ${CLIENTS} resumed subscriptions failed, e.g. ${JSON.stringify(failures[0])}`,
        );
      }
      const seconds = (performance.now() - started) / 1000;
      await Promise.all(sockets.map((s) => s.close()));

      const { rows } = await db.pool.query<{ tx_id: string; seq: string }>(
        "SELECT tx_id, seq FROM activity_events WHERE event_id = 'anchor'",
      );
      const from = [rows[0]?.tx_id, rows[0]?.seq];
      const pool = new pg.Pool({ connectionString: db.url, max: 20 });
      const rawStarted = performance.now();
      let read = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          const result = await pool.query(
            `SELECT event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id, occurred_at, tx_id, seq
               FROM activity_events WHERE (tx_id, seq) > ($1::bigint, $2::bigint) ORDER BY tx_id, seq LIMIT ${MISSED}`,
            from,
          );
          read += result.rows.length;
        }),
      );
      const rawSeconds = (performance.now() - rawStarted) / 1000;
      await pool.end();
      const ratio = seconds / rawSeconds;
      return [
        {
          scenario: 'reconnect storm',
          figure: `s for ${CLIENTS} clients to resume ${MISSED} missed items each`,
          value: seconds,
          unit: 's',
          baselineLabel: 'the same rows by raw SQL',
          baseline: rawSeconds,
          ratio,
          target: '≤ 3×',
          met: ratio <= 3,
          notes: `${CLIENTS * MISSED} items replayed; raw SQL read ${read} rows`,
        },
      ];
    } finally {
      await server.stop();
      await db.drop();
    }
  },
};
