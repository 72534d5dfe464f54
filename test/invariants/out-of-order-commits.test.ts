// Invariant 5: a reader never passes an item that an earlier-sequenced transaction has not
// committed yet. Two transactions are forced to commit out of sequence order.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activityFeed } from '../../src/core/activity/feed-source.js';
import { activityLog } from '../../src/core/activity/log.js';
import type { NewActivityEvent } from '../../src/core/activity/types.js';
import { START } from '../../src/feed/cursor.js';
import { readAfter } from '../../src/feed/feed.js';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { adminUrl } from '../helpers/database.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let pool: pg.Pool;

beforeAll(async () => {
  server = await startTestServer();
  pool = new pg.Pool({ connectionString: server.databaseUrl, max: 4 });
});
afterAll(async () => {
  await closeAllClients();
  await pool.end();
  await disposeAll();
});

const event = (eventId: string, userId: string): NewActivityEvent => ({
  eventId,
  userId,
  type: 'BROWSE',
  productId: eventId,
  quantity: 1,
  unitPriceMinor: null,
  currency: null,
  orderId: null,
  occurredAt: new Date(),
});

describe('out-of-order commits', () => {
  it('a reader does not pass a row whose transaction is still open, and sees both once it commits', async () => {
    const user = 'ooo-reader';
    const first = await pool.connect();
    const second = await pool.connect();
    try {
      await first.query('BEGIN');
      await second.query('BEGIN');
      const [a] = await activityLog.insert(first, [event('ooo-a', user)]); // lower seq, older transaction
      const [b] = await activityLog.insert(second, [event('ooo-b', user)]);
      expect(a!.position.seq < b!.position.seq).toBe(true);
      await second.query('COMMIT'); // the later sequence commits first

      const whileOpen = await readAfter(pool, activityFeed, START, { filter: { userId: user }, limit: 10 });
      expect(whileOpen.items).toEqual([]); // b is held back behind a's open transaction
      expect(whileOpen.heldBack).toBe(true);

      await first.query('COMMIT');
      const after = await readAfter(pool, activityFeed, START, { filter: { userId: user }, limit: 10 });
      expect(after.items.map((item) => item.eventId)).toEqual(['ooo-a', 'ooo-b']);
    } finally {
      first.release();
      second.release();
    }
  });

  it('a subscriber resuming after a cursor misses nothing when commits land out of order', async () => {
    const user = 'ooo-subscriber';
    await gql(
      server.url,
      `mutation { recordActivity(events: [{ eventId: "ooo-0", userId: "${user}", type: BROWSE, productId: "0" }]) { accepted } }`,
    );
    const page = await gql(server.url, `{ userActivity(userId: "${user}") { pageInfo { endCursor } } }`);
    const sub = subscribe<any>(
      server.wsUrl,
      `subscription ($after: String) { userActivity(userId: "${user}", after: $after) { eventId } }`,
      {
        after: page.data?.userActivity.pageInfo.endCursor,
      },
    );

    const slow = await pool.connect();
    const fast = await pool.connect();
    try {
      await slow.query('BEGIN');
      await fast.query('BEGIN');
      await activityLog.insert(slow, [event('ooo-1', user)]);
      await activityLog.insert(fast, [event('ooo-2', user)]);
      await fast.query('COMMIT');
      // The server's tailer polls meanwhile and must wait for ooo-1 instead of skipping it.
      await gql(
        server.url,
        `mutation { recordActivity(events: [{ eventId: "ooo-3", userId: "${user}", type: BROWSE, productId: "3" }]) { accepted } }`,
      );
      await slow.query('COMMIT');
    } finally {
      slow.release();
      fast.release();
    }
    const got = await sub.take(3);
    expect(got.map((d) => d.userActivity.eventId)).toEqual(['ooo-1', 'ooo-2', 'ooo-3']);
    await sub.dispose();
  });

  it('a transaction open in another database on the same server does not hold the feed back', async () => {
    const elsewhere = new pg.Client({ connectionString: adminUrl() });
    await elsewhere.connect();
    try {
      await elsewhere.query('BEGIN');
      await elsewhere.query('SELECT pg_current_xact_id()'); // takes an xid, older than the write below
      const user = 'ooo-elsewhere';
      await gql(
        server.url,
        `mutation { recordActivity(events: [{ eventId: "ooo-e", userId: "${user}", type: BROWSE, productId: "e" }]) { accepted } }`,
      );
      const page = await readAfter(pool, activityFeed, START, { filter: { userId: user }, limit: 10 });
      expect(page.items.map((item) => item.eventId)).toEqual(['ooo-e']);
      expect(page.heldBack).toBe(false);
    } finally {
      await elsewhere.query('ROLLBACK');
      await elsewhere.end();
    }
  });
});
