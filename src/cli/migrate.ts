// `npm run db:migrate`: applies pending migrations to DATABASE_URL, or without it to the embedded
// database under DATA_DIR (default ./data), prints one human line per outcome, exits 1 on failure.
import pg from 'pg';
import { pino } from 'pino';
import { startEmbedded } from '../db/embedded.js';
import { applyMigrations } from '../db/migrate.js';
import { runCli } from './help.js';

const HELP = `
Usage: npm run db:migrate

Applies pending migrations (prisma/migrations/) to DATABASE_URL, or, when it is unset, to the
embedded database under DATA_DIR. The server also applies them at start-up.

Settings (environment):
  DATABASE_URL   postgresql://… (default: the embedded database)
  DATA_DIR       the embedded database's directory (default ./data)
  LOG_LEVEL      level of the JSON logs on stderr (default warn)

Options:
  -h, --help     show this help
`;

// JSON logs (waiting for a lock, each migration) go to stderr; stdout keeps the human summary.
const log = pino({ level: process.env.LOG_LEVEL || 'warn' }, pino.destination(2));

async function migrate(target: string, url: string | undefined, dataDir: string): Promise<number> {
  const embedded = url ? undefined : await startEmbedded({ dataDir, log });
  const pool = new pg.Pool({
    connectionString: url ?? embedded?.connectionString,
    max: 1,
    connectionTimeoutMillis: 10_000,
    application_name: 'shopstream-migrate',
  });
  pool.on('error', (error) => log.warn({ err: error }, 'idle database connection failed'));
  try {
    const { applied } = await applyMigrations(pool, { log });
    if (applied.length === 0) {
      console.log(`${target}: database is up to date`);
    } else {
      console.log(`${target}: applied ${applied.length} migration(s): ${applied.join(', ')}`);
    }
    return 0;
  } finally {
    await pool.end();
    await embedded?.stop();
  }
}

// Never print the password.
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

const url = process.env.DATABASE_URL || undefined;
const dataDir = process.env.DATA_DIR || './data';
const target = url ? describeUrl(url) : `the embedded database in ${dataDir}`;
runCli({ name: 'db:migrate', target, help: HELP, main: () => migrate(target, url, dataDir) });
