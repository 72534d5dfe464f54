// The JSON bodies webhooks carry: { type, timestamp, data } as the Standard Webhooks spec
// suggests, with `data` shaped like the GraphQL type of the item (StockWarning).
import { encodeCursor } from '../../feed/cursor.js';
import type { WebhookItem } from './queue.js';

/** A stock_warnings row as inserted (RETURNING), and the feed position's tx_id it was written with. */
export function stockWarningWebhook(
  row: { seq: string; product_id: string; kind: string; quantity: number; threshold: number; occurred_at: Date },
  txId: bigint,
): WebhookItem {
  return {
    key: `stock_warning_${row.seq}`,
    payload: {
      type: 'stock.warning',
      timestamp: row.occurred_at.toISOString(),
      data: {
        cursor: encodeCursor({ txId, seq: BigInt(row.seq) }),
        productId: row.product_id,
        kind: row.kind,
        quantity: row.quantity,
        threshold: row.threshold,
        occurredAt: row.occurred_at.toISOString(),
      },
    },
  };
}
