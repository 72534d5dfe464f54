// The delivery jobs, in pg-boss 10: the library schedules them, locks the one being sent (FOR
// UPDATE SKIP LOCKED), retries a failed one after an exponential backoff, and makes due again one
// whose process died mid-attempt (its job expires). webhook_deliveries is the delivery log.
// Jobs are written with the transaction's own connection, so an item, its delivery and the job
// commit together; pg-boss reaches the database only through the pg.Pool given to it (no LISTEN,
// no pool of its own), which the embedded database's single connection needs.
import PgBoss from 'pg-boss';
import type { Tx } from '../../db/transaction.js';

/** pg-boss's schema, created by the migration move_webhook_deliveries_to_pg_boss. */
export const JOB_SCHEMA = 'job_queue';
export const DELIVERY_QUEUE = 'webhook_delivery';

export type DeliveryJob = { deliveryId: string };

type Queryable = { query: (text: string, values?: unknown[]) => Promise<{ rows: any[] }> };

/** pg-boss's view of a pool or a client: every statement goes through it. */
export function jobDb(db: Queryable): PgBoss.Db {
  return { executeSql: (text, values) => db.query(text, values) };
}

// Only inserts, each through the `db` of its call: this instance never starts or connects.
const writer = new PgBoss({
  db: { executeSql: () => Promise.reject(new Error('the job writer has no connection of its own')) },
  schema: JOB_SCHEMA,
  migrate: false,
  supervise: false,
  schedule: false,
});

/** Queues one job per delivery, in `tx`; the queue's options (backoff, expiry) apply. */
export async function addDeliveryJobs(tx: Tx, deliveries: ReadonlyArray<{ id: string; jobId: string }>): Promise<void> {
  if (deliveries.length === 0) return;
  await writer.insert(
    deliveries.map((d) => ({ id: d.jobId, name: DELIVERY_QUEUE, data: { deliveryId: d.id } satisfies DeliveryJob })),
    { db: jobDb(tx) },
  );
}
