// Purchases take stock: an ActivityProcessor (run inside the activity batch's transaction) that
// turns each newly stored PURCHASE into a stock change, through the same crossing check.
import type { Tx } from '../../db/transaction.js';
import type { InsertedActivityEvent } from '../activity/record.js';
import type { Clock } from '../clock.js';
import type { ActivityProcessor } from '../ingest/ingest.js';
import { applyStockChanges } from './stock.js';

export function createPurchaseProcessor(options: { defaultThreshold: number; clock: Clock }): ActivityProcessor {
  return async (tx: Tx, events: readonly InsertedActivityEvent[]) => {
    const changes = events
      .filter((e) => e.type === 'PURCHASE')
      .map((e) => ({
        kind: 'purchase' as const,
        productId: e.productId,
        quantity: e.quantity,
        occurredAt: e.occurredAt,
      }));
    const warnings = await applyStockChanges(tx, changes, {
      defaultThreshold: options.defaultThreshold,
      now: options.clock.now(),
    });
    return warnings.length > 0 ? ['inventory:warning'] : [];
  };
}
