// setStockThreshold: a product's own low-stock threshold. The change is checked like any other
// stock change (a level of 8 is LOW once the threshold goes from 5 to 10), once, under the lock.
import type pg from 'pg';
import { withTransaction } from '../../db/transaction.js';
import type { Fanout } from '../../feed/fanout.js';
import type { Clock } from '../clock.js';
import { InvalidInput } from '../errors.js';
import { REJECTION_CODES } from '../ingest/rejections.js';
import { describeForbidden, findForbiddenCharacter, MAX_STOCK_LEVEL } from '../ingest/validate.js';
import { readStockLevels } from './queries.js';
import { applyStockChanges } from './stock.js';
import type { StockLevel } from './types.js';

export type ThresholdOptions = { pool: pg.Pool; fanout: Fanout; clock: Clock; defaultThreshold: number };

export function createSetStockThreshold(options: ThresholdOptions) {
  return async function setStockThreshold(productId: string, threshold: number): Promise<StockLevel> {
    if (typeof productId !== 'string' || productId.trim() === '' || productId.length > 200) {
      throw new InvalidInput('productId must be 1 to 200 characters');
    }
    // The same characters as in an event's productId are refused (ingest/validate.ts).
    const forbidden = findForbiddenCharacter(productId);
    if (forbidden) {
      const what = describeForbidden('productId', productId, forbidden);
      throw new InvalidInput(`${REJECTION_CODES[forbidden.code]}: ${what}`);
    }
    if (!Number.isInteger(threshold) || threshold < 0 || threshold > MAX_STOCK_LEVEL) {
      throw new InvalidInput(`threshold must be a whole number from 0 to ${MAX_STOCK_LEVEL}, got ${threshold}`);
    }
    const now = options.clock.now();
    const { level, warnings } = await withTransaction(options.pool, async (tx) => {
      const warnings = await applyStockChanges(tx, [{ kind: 'threshold', productId, threshold, occurredAt: now }], {
        defaultThreshold: options.defaultThreshold,
        now,
      });
      const [level] = await readStockLevels(tx, { productIds: [productId], includeUnset: true }, options);
      return { level: level as StockLevel, warnings };
    });
    if (warnings.length > 0) options.fanout.publish('inventory:warning');
    return level;
  };
}
