// Vitest globalSetup: rebuilds shopstream_template from the migrations once per run, so each test
// file clones an up-to-date schema (test/helpers/database.ts). A template must have no
// connections while it is copied: the pool that migrated it is closed before any file starts.
import pg from 'pg';
import { applyMigrations } from '../../src/db/migrate.js';
import { databaseUrl, TEMPLATE_DATABASE, withAdmin } from './database.js';

export default async function setup(): Promise<void> {
  await withAdmin(async (admin) => {
    // A template cannot be dropped; FORCE ends connections a crashed run may have left.
    await admin.query(`ALTER DATABASE ${TEMPLATE_DATABASE} IS_TEMPLATE false`).catch((error) => {
      if ((error as { code?: string }).code !== '3D000') throw error; // 3D000: does not exist
    });
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  });
  const pool = new pg.Pool({ connectionString: databaseUrl(TEMPLATE_DATABASE), max: 1 });
  try {
    await applyMigrations(pool);
  } finally {
    await pool.end();
  }
  await withAdmin(async (admin) => {
    await admin.query(`ALTER DATABASE ${TEMPLATE_DATABASE} IS_TEMPLATE true`);
  });
}
