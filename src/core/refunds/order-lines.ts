// What an order line still has to refund. A refund is checked against the purchases stored when
// it arrives and against every refund of its line stored before it, inside the transaction that
// appends it, under a lock per order line: two batches refunding the same line (from any
// connection or process) are checked one after the other, and the second sees the first's
// refunds, so a line is never refunded beyond what was sold on it (invariant 3). Purchases are
// only ever added, so a purchase still in flight can only make a refund fail (UNKNOWN_ORDER_LINE
// or REFUND_EXCEEDS_SALE, sent again later it passes), never let one through that should not.
import type { Tx } from '../../db/transaction.js';
import type { RejectionCode } from '../ingest/rejections.js';
import { formatMoney } from '../sales/money.js';
import type { NewRefundEvent } from './types.js';

type Totals = { units: bigint; minor: bigint };

/** Per order line and currency: what its purchases sold and its stored refunds gave back. */
export type OrderLineFacts = Map<string, { sold: Map<string, Totals>; refunded: Map<string, Totals> }>;

export type RefundRefusal = { code: RejectionCode; detail: string };

/** Unambiguous for any two ids (the length tells where the orderId ends). */
export function lineKey(orderId: string, productId: string): string {
  return `${orderId.length}:${orderId}|${productId}`;
}

/**
 * Locks the order lines of `events` until the transaction ends, in the order of their lock keys,
 * so that two batches with overlapping lines wait for each other instead of deadlocking. Then
 * reads what was sold and refunded on them: read after the locks (READ COMMITTED takes a new
 * snapshot per statement), so it includes every refund committed by a batch we waited for.
 */
export async function lockOrderLines(tx: Tx, events: readonly NewRefundEvent[]): Promise<OrderLineFacts> {
  const facts: OrderLineFacts = new Map();
  if (events.length === 0) return facts;
  const orderIds: string[] = [];
  const productIds: string[] = [];
  for (const event of events) {
    const key = lineKey(event.orderId, event.productId);
    if (facts.has(key)) continue;
    facts.set(key, { sold: new Map(), refunded: new Map() });
    orderIds.push(event.orderId);
    productIds.push(event.productId);
  }
  const keys = [...facts.keys()];
  await tx.query(
    `SELECT pg_advisory_xact_lock(h)
       FROM (SELECT DISTINCT hashtextextended('refund-line:' || k, 0) AS h FROM unnest($1::text[]) AS u(k) ORDER BY h) s`,
    [keys],
  );
  const { rows } = await tx.query<{
    refunded: boolean;
    order_id: string;
    product_id: string;
    currency: string;
    units: string;
    minor: string;
  }>(
    `WITH lines AS (SELECT * FROM unnest($1::text[], $2::text[]) AS l(order_id, product_id))
     SELECT false AS refunded, a.order_id, a.product_id, a.currency,
            sum(a.quantity)::text AS units, sum(a.quantity::bigint * a.unit_price_minor)::text AS minor
       FROM lines l
       JOIN activity_events a ON a.order_id = l.order_id AND a.product_id = l.product_id
      WHERE a.type = 'PURCHASE' AND a.order_id IS NOT NULL AND a.currency IS NOT NULL
      GROUP BY a.order_id, a.product_id, a.currency
     UNION ALL
     SELECT true, r.order_id, r.product_id, r.currency, sum(r.quantity)::text, sum(r.amount_minor)::text
       FROM lines l
       JOIN refund_events r ON r.order_id = l.order_id AND r.product_id = l.product_id
      GROUP BY r.order_id, r.product_id, r.currency`,
    [orderIds, productIds],
  );
  for (const row of rows) {
    const line = facts.get(lineKey(row.order_id, row.product_id));
    if (!line) continue;
    (row.refunded ? line.refunded : line.sold).set(row.currency, {
      units: BigInt(row.units),
      minor: BigInt(row.minor),
    });
  }
  return facts;
}

/**
 * Pure: checks `events` in order against `facts`, counting each accepted refund against its line
 * for the ones after it (so a batch, or a group of batches, is checked as if sent one by one).
 * `facts` is updated in place. Returns the refusal of each refused eventId.
 */
export function checkRefunds(events: readonly NewRefundEvent[], facts: OrderLineFacts): Map<string, RefundRefusal> {
  const refused = new Map<string, RefundRefusal>();
  for (const event of events) {
    const line = facts.get(lineKey(event.orderId, event.productId));
    const where = `order ${JSON.stringify(event.orderId)}, product ${JSON.stringify(event.productId)}`;
    if (!line || line.sold.size === 0) {
      refused.set(event.eventId, { code: 'UNKNOWN_ORDER_LINE', detail: `no purchase of ${where} is stored` });
      continue;
    }
    const sold = line.sold.get(event.currency);
    if (!sold) {
      const currencies = [...line.sold.keys()].sort().join(', ');
      refused.set(event.eventId, {
        code: 'CURRENCY_MISMATCH',
        detail: `${where} was sold in ${currencies}, this refund is in ${event.currency}`,
      });
      continue;
    }
    const before = line.refunded.get(event.currency) ?? { units: 0n, minor: 0n };
    const units = before.units + BigInt(event.quantity);
    const minor = before.minor + event.amountMinor;
    if (units > sold.units || minor > sold.minor) {
      const money = (m: bigint) => `${formatMoney(m, event.currency)} ${event.currency}`;
      refused.set(event.eventId, {
        code: 'REFUND_EXCEEDS_SALE',
        detail: `${where} sold ${sold.units} units for ${money(sold.minor)}; refunded before: ${before.units} units, ${money(before.minor)}; this refund: ${event.quantity} units, ${money(event.amountMinor)}`,
      });
      continue;
    }
    line.refunded.set(event.currency, { units, minor });
  }
  return refused;
}
