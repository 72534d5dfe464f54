// Applies prisma/migrations/<name>/migration.sql in name order, each in one transaction with its
// _prisma_migrations row written as Prisma Migrate writes it, under Prisma Migrate's own advisory
// lock: concurrent start-ups (and `prisma migrate deploy`) never apply a migration twice, a failed
// migration leaves nothing behind, and an edited or half-applied migration stops the run.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Logger } from 'pino';

export type MigrateOptions = {
  /** Folder of `<name>/migration.sql`; defaults to the repository's prisma/migrations. */
  dir?: string;
  log?: Logger;
};

type Migration = { name: string; sql: string; checksum: string };

type Row = {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
};

// The number Prisma Migrate locks on: our runs and `prisma migrate deploy` exclude each other.
const LOCK_KEY = 72707369;

// Prisma Migrate's DDL for PostgreSQL, so `prisma migrate deploy` accepts the table as its own.
const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export async function applyMigrations(pool: pg.Pool, options: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const { log } = options;
  const migrations = await readMigrations(options.dir ?? defaultMigrationsDir());
  // One connection for the whole run: a session advisory lock belongs to its connection, and the
  // embedded database's pool has room for only one.
  const client = await pool.connect();
  let unusable: Error | undefined;
  try {
    const { rows: locked } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_KEY]);
    if (!locked[0]?.ok) {
      log?.info('another process is migrating this database; waiting for it');
      await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    }
    try {
      return { applied: await migrateLocked(client, migrations, log) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch((error: Error) => {
        unusable = error; // closing the connection is what frees the lock then
      });
    }
  } catch (error) {
    // After a failure the session's state is unknown (aborted, still locked): do not reuse it.
    unusable ??= error as Error;
    throw error;
  } finally {
    client.release(unusable);
  }
}

/** What /ready needs: migrations recorded as applied, and those in the folder still to apply. */
export async function migrationStatus(
  pool: pg.Pool,
  options: MigrateOptions = {},
): Promise<{ applied: string[]; pending: string[] }> {
  const names = await listMigrationNames(options.dir ?? defaultMigrationsDir());
  const { rows: exists } = await pool.query<{ table: string | null }>(
    `SELECT to_regclass('"_prisma_migrations"')::text AS table`,
  );
  if (!exists[0]?.table) return { applied: [], pending: names };
  const { rows } = await pool.query<{ migration_name: string }>(
    `SELECT DISTINCT migration_name FROM "_prisma_migrations"
      WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name`,
  );
  const applied = rows.map((row) => row.migration_name);
  const done = new Set(applied);
  return { applied, pending: names.filter((name) => !done.has(name)) };
}

async function migrateLocked(
  client: pg.PoolClient,
  migrations: Migration[],
  log: Logger | undefined,
): Promise<string[]> {
  await refuseForeignSchema(client);
  await client.query(CREATE_TABLE);
  const { rows } = await client.query<Row>(
    `SELECT id, checksum, migration_name, finished_at, rolled_back_at
       FROM "_prisma_migrations" ORDER BY started_at`,
  );
  const pending = checkHistory(rows, migrations, log);
  const applied: string[] = [];
  for (const migration of pending) {
    const started = Date.now();
    log?.info({ migration: migration.name }, 'applying migration');
    await applyOne(client, migration);
    log?.info({ migration: migration.name, ms: Date.now() - started }, 'migration applied');
    applied.push(migration.name);
  }
  return applied;
}

/** Returns the migrations still to apply; throws when the history says we must not go on. */
function checkHistory(rows: Row[], migrations: Migration[], log?: Logger): Migration[] {
  const known = new Set(migrations.map((m) => m.name));
  const unknown = [...new Set(rows.map((row) => row.migration_name))].filter((n) => !known.has(n));
  if (unknown.length > 0) {
    // A newer release may have migrated this database; older code keeps running on it.
    log?.warn({ unknown }, 'the database has migrations that are not in the migrations folder');
  }
  const pending: Migration[] = [];
  for (const migration of migrations) {
    const live = rows.filter((row) => row.migration_name === migration.name && row.rolled_back_at === null);
    const finished = live.find((row) => row.finished_at !== null);
    if (finished) {
      if (!checksumMatches(migration.sql, finished.checksum)) {
        throw new Error(
          `Migration ${migration.name} was changed after it was applied: its migration.sql no ` +
            `longer matches the checksum recorded in _prisma_migrations (${finished.checksum}). ` +
            'Restore the file and put the change in a new migration.',
        );
      }
      continue;
    }
    if (live.length > 0) {
      throw new Error(
        `Migration ${migration.name} was started but never finished (a failed earlier run). ` +
          'Repair the database by hand, then mark it with ' +
          `\`prisma migrate resolve --applied ${migration.name}\` or --rolled-back.`,
      );
    }
    pending.push(migration);
  }
  return pending;
}

async function applyOne(client: pg.PoolClient, migration: Migration): Promise<void> {
  const id = randomUUID();
  await client.query('BEGIN');
  try {
    // Same row and steps as Prisma Migrate: started, one successful step, finished.
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at)
       VALUES ($1, $2, $3, clock_timestamp())`,
      [id, migration.checksum, migration.name],
    );
    try {
      await client.query(migration.sql); // simple protocol: several statements in one go
    } catch (error) {
      throw new Error(
        `Migration ${migration.name} failed${lineOf(migration.sql, error)} and was rolled back: ` +
          (error as Error).message,
        { cause: error },
      );
    }
    await client.query(
      `UPDATE "_prisma_migrations"
          SET applied_steps_count = applied_steps_count + 1, finished_at = clock_timestamp()
        WHERE id = $1`,
      [id],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

// Like Prisma Migrate, never take over a schema it did not build: that is the wrong database.
async function refuseForeignSchema(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ schema: string; tables: string[] | null }>(
    `SELECT current_schema() AS schema,
            (SELECT array_agg(c.relname::text ORDER BY c.relname)
               FROM pg_class c
              WHERE c.relnamespace = to_regnamespace(current_schema())
                AND c.relkind IN ('r', 'p', 'v', 'm', 'f')) AS tables`,
  );
  const tables = rows[0]?.tables ?? [];
  if (tables.length === 0 || tables.includes('_prisma_migrations')) return;
  throw new Error(
    `The database schema "${rows[0]?.schema}" is not empty (${tables.slice(0, 5).join(', ')}` +
      `${tables.length > 5 ? ', …' : ''}) and has no _prisma_migrations table, so these ` +
      'migrations did not build it. Use an empty database, or baseline this one first.',
  );
}

// Prisma's rule: as written, or with line endings converted either way (git may rewrite them);
// very old Prisma versions stored the hex without zero padding.
function checksumMatches(sql: string, recorded: string): boolean {
  const variants = [sql, sql.replaceAll('\r\n', '\n'), sql.replaceAll('\n', '\r\n')];
  return variants.some((text) => {
    const digest = createHash('sha256').update(text, 'utf8').digest();
    const hex = recorded.length === 64 ? digest.toString('hex') : [...digest].map((byte) => byte.toString(16)).join('');
    return hex === recorded;
  });
}

async function readMigrations(dir: string): Promise<Migration[]> {
  const names = await listMigrationNames(dir);
  return Promise.all(
    names.map(async (name) => {
      const bytes = await fs.readFile(path.join(dir, name, 'migration.sql'));
      return {
        name,
        sql: bytes.toString('utf8'),
        checksum: createHash('sha256').update(bytes).digest('hex'),
      };
    }),
  );
}

async function listMigrationNames(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch((error) => {
    throw new Error(`cannot read the migrations folder ${dir}: ${(error as Error).message}`);
  });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  for (const name of names) {
    if (!existsSync(path.join(dir, name, 'migration.sql'))) {
      throw new Error(`the migration folder ${path.join(dir, name)} has no migration.sql`);
    }
  }
  return names;
}

// From src/db under tsx and from dist/src/db after tsc: the repository root is the nearest
// folder above with package.json and prisma/migrations (a package.json copied into dist/ is not).
function defaultMigrationsDir(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'prisma', 'migrations');
    if (existsSync(path.join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) {
      throw new Error(`no prisma/migrations found in any folder above ${start}`);
    }
  }
}

function lineOf(sql: string, error: unknown): string {
  const position = Number((error as { position?: string }).position);
  if (!Number.isInteger(position) || position < 1) return '';
  return ` at line ${sql.slice(0, position - 1).split('\n').length} of migration.sql`;
}
