// Graceful shutdown: in-flight mutations finish and stay stored, open subscriptions complete,
// new work is refused, and the process exits 0 on SIGTERM.

import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAllClients, gql, subscribe, untilLive } from '../helpers/clients.js';
import { createTestDatabase } from '../helpers/database.js';
import { startProcess } from '../helpers/process.js';
import { disposeAll, startTestServer } from '../helpers/server.js';

afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('graceful shutdown', () => {
  it('refuses new work, finishes in-flight mutations, then completes subscriptions', async () => {
    const server = await startTestServer();
    const sub = subscribe<any>(server.wsUrl, 'subscription { userActivity { eventId } }');
    await untilLive(
      sub,
      (marker) =>
        gql(
          server.url,
          `mutation { recordActivity(events: [{ eventId: "${marker}", userId: "u", type: BROWSE, productId: "p" }]) { accepted } }`,
        ),
      (data) => data.userActivity.eventId,
    );

    // Hold a lock on one of the batch's eventIds so that the mutation is provably in flight.
    const db = new pg.Client({ connectionString: server.databaseUrl });
    await db.connect();
    await db.query('BEGIN');
    await db.query(`INSERT INTO activity_events (event_id, user_id, type, product_id, quantity, occurred_at)
                    VALUES ('inflight-0', 'u', 'BROWSE', 'p', 1, now())`);
    const batch = Array.from({ length: 500 }, (_, i) => ({
      eventId: `inflight-${i}`,
      userId: 'u',
      type: 'BROWSE',
      productId: 'p',
    }));
    const inflight = gql(
      server.url,
      'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e) { accepted } }',
      { e: batch },
    );
    await waitUntil(async () => {
      const { rows } = await db.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      return rows[0].n > 0;
    });

    const stopping = server.stop();
    // New work is refused at once, while the in-flight mutation is still running.
    const refused = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ __typename }"}',
    }).catch(() => null);
    if (refused) expect(refused.status).toBe(503);
    await db.query('ROLLBACK'); // let the in-flight mutation finish
    const answer = await inflight;
    await sub.completed; // then open subscriptions complete
    await stopping;

    expect(answer.data?.recordActivity.accepted).toBe(500);
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM activity_events WHERE event_id LIKE 'inflight-%'`);
    expect(rows[0].n).toBe(500);
    await db.end();
    await expect(fetch(server.url)).rejects.toThrow();
  });

  it('npm start exits 0 on SIGTERM', async () => {
    const database = await createTestDatabase();
    try {
      const child = await startProcess({ DATABASE_URL: database.url });
      const result = await gql(child.url, '{ __typename }');
      expect(result.data).toEqual({ __typename: 'Query' });
      expect(await child.stop('SIGTERM')).toBe(0);
      expect(child.output()).toContain('"msg":"stopped"');
    } finally {
      await database.drop();
    }
  });

  it('refuses a bad setting at start-up with a message naming it', async () => {
    const child = await startProcess({ PORT: 'eighty', LOW_STOCK_THRESHOLD: 'ten' }, { expectExit: true });
    expect(child.exitCode).toBe(1);
    expect(child.output()).toMatch(/PORT must be a whole number.*"eighty"/);
    expect(child.output()).toMatch(/LOW_STOCK_THRESHOLD/);
  });
});
