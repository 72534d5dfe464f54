// Stock in event time, pure. An absolute count at time T is the level as of T: counts are ordered
// by occurredAt (log position breaks ties), and an adjustment or purchase ordered before the
// latest count is already included in it, so it changes nothing. A count that arrives late (its
// time is before adjustments already applied) is the count plus every movement after it. Each
// change is checked against the level left by the one before it, so warnings stay edge-triggered.
import type { Position } from '../../feed/cursor.js';
import { crossing } from './crossing.js';
import { type LockedStock, MAX_ABS_LEVEL } from './stock.js';
import type { NewStockWarning } from './types.js';

/** RETURN: the units of a refund with restock, back on the shelf (issue 16). */
export type MovementKind = 'COUNT' | 'ADJUSTMENT' | 'PURCHASE' | 'RETURN';

/** One logged event that moves a product's stock. `amount`: the level counted, the delta, minus the units bought, or the units returned. */
export type StockEvent = {
  productId: string;
  kind: MovementKind;
  amount: number;
  occurredAt: Date;
  position: Position;
  eventId: string;
};

/** Where an event stands in event time: occurredAt, then log position. */
export type EventTime = { at: number; txId: bigint; seq: bigint };

/** An adjustment or purchase already known, for late counts. */
export type Movement = { time: EventTime; amount: number };

export function eventTimeOf(event: { occurredAt: Date; position: Position }): EventTime {
  return { at: event.occurredAt.getTime(), txId: event.position.txId, seq: event.position.seq };
}

export function compareEventTimes(a: EventTime, b: EventTime): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  if (a.txId !== b.txId) return a.txId < b.txId ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

/**
 * Applies `events` (in log order) to `stock` (mutated in place: quantity and `counted`). `known`
 * holds, per product with a count in the batch, the stored movements at or after its earliest
 * count; movements of the batch are added to it as they are met. Returns one warning per crossing
 * and the products whose row changed.
 */
export function foldStockEvents(
  stock: Map<string, LockedStock>,
  known: Map<string, Movement[]>,
  events: readonly StockEvent[],
  defaultThreshold: number,
): { warnings: NewStockWarning[]; touched: Set<string> } {
  const warnings: NewStockWarning[] = [];
  const touched = new Set<string>();
  for (const event of events) {
    const row = stock.get(event.productId);
    if (!row) continue;
    const time = eventTimeOf(event);
    const beforeCount = row.counted != null && compareEventTimes(time, row.counted) < 0;
    let quantity = row.quantity;
    if (event.kind === 'COUNT') {
      if (beforeCount) continue; // an older count: the newer one already says more
      quantity = event.amount;
      for (const movement of known.get(event.productId) ?? []) {
        if (compareEventTimes(movement.time, time) > 0) quantity += movement.amount;
      }
      row.counted = time;
    } else {
      let movements = known.get(event.productId);
      if (!movements) {
        movements = [];
        known.set(event.productId, movements);
      }
      movements.push({ time, amount: event.amount });
      // Before the latest count: already in it.
      if (beforeCount) {
        touched.add(event.productId);
        continue;
      }
      // A purchase of a product never counted has nothing to take from (and so its return has
      // nothing to give back); an adjustment of one starts from nothing on the shelf. A purchase
      // past zero is a backorder (still OUT).
      if (quantity === null && (event.kind === 'PURCHASE' || event.kind === 'RETURN')) continue;
      quantity = (quantity ?? 0) + event.amount;
    }
    if (Math.abs(quantity) > MAX_ABS_LEVEL) {
      // A level past the column's range cannot be stored: the event is kept in the log and the
      // level stays at the bound, so the processor never stops on one absurd event.
      quantity = Math.sign(quantity) * MAX_ABS_LEVEL;
    }
    const threshold = row.threshold ?? defaultThreshold;
    const kind = crossing(row.quantity, quantity, threshold);
    if (kind !== null) {
      warnings.push({ productId: event.productId, kind, quantity, threshold, occurredAt: event.occurredAt });
    }
    row.quantity = quantity;
    touched.add(event.productId);
  }
  return { warnings, touched };
}
