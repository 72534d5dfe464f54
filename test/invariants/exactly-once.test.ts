// Invariant 2: every eventId takes effect once, however many connections send it at once.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(disposeAll);

describe('exactly once', () => {
  it('concurrent batches with overlapping eventIds from several connections store each event exactly once', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `overlap-${i}`);
    // 8 clients, each sending shuffled, overlapping slices of the same ids at the same time.
    const batches = Array.from({ length: 8 }, (_, client) =>
      ids
        .filter((_, i) => (i + client) % 3 !== 0)
        .sort(() => Math.random() - 0.5)
        .map((eventId) => ({ eventId, userId: 'overlap', type: 'BROWSE', productId: eventId })),
    );
    const reports = await Promise.all(
      batches.map((events) =>
        gql(
          server.url,
          'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e) { accepted duplicates } }',
          { e: events },
        ),
      ),
    );
    const accepted = reports.reduce((sum, r) => sum + r.data?.recordActivity.accepted, 0);
    const duplicates = reports.reduce((sum, r) => sum + r.data?.recordActivity.duplicates, 0);
    expect(accepted).toBe(ids.length);
    expect(accepted + duplicates).toBe(batches.reduce((sum, b) => sum + b.length, 0));

    const db = new pg.Client({ connectionString: server.databaseUrl });
    await db.connect();
    const { rows } = await db.query(
      `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM activity_events WHERE user_id = 'overlap'`,
    );
    await db.end();
    expect(rows[0]).toEqual({ n: ids.length, d: ids.length });
  });
});
