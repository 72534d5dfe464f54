// Pre-generated simulator traffic for the ingest scenarios, so that generating it is not timed.
import { type ActivityInput, createShop, type InventoryInput } from '../../src/cli/simulate.js';

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

/**
 * Batch `n` of a cycle through `batches`: the batch itself the first time round, then with every
 * eventId suffixed by the round, so that a long run never sends a duplicate (which costs less).
 */
export function freshBatch(batches: readonly ActivityInput[][], n: number): ActivityInput[] {
  const batch = batches[n % batches.length] as ActivityInput[];
  const round = Math.floor(n / batches.length);
  return round === 0 ? batch : batch.map((e) => ({ ...e, eventId: `${e.eventId}-r${round}` }));
}

export type Mutation =
  | { stream: 'activity'; events: ActivityInput[] }
  | { stream: 'inventory'; events: InventoryInput[] };

/**
 * The simulator's whole mix (src/cli/simulate.ts) as mutations: activity (browse, cart, remove,
 * purchase, a few late) in batches of `size`, and inventory: the warehouse's restocks
 * (adjustments) plus a stock count of about 1 product per 100 activity events (absolute levels,
 * as the shop believes them), sent as an inventory batch when `size` have gathered or after 10
 * activity batches. openingStock() is the count of every product, to send first.
 */
export function trafficMix(options: { runId: string; size: number; seed?: number }) {
  const { size } = options;
  const shop = createShop({
    shoppers: 5000,
    products: 2000,
    seed: options.seed ?? 8,
    runId: options.runId,
    duplicateShare: 0,
    lateShare: 0.02,
  });
  let activity: ActivityInput[] = [];
  let inventory: InventoryInput[] = [];
  let sinceInventory = 0;
  let counts = 0;
  let recount = 0;

  const refill = () => {
    const traffic = shop.next(Math.min(size, 1000));
    activity.push(...traffic.activity);
    inventory.push(...traffic.inventory);
    for (let k = Math.round(traffic.activity.length / 100); k > 0; k--) {
      recount = (recount + 617) % shop.products.length; // a stride through the catalogue
      const product = shop.products[recount] as (typeof shop.products)[number];
      inventory.push({
        eventId: `${shop.runId}-count-${++counts}`,
        productId: product.id,
        quantity: Math.max(0, product.stock),
      });
    }
  };

  return {
    openingStock: (): InventoryInput[] => shop.openingStock(),
    /** The next mutation of the mix. */
    next(): Mutation {
      if (inventory.length >= size || (inventory.length > 0 && sinceInventory >= 10)) {
        sinceInventory = 0;
        const events = inventory.slice(0, size);
        inventory = inventory.slice(size);
        return { stream: 'inventory', events };
      }
      while (activity.length < size) refill();
      sinceInventory++;
      const events = activity.slice(0, size);
      activity = activity.slice(size);
      return { stream: 'activity', events };
    },
  };
}

/** Mutations of the mix that carry at least `events` events in all. */
export function mixedMutations(mix: ReturnType<typeof trafficMix>, events: number): Mutation[] {
  const out: Mutation[] = [];
  for (let total = 0; total < events; ) {
    const mutation = mix.next();
    out.push(mutation);
    total += mutation.events.length;
  }
  return out;
}
