// recordInventory: validate, de-duplicate, store and apply a batch of inventory events in ONE
// transaction, and wake the stock-warning feed only after COMMIT (invariants 1, 2, 3, 7).
import type pg from 'pg';
import { withTransaction } from '../../db/transaction.js';
import type { Fanout } from '../../feed/fanout.js';
import type { Clock } from '../clock.js';
import { storeDeadLetters } from '../ingest/dead-letters.js';
import { checkBatchSize } from '../ingest/ingest.js';
import type { IngestReport } from '../ingest/rejections.js';
import { validateBatch, validateInventoryEvent } from '../ingest/validate.js';
import { insertInventoryEvents } from './record.js';
import { applyStockChanges, lockStockLevels } from './stock.js';
import type { InventoryEventInput, StockChange } from './types.js';

export type InventoryIngestOptions = {
  pool: pg.Pool;
  fanout: Fanout;
  clock: Clock;
  maxBatchSize: number;
  defaultThreshold: number;
};

export function createInventoryIngest(options: InventoryIngestOptions) {
  return async function ingestInventory(inputs: readonly InventoryEventInput[]): Promise<IngestReport> {
    checkBatchSize(inputs.length, options.maxBatchSize);
    const now = options.clock.now();
    const { errors, valid, duplicates } = validateBatch(inputs, (input, index) =>
      validateInventoryEvent(input, index, { now }),
    );

    const { inserted, warnings } = await withTransaction(options.pool, async (tx) => {
      await storeDeadLetters(tx, 'inventory', errors, inputs);
      // Lock the products before storing the events, so that for one product the events' seq
      // order is the order in which batches applied them (the history replays exactly). A row
      // created here for a batch that turns out to be all duplicates has no level: invisible.
      await lockStockLevels(
        tx,
        valid.map((e) => e.productId),
        { create: true },
      );
      const inserted = await insertInventoryEvents(tx, valid);
      const changes = inserted.map(
        (e): StockChange =>
          e.quantity !== null
            ? { kind: 'level', productId: e.productId, quantity: e.quantity, occurredAt: e.occurredAt }
            : { kind: 'delta', productId: e.productId, delta: e.delta as number, occurredAt: e.occurredAt },
      );
      const warnings = await applyStockChanges(tx, changes, { defaultThreshold: options.defaultThreshold, now });
      return { inserted, warnings };
    });
    // After COMMIT only: a reader woken now finds the rows.
    if (warnings.length > 0) options.fanout.publish('inventory:warning');

    return {
      accepted: inserted.length,
      duplicates: duplicates + valid.length - inserted.length,
      errors,
    };
  };
}
