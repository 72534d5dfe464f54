// The chaos checks must see what they look for: a run's data (a real server, real processors)
// passes with 0 everywhere, then each kind of damage is made by hand and counted by its check.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../src/feed/cursor.js';
import { disposeAll, startTestServer } from '../helpers/server.js';
import { type Anomaly, checkRun } from './check.js';
import type { Cluster } from './cluster.js';
import { seeded } from './random.js';
import {
  type Follower,
  initialCounts,
  makeBatch,
  newLedger,
  type Received,
  STREAMS,
  sendUntilAcknowledged,
  timeBase,
} from './workload.js';

afterAll(disposeAll);

const counts = (anomalies: Anomaly[]) => Object.fromEntries(anomalies.map((a) => [a.check, a.count]));

describe('the chaos checks', () => {
  it('count 0 on a clean run and find each planted anomaly', async () => {
    const server = await startTestServer();
    const cluster = { live: () => [{ service: { url: server.url }, paused: false }] } as unknown as Cluster;
    const ledger = newLedger();
    const random = seeded(7);
    const base = timeBase();
    const forever = () => Date.now() + 30_000;
    await sendUntilAcknowledged(cluster, ledger, random, initialCounts(base), forever);
    for (let b = 0; b < 40; b++) {
      const batch = { ...makeBatch(random, 0, b, base), ack: 'PROCESSED' as const };
      await sendUntilAcknowledged(cluster, ledger, random, batch, forever);
    }

    const db = new pg.Client({ connectionString: server.databaseUrl });
    await db.connect();
    try {
      // Followers that received exactly their feeds, as read from the database.
      const cursor = (row: { tx: string; sq: string }) => encodeCursor({ txId: BigInt(row.tx), seq: BigInt(row.sq) });
      const received = async (table: string, where?: string): Promise<Received[]> => {
        const { rows } = await db.query(
          `SELECT t.*, t.tx_id::text AS tx, t.seq::text AS sq${table === 'sales_windows' ? ', t.revenue_minor::text AS minor' : ''}
             FROM ${table} t ${where ? `WHERE ${where}` : ''} ORDER BY t.tx_id, t.seq`,
        );
        return rows.map((row) => {
          if (table === 'activity_events') return { eventId: row.event_id, cursor: cursor(row) };
          if (table === 'stock_warnings') return { cursor: cursor(row) };
          const minor = String(row.minor).padStart(3, '0');
          return {
            cursor: cursor(row),
            size: row.size,
            start: (row.window_start as Date).toISOString(),
            currency: row.currency,
            revenue: `${minor.slice(0, -2)}.${minor.slice(-2)}`,
            orders: Number(row.orders),
            units: Number(row.units),
            revision: row.revision,
          };
        });
      };
      const followers: Follower[] = [];
      for (const spec of STREAMS) {
        const follower = {
          spec,
          received: await received(spec.table, spec.where),
          serverErrors: new Map(),
          serverErrorMessages: new Map(),
        };
        followers.push(follower as unknown as Follower);
      }
      const run = { ledger, followers, laggingFollowers: [], laggingProcessors: [], unexpectedExits: [] };
      const clean = await checkRun(db, run);
      expect(counts(clean)).toEqual(Object.fromEntries(clean.map((a) => [a.check, 0])));
      const [activity, warnings, minutes] = followers as [Follower, Follower, Follower];
      expect(warnings.received.length).toBeGreaterThan(1);

      // Damage, one of each kind.
      ledger.acknowledged.set('acknowledged-but-never-stored', 'activity');
      const items = activity.received;
      items.push(items[0] as Received); // delivered twice
      [items[1], items[2]] = [items[2] as Received, items[1] as Received]; // out of order
      items.splice(5, 1); // skipped
      await db.query(`UPDATE stock_levels SET quantity = quantity + 1 WHERE product_id = 'p0'`);
      // The last warning disappears: its product's warnings differ, and a follower has one not in the database.
      await db.query('DELETE FROM stock_warnings WHERE seq = (SELECT max(seq) FROM stock_warnings)');
      const window = minutes.received.at(-1) as Received;
      await db.query(
        `UPDATE sales_windows SET units = units + 1 WHERE size = 'MINUTE' AND window_start = $1 AND currency = $2`,
        [window.start, window.currency],
      );
      await db.query(
        `UPDATE product_activity_hourly SET browses = browses + 1
          WHERE (hour, product_id, currency) = (SELECT hour, product_id, currency FROM product_activity_hourly LIMIT 1)`,
      );
      ledger.refusals.set('INTERNAL_SERVER_ERROR', 1);
      ledger.refusalMessages.set('INTERNAL_SERVER_ERROR', 'Unexpected error.');

      const found = counts(await checkRun(db, { ...run, laggingProcessors: ['sales is 3 events behind'] }));
      expect(found).toMatchObject({
        'acknowledged events lost': 1,
        'stock levels ≠ recomputation from the log': 1,
        'products whose warnings ≠ recomputation': 1,
        'sales windows ≠ recomputation from the log': 1,
        'hourly product summaries ≠ recomputation': 1,
        'items delivered twice to a subscriber': 1,
        'items delivered out of order': 1,
        // The removed event, and the MINUTE window whose last state received is no longer the stored one.
        'items skipped by a subscriber (or stale)': 2,
        'items delivered but not in the database': 1,
        'processors that never caught up': 1,
        'internal errors shown to clients': 1,
      });
      expect(found['events stored twice']).toBe(0);
    } finally {
      await db.end();
    }
  }, 120_000);
});
