// Two pg.Pools per process. `pool` is shared by Prisma (through @prisma/adapter-pg), ingest, the
// processors and the feed; `readPool`, small and separate, serves the queries (history, sales,
// summaries), so that a burst of slow reads can never take the connections ingest and the
// processors need. Without DATABASE_URL both are the one connection to the embedded PostgreSQL
// (PGlite): one code path, always the pg driver. `pool`'s frequent statements are prepared
// (auto-prepare.ts); the queries' plans are left to PostgreSQL per execution.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { AutoPreparingClient } from './auto-prepare.js';
import { startEmbedded } from './embedded.js';
import { PrismaClient } from './generated/prisma/client.js';
import { poolTypes } from './timestamps.js';

export type Db = {
  pool: pg.Pool;
  /** For queries only; its statements are cancelled after STATEMENT_TIMEOUT_MS. */
  readPool: pg.Pool;
  prisma: PrismaClient;
  /** True when running on the embedded PGlite database. */
  embedded: boolean;
  close(): Promise<void>;
};

export async function createDb(config: Pick<Config, 'db'>, log: Logger): Promise<Db> {
  const { db } = config;
  const embedded = db.url === undefined ? await startEmbedded({ dataDir: db.dataDir, log }) : null;
  const pool = new pg.Pool({
    // Frequent statements are prepared per connection (auto-prepare.ts). Not on PGlite: its one
    // session outlives a reconnecting client, whose statement names would then exist already.
    ...(embedded ? {} : { Client: AutoPreparingClient }),
    connectionString: embedded?.connectionString ?? db.url,
    types: poolTypes,
    // PGlite is a single session: two connections would interleave their transactions.
    max: embedded ? 1 : db.poolSize,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'shopstream',
    // A transaction left open (a frozen process, a bug) must not hold its locks forever. The
    // processors set a shorter one for their own transactions (processing/runner.ts).
    ...(embedded ? {} : { idle_in_transaction_session_timeout: db.idleInTransactionTimeoutMs }),
  });
  // A client losing its connection (database restart) must not crash the process: idle in the
  // pool (the pool's 'error'), or checked out between two statements, where pg emits 'error' on
  // the client itself and nobody may be listening (reproduced: PostgreSQL stopped with -m fast
  // right after start-up). Its next statement fails, and the caller handles that.
  const quiet = (client: pg.PoolClient) => {
    client.on('error', (error) => log.debug({ err: error }, 'database connection failed'));
  };
  pool.on('connect', quiet);
  pool.on('error', (error) => log.warn({ err: error }, 'idle database connection failed'));
  const readPool = embedded
    ? pool
    : new pg.Pool({
        connectionString: db.url,
        types: poolTypes,
        max: db.readPoolSize,
        connectionTimeoutMillis: 10_000,
        idleTimeoutMillis: 30_000,
        application_name: 'shopstream-read',
        statement_timeout: db.statementTimeoutMs,
        idle_in_transaction_session_timeout: db.idleInTransactionTimeoutMs,
      });
  if (readPool !== pool) {
    readPool.on('connect', quiet);
    readPool.on('error', (error) => log.warn({ err: error }, 'idle database connection failed'));
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  let closing: Promise<void> | null = null;
  return {
    pool,
    readPool,
    prisma,
    embedded: embedded !== null,
    close() {
      closing ??= (async () => {
        await prisma.$disconnect();
        if (readPool !== pool) await readPool.end();
        await pool.end();
        await embedded?.stop();
      })();
      return closing;
    },
  };
}
