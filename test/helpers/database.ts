// A fresh database per test file, cloned from shopstream_template (migrated once by
// global-setup.ts): cloning is a file copy, so every file starts migrated and isolated in
// milliseconds instead of replaying the migrations.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Set by global-setup.ts for this run; a fixed name serves scripts run outside vitest. */
export const TEMPLATE_DATABASE = process.env.SHOPSTREAM_TEMPLATE_DATABASE ?? 'shopstream_template';

export type TestDatabase = { url: string; name: string; drop(): Promise<void> };

/** The maintenance connection that creates and drops databases. */
export function adminUrl(): string {
  return process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
}

/** `adminUrl()` pointed at another database on the same server. */
export function databaseUrl(name: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `fn` with a short-lived admin connection. */
export async function withAdmin<T>(fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl(), application_name: 'shopstream-tests' });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/** Creates an empty database (no migrations), for tests of the migrator itself. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  return create(null);
}

export async function createTestDatabase(): Promise<TestDatabase> {
  return create(TEMPLATE_DATABASE);
}

async function create(template: string | null): Promise<TestDatabase> {
  const name = `shopstream_t_${randomBytes(6).toString('hex')}`;
  const sql = `CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`;
  await withAdmin(async (admin) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(sql);
        return;
      } catch (error) {
        // 55006: a connection to the template was still closing; PostgreSQL refuses to copy then.
        if ((error as { code?: string }).code !== '55006' || attempt >= 10) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  });
  let dropping: Promise<void> | undefined;
  return {
    name,
    url: databaseUrl(name),
    drop() {
      dropping ??= withAdmin(async (admin) => {
        // pg's Pool.end() resolves before its sockets close: a session still closing would be
        // killed by FORCE, and its client would report the kill as an unhandled error. So first
        // wait, bounded, for the sessions to go; FORCE then only ends what a failed test left open.
        const deadline = Date.now() + 2000;
        for (;;) {
          const { rows } = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [
            name,
          ]);
          if (rows[0]?.n === 0 || Date.now() > deadline) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      return dropping;
    },
  };
}
