// The migrator against fresh empty databases (not the template): Prisma-compatible bookkeeping,
// idempotence, concurrent start-ups, and refusal of edited or half-applied history.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { applyMigrations, migrationStatus } from '../../src/db/migrate.js';
import { createEmptyDatabase, type TestDatabase } from '../helpers/database.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations/', import.meta.url));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function emptyDatabase(): Promise<{ db: TestDatabase; pool: pg.Pool }> {
  const db = await createEmptyDatabase();
  cleanups.push(() => db.drop());
  return { db, pool: openPool(db.url) };
}

function openPool(url: string, max = 2): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  cleanups.push(() => pool.end());
  return pool;
}

async function migrationFolders(): Promise<Array<{ name: string; checksum: string }>> {
  const names = (await fs.readdir(MIGRATIONS_DIR, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => ({
      name,
      checksum: createHash('sha256')
        .update(await fs.readFile(path.join(MIGRATIONS_DIR, name, 'migration.sql')))
        .digest('hex'),
    })),
  );
}

/** A migrations folder of our own, for histories the real one does not have. */
async function scratchMigrations(files: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shopstream-migrations-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  for (const [name, sql] of Object.entries(files)) {
    await fs.mkdir(path.join(dir, name));
    await fs.writeFile(path.join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

type HistoryRow = {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
  logs: string | null;
  rolled_back_at: Date | null;
};

async function history(pool: pg.Pool): Promise<HistoryRow[]> {
  const { rows } = await pool.query<HistoryRow>('SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
  return rows;
}

describe('applyMigrations', () => {
  it('applies every migration and records it as Prisma Migrate does', async () => {
    const { pool } = await emptyDatabase();
    const expected = await migrationFolders();
    expect(expected.length).toBeGreaterThan(0);

    const { applied } = await applyMigrations(pool);

    expect(applied).toEqual(expected.map((m) => m.name));
    const rows = await history(pool);
    expect(rows.map((row) => row.migration_name)).toEqual(expected.map((m) => m.name));
    for (const [i, row] of rows.entries()) {
      expect(row.checksum).toBe(expected[i]?.checksum);
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      expect(row.applied_steps_count).toBe(1);
      expect(row.logs).toBeNull();
      expect(row.rolled_back_at).toBeNull();
    }
    const { rows: tables } = await pool.query<{ t: string | null }>(`SELECT to_regclass('activity_events')::text AS t`);
    expect(tables[0]?.t).toBe('activity_events');
  });

  it('creates _prisma_migrations with the columns Prisma Migrate expects', async () => {
    const { pool } = await emptyDatabase();
    await applyMigrations(pool);
    const { rows } = await pool.query<{ column: string; type: string; nullable: boolean }>(
      `SELECT a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
              NOT a.attnotnull AS nullable
         FROM pg_attribute a
        WHERE a.attrelid = '"_prisma_migrations"'::regclass AND a.attnum > 0
        ORDER BY a.attnum`,
    );
    expect(rows).toEqual([
      { column: 'id', type: 'character varying(36)', nullable: false },
      { column: 'checksum', type: 'character varying(64)', nullable: false },
      { column: 'finished_at', type: 'timestamp with time zone', nullable: true },
      { column: 'migration_name', type: 'character varying(255)', nullable: false },
      { column: 'logs', type: 'text', nullable: true },
      { column: 'rolled_back_at', type: 'timestamp with time zone', nullable: true },
      { column: 'started_at', type: 'timestamp with time zone', nullable: false },
      { column: 'applied_steps_count', type: 'integer', nullable: false },
    ]);
  });

  it('applies nothing the second time', async () => {
    const { pool } = await emptyDatabase();
    await applyMigrations(pool);
    const before = await history(pool);

    expect(await applyMigrations(pool)).toEqual({ applied: [] });
    expect(await history(pool)).toEqual(before);
  });

  it('lets concurrent start-ups race: each migration is applied exactly once', async () => {
    const { db } = await emptyDatabase();
    // Slow migrations widen the window in which the racers overlap.
    const dir = await scratchMigrations({
      '001_first': 'CREATE TABLE one (id int); SELECT pg_sleep(0.2);',
      '002_second': 'CREATE TABLE two (id int); SELECT pg_sleep(0.2);',
      '003_third': 'INSERT INTO one VALUES (1);',
    });
    const pools = [openPool(db.url, 1), openPool(db.url, 1), openPool(db.url, 1)];

    const results = await Promise.all(pools.map((pool) => applyMigrations(pool, { dir })));

    const all = results.flatMap((result) => result.applied).sort();
    expect(all).toEqual(['001_first', '002_second', '003_third']);
    const rows = await history(pools[0]!);
    expect(rows.map((row) => row.migration_name)).toEqual(['001_first', '002_second', '003_third']);
    const { rows: ones } = await pools[0]!.query('SELECT * FROM one');
    expect(ones).toEqual([{ id: 1 }]);
  });

  it('concurrent runs of the real migrations both succeed', async () => {
    const { db } = await emptyDatabase();
    const [a, b] = await Promise.all([applyMigrations(openPool(db.url, 1)), applyMigrations(openPool(db.url, 1))]);
    const names = (await migrationFolders()).map((m) => m.name);
    expect([...a.applied, ...b.applied].sort()).toEqual(names);
    const rows = await history(openPool(db.url, 1));
    expect(rows.map((row) => row.migration_name)).toEqual(names);
  });

  it('refuses a migration edited after it was applied, naming it', async () => {
    const { pool } = await emptyDatabase();
    await applyMigrations(pool);
    const [first] = await migrationFolders();
    await pool.query(`UPDATE "_prisma_migrations" SET checksum = repeat('0', 64) WHERE migration_name = $1`, [
      first!.name,
    ]);

    await expect(applyMigrations(pool)).rejects.toThrow(
      new RegExp(`Migration ${first!.name} was changed after it was applied`),
    );
  });

  it('accepts the same file with other line endings, as Prisma does', async () => {
    const { pool } = await emptyDatabase();
    const sql = 'CREATE TABLE crlf (id int);\nCREATE TABLE crlf2 (id int);\n';
    await applyMigrations(pool, { dir: await scratchMigrations({ '001_crlf': sql }) });
    const windows = await scratchMigrations({ '001_crlf': sql.replaceAll('\n', '\r\n') });

    expect(await applyMigrations(pool, { dir: windows })).toEqual({ applied: [] });
  });

  it('refuses to go on after a migration that never finished, naming it', async () => {
    const { pool } = await emptyDatabase();
    const dir = await scratchMigrations({ '001_ok': 'CREATE TABLE ok (id int);' });
    await applyMigrations(pool, { dir });
    // What `prisma migrate deploy` leaves behind when a migration fails half-way.
    await pool.query(`UPDATE "_prisma_migrations" SET finished_at = NULL, logs = 'boom'`);

    await expect(applyMigrations(pool, { dir })).rejects.toThrow(/Migration 001_ok was started but never finished/);
    // Marked rolled back (prisma migrate resolve --rolled-back), it is applied again.
    await pool.query('DROP TABLE ok');
    await pool.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now()`);
    expect(await applyMigrations(pool, { dir })).toEqual({ applied: ['001_ok'] });
  });

  it('rolls a failing migration back with its bookkeeping row, and names it and the line', async () => {
    const { pool } = await emptyDatabase();
    const dir = await scratchMigrations({
      '001_ok': 'CREATE TABLE ok (id int);',
      '002_bad': 'CREATE TABLE half (id int);\n\nINSERT INTO missing VALUES (1);\n',
    });

    await expect(applyMigrations(pool, { dir })).rejects.toThrow(
      /Migration 002_bad failed at line 3 of migration.sql and was rolled back: .*missing/,
    );
    const rows = await history(pool);
    expect(rows.map((row) => row.migration_name)).toEqual(['001_ok']);
    const { rows: half } = await pool.query(`SELECT to_regclass('half') AS t`);
    expect(half[0]?.t).toBeNull();
    // Fixed, the next run applies it.
    await fs.writeFile(path.join(dir, '002_bad', 'migration.sql'), 'CREATE TABLE half (id int);');
    expect(await applyMigrations(pool, { dir })).toEqual({ applied: ['002_bad'] });
  });

  it('refuses a database whose schema it did not build', async () => {
    const { pool } = await emptyDatabase();
    await pool.query('CREATE TABLE somebody_elses (id int)');

    await expect(applyMigrations(pool)).rejects.toThrow(/is not empty \(somebody_elses\)/);
    const { rows } = await pool.query(`SELECT to_regclass('"_prisma_migrations"') AS t`);
    expect(rows[0]?.t).toBeNull();
  });

  it('works through a pool of one connection, as the embedded database uses', async () => {
    const { db } = await emptyDatabase();
    const pool = openPool(db.url, 1);
    expect((await applyMigrations(pool)).applied.length).toBeGreaterThan(0);
    expect((await migrationStatus(pool)).pending).toEqual([]);
  });
});

describe('migrationStatus', () => {
  it('reports everything pending on a database without _prisma_migrations, none once migrated', async () => {
    const { pool } = await emptyDatabase();
    const names = (await migrationFolders()).map((m) => m.name);

    expect(await migrationStatus(pool)).toEqual({ applied: [], pending: names });
    await applyMigrations(pool);
    expect(await migrationStatus(pool)).toEqual({ applied: names, pending: [] });
  });

  it('reports a new migration folder as pending', async () => {
    const { pool } = await emptyDatabase();
    const files: Record<string, string> = { '001_a': 'CREATE TABLE a (id int);' };
    await applyMigrations(pool, { dir: await scratchMigrations(files) });
    const dir = await scratchMigrations({ ...files, '002_b': 'CREATE TABLE b (id int);' });

    expect(await migrationStatus(pool, { dir })).toEqual({ applied: ['001_a'], pending: ['002_b'] });
  });
});

afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

describe('the partner summaries migration', () => {
  it('turns each product’s pairs into a summary of its 64 strongest, strongest first, and drops the pairs', async () => {
    const { pool } = await emptyDatabase();
    const all = await migrationFolders();
    const before = all.filter((m) => m.name < '20261201060000_product_partner_summaries');
    const files: Record<string, string> = {};
    for (const { name } of before) {
      files[name] = await fs.readFile(path.join(MIGRATIONS_DIR, name, 'migration.sql'), 'utf8');
    }
    await applyMigrations(pool, { dir: await scratchMigrations(files) });
    // p-1 has 70 bought partners (q-00 strongest … q-69 weakest) and one viewed partner; p-2 one.
    const partners = Array.from({ length: 70 }, (_, i) => `q-${String(i).padStart(2, '0')}`);
    await pool.query(
      `INSERT INTO product_pairs (product_a, product_b, kind, score)
       SELECT 'p-1', b, 'bought', 100 - i FROM unnest($1::text[]) WITH ORDINALITY AS x(b, i)
       UNION ALL VALUES ('p-1', 'v-1', 'viewed', 0.5), ('p-2', 'b', 'bought', 2), ('p-2', 'a', 'bought', 2)`,
      [partners],
    );

    const { applied } = await applyMigrations(pool, { dir: MIGRATIONS_DIR });

    expect(applied[0]).toBe('20261201060000_product_partner_summaries');
    const { rows } = await pool.query('SELECT product_id, kind, partners FROM product_partners ORDER BY 1, 2');
    const summaries = rows.map((r) => ({ ...r, partners: JSON.parse(r.partners) }));
    expect(summaries.map((s) => [s.product_id, s.kind, s.partners.length])).toEqual([
      ['p-1', 'bought', 64],
      ['p-1', 'viewed', 1],
      ['p-2', 'bought', 2],
    ]);
    expect(summaries[0]?.partners.slice(0, 2)).toEqual([
      ['q-00', 99],
      ['q-01', 98],
    ]);
    expect(summaries[0]?.partners.at(-1)).toEqual(['q-63', 36]);
    expect(summaries[2]?.partners).toEqual([
      ['a', 2],
      ['b', 2],
    ]);
    const { rows: tables } = await pool.query(`SELECT to_regclass('product_pairs') AS pairs`);
    expect(tables[0]?.pairs).toBeNull();
  });
});

describe('the dead letter fingerprints migration', () => {
  it('keeps the first of the letters stored more than once (same stream, code and item), and every other', async () => {
    const { pool } = await emptyDatabase();
    const all = await migrationFolders();
    const files: Record<string, string> = {};
    for (const { name } of all.filter((m) => m.name < '20261201090000_add_dead_letter_fingerprints')) {
      files[name] = await fs.readFile(path.join(MIGRATIONS_DIR, name, 'migration.sql'), 'utf8');
    }
    await applyMigrations(pool, { dir: await scratchMigrations(files) });
    await pool.query(
      `INSERT INTO dead_letters (stream, event_id, batch_index, code, message, payload) VALUES
         ('activity', 'a', 1, 'MISSING_PRICE', 'first', '{"eventId": "a", "type": "PURCHASE"}'),
         ('activity', 'a', 0, 'MISSING_PRICE', 'resent', '{"type": "PURCHASE", "eventId": "a"}'),
         ('activity', 'a', 0, 'EVENT_ID_CONFLICT', 'other code', '{"eventId": "a", "type": "PURCHASE"}'),
         ('inventory', 'a', 0, 'MISSING_PRICE', 'other stream', '{"eventId": "a", "type": "PURCHASE"}'),
         ('activity', NULL, 0, 'INVALID_EVENT_ID', 'no id', '{"eventId": 1}'),
         ('activity', NULL, 0, 'INVALID_EVENT_ID', 'no id again', '{"eventId": 1}'),
         ('activity', NULL, 0, 'INVALID_EVENT_ID', 'other item', '{"eventId": 2}')`,
    );

    const { applied } = await applyMigrations(pool, { dir: MIGRATIONS_DIR });

    expect(applied).toContain('20261201090000_add_dead_letter_fingerprints');
    const { rows } = await pool.query('SELECT message FROM dead_letters ORDER BY id');
    expect(rows.map((r) => r.message)).toEqual(['first', 'other code', 'other stream', 'no id', 'other item']);
    await expect(
      pool.query(
        `INSERT INTO dead_letters (stream, event_id, batch_index, code, message, payload, payload_sha256)
         VALUES ('activity', 'a', 0, 'MISSING_PRICE', 'x', '{}', sha256(convert_to('{"type": "PURCHASE", "eventId": "a"}', 'UTF8')))`,
      ),
    ).rejects.toThrow(/dead_letters_stream_code_payload_sha256_key/);
  });
});
