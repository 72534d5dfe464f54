// The one place that opens transactions: READ COMMITTED (every write is an atomic statement:
// ON CONFLICT, UPDATE … RETURNING), retried whole on a deadlock or serialization failure.
import type pg from 'pg';

export type Tx = pg.PoolClient;

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const MAX_ATTEMPTS = 5;

/**
 * Saves round trips, which cost milliseconds each on a busy machine. Both are statements without
 * parameters, sent in the simple protocol (values must be inlined as literals).
 */
export type RoundTrips<T> = {
  /** Sent with BEGIN; `fn` gets their results, one per statement, in order. */
  prelude?: string;
  /** Given `fn`'s result, statements sent with COMMIT (an error in them rolls everything back). */
  epilogue?: (result: T) => string | null;
};

/** Runs `fn` in a transaction (see RoundTrips for the optional statements sent with BEGIN and COMMIT). */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (tx: Tx, prelude: pg.QueryResult[]) => Promise<T>,
  trips: RoundTrips<T> = {},
): Promise<T> {
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
      let results: pg.QueryResult[] = [];
      if (trips.prelude) {
        // One round trip: BEGIN's own result comes first.
        const all = (await client.query(`BEGIN; ${trips.prelude}`)) as unknown as pg.QueryResult[];
        results = all.slice(1);
      } else {
        await client.query('BEGIN');
      }
      const result = await fn(client, results);
      const epilogue = trips.epilogue?.(result);
      // The statements stop at the first error, so COMMIT runs only if the epilogue succeeded.
      await client.query(epilogue ? `${epilogue}; COMMIT` : 'COMMIT');
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
