// The sales_alerts table read as a STATE feed (like sales_windows): every change of an alert
// re-stamps its (tx_id, seq), so a reader after a cursor gets each changed alert once, in its
// latest state, and keyOf lets a slow subscriber keep only the latest state of each alert.
import type pg from 'pg';
import { decodeCursor, encodeCursor, type Position, START } from '../../feed/cursor.js';
import { type FeedSource, positionOf, type Queryable, readAfter } from '../../feed/feed.js';
import { InvalidInput } from '../errors.js';
import { checkPageSize, type Page } from '../paging.js';
import {
  SALES_ALERT_KINDS,
  SALES_ALERT_METRICS,
  type SalesAlertBaseline,
  type SalesAlertKind,
  type SalesAlertMetric,
} from './alerts-rules.js';
import { formatMoney } from './money.js';

export type SalesAlertStatus = 'RAISED' | 'CLEARED';

/**
 * One alert about one closed HOUR window. `expected` and `observed` are decimal strings: counts
 * for ORDERS and UNITS (expected may end in .5, a median), minor units for REVENUE (the API
 * formats them as money). `version` is 1 when raised and goes up with every later change.
 */
export type SalesAlert = {
  position: Position;
  cursor: string;
  id: string;
  windowStart: Date;
  windowEnd: Date;
  localStart: string;
  kind: SalesAlertKind;
  metric: SalesAlertMetric;
  currency: string | null;
  productId: string | null;
  status: SalesAlertStatus;
  expected: string;
  observed: string;
  score: number;
  baseline: SalesAlertBaseline;
  samples: number;
  version: number;
  raisedAt: Date;
  updatedAt: Date;
};

export type SalesAlertFilter = {
  kinds?: readonly SalesAlertKind[] | null;
  metrics?: readonly SalesAlertMetric[] | null;
  /** Window starts in [from, to). */
  from?: Date | null;
  to?: Date | null;
};

export const SALES_ALERT_COLUMNS = `t.id::text AS id, t.window_start, t.window_end, t.local_start, t.kind, t.metric,
  t.currency, t.product_id, t.status, t.expected::text AS expected, t.observed::text AS observed, t.score,
  t.baseline, t.samples, t.version, t.raised_at, t.updated_at`;

export function toSalesAlert(row: Record<string, unknown>): SalesAlert {
  const position = positionOf(row);
  return {
    position,
    cursor: encodeCursor(position),
    id: row.id as string,
    windowStart: row.window_start as Date,
    windowEnd: row.window_end as Date,
    localStart: row.local_start as string,
    kind: row.kind as SalesAlertKind,
    metric: row.metric as SalesAlertMetric,
    currency: (row.currency as string) || null,
    productId: (row.product_id as string) || null,
    status: row.status as SalesAlertStatus,
    expected: row.expected as string,
    observed: row.observed as string,
    score: row.score as number,
    baseline: row.baseline as SalesAlertBaseline,
    samples: row.samples as number,
    version: row.version as number,
    raisedAt: row.raised_at as Date,
    updatedAt: row.updated_at as Date,
  };
}

export const salesAlertFeed: FeedSource<SalesAlert, SalesAlertFilter> = {
  topic: 'alerts:sales',
  table: 'sales_alerts',
  columns: SALES_ALERT_COLUMNS,
  toItem: toSalesAlert,
  where(filter, bind) {
    const conditions: string[] = [];
    if (filter.kinds != null && filter.kinds.length > 0) conditions.push(`t.kind = ANY(${bind(filter.kinds)}::text[])`);
    if (filter.metrics != null && filter.metrics.length > 0) {
      conditions.push(`t.metric = ANY(${bind(filter.metrics)}::text[])`);
    }
    if (filter.from != null) conditions.push(`t.window_start >= ${bind(filter.from)}`);
    if (filter.to != null) conditions.push(`t.window_start < ${bind(filter.to)}`);
    return conditions;
  },
  matches(alert, filter) {
    return (
      (filter.kinds == null || filter.kinds.length === 0 || filter.kinds.includes(alert.kind)) &&
      (filter.metrics == null || filter.metrics.length === 0 || filter.metrics.includes(alert.metric)) &&
      (filter.from == null || alert.windowStart >= filter.from) &&
      (filter.to == null || alert.windowStart < filter.to)
    );
  },
  keyOf: (alert) => alert.id,
};

/** Checks a filter from the API: known kinds and metrics, from not after to. */
export function checkSalesAlertFilter(filter: SalesAlertFilter): SalesAlertFilter {
  const unknownKinds = (filter.kinds ?? []).filter((k) => !SALES_ALERT_KINDS.includes(k));
  if (unknownKinds.length > 0) {
    throw new InvalidInput(`kinds must be among ${SALES_ALERT_KINDS.join(', ')}, got ${unknownKinds.join(', ')}`);
  }
  const unknownMetrics = (filter.metrics ?? []).filter((m) => !SALES_ALERT_METRICS.includes(m));
  if (unknownMetrics.length > 0) {
    throw new InvalidInput(`metrics must be among ${SALES_ALERT_METRICS.join(', ')}, got ${unknownMetrics.join(', ')}`);
  }
  if (filter.from != null && filter.to != null && filter.from > filter.to) {
    throw new InvalidInput(`from (${filter.from.toISOString()}) must not be after to (${filter.to.toISOString()})`);
  }
  return filter;
}

/**
 * Alerts in feed order (each in its latest state; a changed alert moves to the end), a page at a
 * time; the last page's endCursor can be handed to the salesAlerts subscription.
 */
export async function readSalesAlertPage(
  db: Queryable,
  filter: SalesAlertFilter,
  page: { first?: number | null; after?: string | null },
): Promise<Page<SalesAlert>> {
  checkSalesAlertFilter(filter);
  const first = checkPageSize(page.first);
  const after = page.after ? decodeCursor(page.after) : START;
  // One extra row tells whether there is a next page.
  const result = await readAfter(db, salesAlertFeed, after, { filter, limit: first + 1 });
  const items = result.items.slice(0, first);
  return {
    items,
    hasNextPage: result.items.length > first || result.heldBack,
    endCursor: items.at(-1)?.cursor ?? page.after ?? null,
  };
}

/** The latest alerts raised (not cleared), newest window first: the dashboard's panel. */
export async function readRecentSalesAlerts(db: Pick<pg.Pool, 'query'>, limit: number): Promise<SalesAlert[]> {
  const { rows } = await db.query(
    `SELECT ${SALES_ALERT_COLUMNS}, t.tx_id, t.seq FROM sales_alerts t
      WHERE t.status = 'RAISED' ORDER BY t.window_start DESC, t.id DESC LIMIT $1`,
    [limit],
  );
  return rows.map(toSalesAlert);
}

/** An alert's expected or observed value as shown: money with the currency's decimals for REVENUE, else the count. */
export function formatAlertValue(metric: SalesAlertMetric, value: string, currency: string | null): string {
  if (metric !== 'REVENUE' || !currency) return value;
  return formatMoney(BigInt(value.replace(/\.\d*$/, '')), currency);
}
