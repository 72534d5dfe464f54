// recordInventory: validate, de-duplicate, store and apply a batch of inventory events in ONE
// transaction, and wake the stock-warning feed only after COMMIT (invariants 1, 2, 3, 7).
// Batches that arrive while transactions are in flight share the next one (group commit, see
// ../ingest/group-commit.ts); each is validated and reported on its own.
import type pg from 'pg';
import { withTransaction } from '../../db/transaction.js';
import type { Fanout } from '../../feed/fanout.js';
import type { Clock } from '../clock.js';
import { storeDeadLetters } from '../ingest/dead-letters.js';
import { createBatchIngest, mergeBatches, reportBatches, type ValidatedBatch } from '../ingest/ingest.js';
import type { IngestReport } from '../ingest/rejections.js';
import { validateInventoryEvent } from '../ingest/validate.js';
import { insertInventoryEvents } from './record.js';
import { applyStockChanges, lockStockLevels } from './stock.js';
import type { InventoryEventInput, NewInventoryEvent, StockChange } from './types.js';

export type InventoryIngestOptions = {
  pool: pg.Pool;
  fanout: Fanout;
  clock: Clock;
  maxBatchSize: number;
  defaultThreshold: number;
  /** Ingest transactions at once in this process (default DEFAULT_MAX_IN_FLIGHT); the rest group up. */
  maxInFlight?: number;
};

export function createInventoryIngest(options: InventoryIngestOptions) {
  return createBatchIngest({
    maxBatchSize: options.maxBatchSize,
    maxInFlight: options.maxInFlight,
    validator: () => {
      const now = options.clock.now();
      return (input: InventoryEventInput, index) => validateInventoryEvent(input, index, { now });
    },
    commit: (batches) => storeInventoryGroup(options, batches),
  });
}

async function storeInventoryGroup(
  options: InventoryIngestOptions,
  batches: readonly ValidatedBatch<NewInventoryEvent>[],
): Promise<IngestReport[]> {
  const { events, owners } = mergeBatches(batches);
  const now = options.clock.now();
  const { inserted, warnings } = await withTransaction(options.pool, async (tx) => {
    await storeDeadLetters(tx, 'inventory', batches);
    // Lock the products before storing the events, so that for one product the events' seq
    // order is the order in which batches applied them (the history replays exactly). A row
    // created here for a batch that turns out to be all duplicates has no level: invisible.
    await lockStockLevels(
      tx,
      events.map((e) => e.productId),
      { create: true },
    );
    const inserted = await insertInventoryEvents(tx, events);
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
  return reportBatches(batches, owners, inserted);
}
