// The JSON bodies webhooks carry: { type, timestamp, data } as the Standard Webhooks spec
// suggests, with `data` shaped like the GraphQL type of the item (StockWarning, SalesAlert).
import { encodeCursor } from '../../feed/cursor.js';
import { formatAlertValue, toSalesAlert } from '../sales/alerts-feed.js';
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

/** A sales_alerts row as written (RETURNING): one item per version, so each change is delivered. */
export function salesAlertWebhook(row: Record<string, unknown>): WebhookItem {
  const alert = toSalesAlert(row);
  return {
    key: `sales_alert_${alert.id}_v${alert.version}`,
    payload: {
      type: 'sales.alert',
      timestamp: alert.updatedAt.toISOString(),
      data: {
        cursor: alert.cursor,
        id: alert.id,
        kind: alert.kind,
        metric: alert.metric,
        status: alert.status,
        windowStart: alert.windowStart.toISOString(),
        windowEnd: alert.windowEnd.toISOString(),
        localStart: alert.localStart,
        currency: alert.currency,
        productId: alert.productId,
        expected: formatAlertValue(alert.metric, alert.expected, alert.currency),
        observed: formatAlertValue(alert.metric, alert.observed, alert.currency),
        score: alert.score,
        baseline: alert.baseline,
        samples: alert.samples,
        version: alert.version,
      },
    },
  };
}
