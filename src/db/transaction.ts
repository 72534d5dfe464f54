// The one place that opens transactions: READ COMMITTED (every write is an atomic statement:
// ON CONFLICT, UPDATE … RETURNING), retried whole on a deadlock or serialization failure.
import type pg from 'pg';

export type Tx = pg.PoolClient;

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const MAX_ATTEMPTS = 5;

export async function withTransaction<T>(pool: pg.Pool, fn: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    // A connection that dies between two statements emits 'error' on the client; while we hold it
    // the pool is not listening, so without this the process would crash. The next query fails.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection itself failed: do not return it to the pool
      }
      const code = (error as { code?: string }).code;
      if (!(code && RETRYABLE.has(code)) || attempt >= MAX_ATTEMPTS) throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }
}
