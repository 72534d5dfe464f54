// withTransaction's round-trip savers (src/db/transaction.ts): the prelude's results reach the
// body, the epilogue commits with the body's writes, and a failing epilogue rolls all of it back.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTransaction } from '../../src/db/transaction.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('withTransaction with a prelude and an epilogue', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await pool.query('CREATE TABLE trips (name text PRIMARY KEY, n int NOT NULL)');
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const rowsNamed = async (name: string) =>
    (await pool.query('SELECT n FROM trips WHERE name = $1', [name])).rows.map((r) => r.n as number);

  it('hands the prelude results to the body, in one transaction, and commits the epilogue with it', async () => {
    const seen = await withTransaction(
      pool,
      async (tx, [first, second]) => {
        await tx.query(`INSERT INTO trips VALUES ('body', 1)`);
        return { first: first?.rows[0]?.a, second: second?.rows[0]?.b };
      },
      { prelude: 'SELECT 1 AS a; SELECT 2 AS b', epilogue: () => `INSERT INTO trips VALUES ('epilogue', 2)` },
    );
    expect([seen.first, seen.second]).toEqual([1, 2]);
    expect(await rowsNamed('body')).toEqual([1]);
    expect(await rowsNamed('epilogue')).toEqual([2]);
  });

  it('rolls the body back when the epilogue fails, and the connection stays usable', async () => {
    await expect(
      withTransaction(
        pool,
        async (tx) => {
          await tx.query(`INSERT INTO trips VALUES ('doomed', 3)`);
          return null;
        },
        { epilogue: () => `INSERT INTO trips VALUES ('body', 4)` }, // duplicate key
      ),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await rowsNamed('doomed')).toEqual([]);
    expect(await rowsNamed('body')).toEqual([1]);
    // Both pooled connections still work (none was left inside the failed transaction).
    const counts = await Promise.all([pool.query('SELECT 1 AS ok'), pool.query('SELECT 1 AS ok')]);
    expect(counts.map((r) => r.rows[0].ok)).toEqual([1, 1]);
  });

  it('sends no epilogue when it returns null', async () => {
    await withTransaction(
      pool,
      async (tx) => {
        await tx.query(`INSERT INTO trips VALUES ('alone', 5)`);
        return 'done';
      },
      { epilogue: () => null },
    );
    expect(await rowsNamed('alone')).toEqual([5]);
  });
});
