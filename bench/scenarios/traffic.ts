// Pre-generated simulator traffic for the ingest scenarios, so that generating it is not timed.
import { type ActivityInput, createShop } from '../../src/cli/simulate.js';

/** `batches` batches of `size` activity events (browse, cart, purchase: all processors work). */
export function activityBatches(batches: number, size: number, runId: string): ActivityInput[][] {
  const shop = createShop({ shoppers: 5000, products: 2000, seed: 8, runId, duplicateShare: 0, lateShare: 0.02 });
  const out: ActivityInput[][] = [];
  let pending: ActivityInput[] = [];
  while (out.length < batches) {
    for (const event of shop.next(Math.min(size, 1000)).activity) pending.push(event);
    while (pending.length >= size && out.length < batches) {
      out.push(pending.slice(0, size));
      pending = pending.slice(size);
    }
  }
  return out;
}
