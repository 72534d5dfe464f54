// The queries' share of the database: at most `connections` run at once (the size of the read
// pool, so the pool itself never queues), a query that cannot start within `waitMs` is answered
// BUSY at once instead of hanging, and one cancelled by the statement timeout is a QUERY_TIMEOUT.
// Either way its connection is back in the pool when the error reaches the client.
import type { Queryable } from '../feed/feed.js';
import { Busy, isQueryCanceled, QueryTimeout } from './errors.js';

export type ReadBounds = {
  connections: number;
  waitMs: number;
  statementTimeoutMs: number;
  /** Told of each refusal: 'pool_wait' (BUSY) or 'statement_timeout' (QUERY_TIMEOUT), for metrics. */
  onRefused?: (limit: 'pool_wait' | 'statement_timeout') => void;
};

export function boundReads(pool: Queryable, bounds: ReadBounds): Queryable {
  let running = 0;
  const waiting: Array<() => void> = [];
  const retryAfterSeconds = Math.max(1, Math.ceil(bounds.waitMs / 1000));

  const admit = () =>
    new Promise<void>((resolve, reject) => {
      if (running < bounds.connections) {
        running++;
        return resolve();
      }
      const start = () => {
        clearTimeout(timer);
        running++;
        resolve();
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(start), 1);
        bounds.onRefused?.('pool_wait');
        reject(
          new Busy(
            `the server is busy: every database connection for queries stayed taken for ${bounds.waitMs} ms (POOL_WAIT_MS); nothing was read, retry in ${retryAfterSeconds} s`,
            retryAfterSeconds,
          ),
        );
      }, bounds.waitMs);
      waiting.push(start);
    });

  const query = async (text: string, values?: unknown[]) => {
    await admit();
    try {
      return await pool.query(text, values);
    } catch (error) {
      if (!isQueryCanceled(error)) throw error;
      bounds.onRefused?.('statement_timeout');
      throw new QueryTimeout(
        `the query ran longer than ${bounds.statementTimeoutMs} ms (STATEMENT_TIMEOUT_MS) and was cancelled; ask for less (a shorter range, a smaller page, fewer fields) or retry later`,
      );
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
  return { query: query as Queryable['query'] };
}
