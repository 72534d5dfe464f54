// The server's two pools against real PostgreSQL: every connection has an idle-in-transaction
// timeout, and the read pool's connections a statement timeout.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { AUTO_PREPARE_AFTER } from '../../src/db/auto-prepare.js';
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

describe('auto-prepared statements', () => {
  const prepared = async (client: { query: Db['pool']['query'] }, marker: string) =>
    (await client.query('SELECT name, statement FROM pg_prepared_statements WHERE strpos(statement, $1) > 0', [marker]))
      .rows as Array<{ name: string }>;

  it(`prepares a statement sent with parameters once it has run ${AUTO_PREPARE_AFTER} times, and gives the same answers`, async () => {
    const client = await db.pool.connect();
    try {
      const text = `SELECT $1::int + 1 AS next /* auto-prepare-${Date.now()} */`;
      const marker = text.slice(text.indexOf('auto-prepare-'));
      for (let i = 1; i < AUTO_PREPARE_AFTER; i++) {
        expect((await client.query(text, [i])).rows).toEqual([{ next: i + 1 }]);
      }
      expect(await prepared(client, marker)).toEqual([]);
      for (let i = 0; i < 3; i++)
        expect((await client.query({ text, values: [40 + i] })).rows).toEqual([{ next: 41 + i }]);
      const named = await prepared(client, marker);
      expect(named).toHaveLength(1);
      expect(named[0]?.name).toMatch(/^shopstream_auto_\d+$/);
    } finally {
      client.release();
    }
  });

  it('never prepares a statement without parameters, however often it runs', async () => {
    const client = await db.pool.connect();
    try {
      const text = `SELECT 1 AS one /* unprepared-${Date.now()} */`;
      for (let i = 0; i < 2 * AUTO_PREPARE_AFTER; i++) await client.query(text);
      expect(await prepared(client, text.slice(text.indexOf('unprepared-')))).toEqual([]);
    } finally {
      client.release();
    }
  });
});
