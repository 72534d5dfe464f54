// One pg.Pool per process, shared by Prisma (through @prisma/adapter-pg) and by the hot paths'
// set-based SQL. Without DATABASE_URL the pool talks to the embedded PostgreSQL (PGlite):
// one code path, always the pg driver.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { startEmbedded } from './embedded.js';
import { PrismaClient } from './generated/prisma/client.js';

export type Db = {
  pool: pg.Pool;
  prisma: PrismaClient;
  /** True when running on the embedded PGlite database. */
  embedded: boolean;
  close(): Promise<void>;
};

export async function createDb(config: Pick<Config, 'db'>, log: Logger): Promise<Db> {
  const embedded = config.db.url === undefined ? await startEmbedded({ dataDir: config.db.dataDir, log }) : null;
  const pool = new pg.Pool({
    connectionString: embedded?.connectionString ?? config.db.url,
    // PGlite is a single session: two connections would interleave their transactions.
    max: embedded ? 1 : config.db.poolSize,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'shopstream',
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', (error) => log.warn({ err: error }, 'idle database connection failed'));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  let closing: Promise<void> | null = null;
  return {
    pool,
    prisma,
    embedded: embedded !== null,
    close() {
      closing ??= (async () => {
        await prisma.$disconnect();
        await pool.end();
        await embedded?.stop();
      })();
      return closing;
    },
  };
}
