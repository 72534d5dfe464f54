// The server's two pools against real PostgreSQL: every connection has an idle-in-transaction
// timeout, and the read pool's connections a statement timeout.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDb, type Db } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let db: Db;

beforeAll(async () => {
  database = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: database.url,
    STATEMENT_TIMEOUT_MS: '1500',
    IDLE_IN_TRANSACTION_TIMEOUT_MS: '1000',
  });
  db = await createDb(config, pino({ level: 'silent' }));
});
afterAll(async () => {
  await db?.close();
  await database?.drop();
});

describe('database sessions', () => {
  it('a connection left idle in a transaction is ended by PostgreSQL after IDLE_IN_TRANSACTION_TIMEOUT_MS, and the pool goes on', async () => {
    const client = await db.pool.connect();
    const ended = new Promise<Error>((resolve) => client.once('error', resolve));
    await client.query('BEGIN');
    await client.query('SELECT 1');
    const error = await ended;
    expect(error.message).toMatch(/idle-in-transaction timeout/);
    client.release(true);
    expect((await db.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('queries run with STATEMENT_TIMEOUT_MS on the read pool only; the processors override the idle timeout in their own transactions', async () => {
    expect((await db.readPool.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('1500ms');
    expect((await db.pool.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('0');
    expect((await db.readPool.query('SHOW idle_in_transaction_session_timeout')).rows[0]).toEqual({
      idle_in_transaction_session_timeout: '1s',
    });
    const client = await db.pool.connect();
    try {
      const [, , shown] = (await client.query(
        `BEGIN; SELECT set_config('idle_in_transaction_session_timeout', '30s', true); SHOW idle_in_transaction_session_timeout`,
      )) as unknown as Array<{ rows: Array<Record<string, string>> }>;
      expect(shown?.rows[0]?.idle_in_transaction_session_timeout).toBe('30s');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });
});
