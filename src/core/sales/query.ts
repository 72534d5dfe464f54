// Reading sales windows back: the windows of one size whose start lies in [from, to), oldest
// first. Windows in which nothing was sold have no row and are left out, not sent as zeros.
import type { Queryable } from '../../feed/feed.js';
import { InvalidInput } from '../errors.js';
import { SALES_WINDOW_COLUMNS, toSalesWindow } from './feed-source.js';
import { requireCurrency } from './money.js';
import type { SalesWindow } from './types.js';
import { type SalesWindowSize, windowsBetween } from './window.js';

/** A range may span at most this many windows of its size (MINUTE: ~1 week, HOUR: ~13 months). */
export const MAX_WINDOWS_PER_QUERY = 10_000;

export type SalesQuery = { size: SalesWindowSize; from: Date; to: Date; currency?: string | null };

export async function readSalesWindows(db: Queryable, query: SalesQuery): Promise<SalesWindow[]> {
  const { size, from, to } = query;
  if (to.getTime() < from.getTime()) {
    throw new InvalidInput(`to (${to.toISOString()}) is before from (${from.toISOString()})`);
  }
  const span = windowsBetween(size, from, to);
  if (span > MAX_WINDOWS_PER_QUERY) {
    throw new InvalidInput(
      `[from, to) spans ${span} ${size} windows; at most ${MAX_WINDOWS_PER_QUERY} per query: use a larger size or a shorter range`,
      { limit: MAX_WINDOWS_PER_QUERY, windows: span },
    );
  }
  const params: unknown[] = [size, from.toISOString(), to.toISOString()];
  let byCurrency = '';
  if (query.currency != null) {
    params.push(requireCurrency(query.currency));
    byCurrency = 'AND t.currency = $4';
  }
  const { rows } = await db.query(
    `SELECT ${SALES_WINDOW_COLUMNS}, t.tx_id, t.seq
       FROM sales_windows t
      WHERE t.size = $1 AND t.window_start >= $2 AND t.window_start < $3 ${byCurrency}
      ORDER BY t.window_start, t.currency`,
    params,
  );
  return rows.map(toSalesWindow);
}
