// Vitest globalSetup: builds a template database from the migrations once per run, so each test
// file clones an up-to-date schema (test/helpers/database.ts). Each run has its own template
// (named in SHOPSTREAM_TEMPLATE_DATABASE, which the test workers inherit), so two runs on one
// PostgreSQL server do not rebuild it under each other; it is dropped when the run ends. A template must have no
// connections while it is copied: the pool that migrated it is closed before any file starts.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { applyMigrations } from '../../src/db/migrate.js';
import { databaseUrl, withAdmin } from './database.js';

export default async function setup(): Promise<() => Promise<void>> {
  const TEMPLATE_DATABASE = `shopstream_template_${randomBytes(4).toString('hex')}`;
  process.env.SHOPSTREAM_TEMPLATE_DATABASE = TEMPLATE_DATABASE;
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
  return async () => {
    await withAdmin(async (admin) => {
      await admin.query(`ALTER DATABASE ${TEMPLATE_DATABASE} IS_TEMPLATE false`);
      await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
    });
  };
}
