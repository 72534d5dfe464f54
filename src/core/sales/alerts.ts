// The sales-alerts processor: follows the whole activity log (browses and carts move event time
// too, so a checkout that stops selling while shoppers keep browsing is still judged) and, once
// an HOUR window on the shop's clock is closed in event time (its end plus
// SALES_ALERT_LATENESS_MINUTES is at or before the watermark, the latest occurredAt applied),
// compares its orders and revenue per currency, and each product's units, with what is normal
// for that hour (alerts-rules.ts). A purchase that arrives for an hour already closed re-judges
// that hour, and an alert whose verdict or values change is updated (version + 1, published
// again); one whose verdict is taken back is CLEARED. Everything (history, alerts, webhook
// deliveries, state) is written in the runner's one transaction with the checkpoint, so a crash
// repeats nothing and loses nothing.
//
// An hour's values are read from the activity log up to the batch's last position: a function
// of the log prefix applied, whatever has been committed since.
import type { Tx } from '../../db/transaction.js';
import type { Position } from '../../feed/cursor.js';
import type { FeedTopic } from '../../feed/topics.js';
import { activityLog } from '../activity/log.js';
import type { InsertedActivityEvent } from '../activity/record.js';
import { eventsOf, type Processor } from '../processing/runner.js';
import { salesAlertWebhook } from '../webhooks/payloads.js';
import { queueWebhookDeliveries } from '../webhooks/queue.js';
import { salesAlertFeed } from './alerts-feed.js';
import {
  type ComparisonHours,
  comparisonHours,
  judgeCount,
  judgeRevenue,
  type SalesAlertBaseline,
  type SalesAlertKind,
  type SalesAlertMetric,
  type SalesAlertSettings,
  UNITS_DISPERSION,
  verdictOf,
} from './alerts-rules.js';
import { createShopCalendar, type LocalWindow, type ShopCalendar } from './window.js';

export const SALES_ALERTS = 'sales-alerts';

type State = { watermark: Date; firstHour: Date; closedThrough: Date };
type Totals = { orders: number; revenueMinor: bigint };
/** Per hour (start in ms): per currency, and per product. */
type HourValues = { totals: Map<string, Totals>; units: Map<string, number> };

/** An alert as judged now, before it is compared with what is stored. */
export type AlertRow = {
  window: LocalWindow;
  kind: SalesAlertKind;
  metric: SalesAlertMetric;
  currency: string;
  productId: string;
  status: 'RAISED' | 'CLEARED';
  expected: string;
  observed: string;
  score: number;
  baseline: SalesAlertBaseline;
  samples: number;
};

export function createSalesAlertsProcessor(settings: SalesAlertSettings & { shopTimeZone?: string }): Processor {
  const calendar = createShopCalendar(settings.shopTimeZone);
  return {
    name: SALES_ALERTS,
    feed: salesAlertFeed.table,
    follows: [{ log: activityLog }],
    apply: (tx, entries) => {
      const last = entries.at(-1);
      if (!last) return Promise.resolve([]);
      return applySalesAlerts(tx, eventsOf(entries, activityLog), last.position, settings, calendar);
    },
  };
}

export async function applySalesAlerts(
  tx: Tx,
  events: readonly InsertedActivityEvent[],
  upTo: Position,
  settings: SalesAlertSettings,
  calendar: ShopCalendar,
): Promise<FeedTopic[]> {
  if (events.length === 0) return [];
  const stored = await readState(tx);
  let earliest = events[0]?.occurredAt as Date;
  let latest = earliest;
  for (const event of events) {
    if (event.occurredAt < earliest) earliest = event.occurredAt;
    if (event.occurredAt > latest) latest = event.occurredAt;
  }
  const earliestHour = calendar.windowOf('HOUR', earliest).start;
  const state: State = {
    watermark: stored && stored.watermark > latest ? stored.watermark : latest,
    firstHour: stored && stored.firstHour < earliestHour ? stored.firstHour : earliestHour,
    closedThrough: stored?.closedThrough ?? earliestHour,
  };

  // Hours already judged that a purchase of this batch belongs to: judged again.
  const due = new Map<number, LocalWindow>();
  if (stored) {
    for (const event of events) {
      if (event.type !== 'PURCHASE' || event.occurredAt >= stored.closedThrough) continue;
      const hour = calendar.windowOf('HOUR', event.occurredAt);
      due.set(hour.start.getTime(), hour);
    }
  }
  // Hours that closed with this batch, oldest first.
  const closeBy = state.watermark.getTime() - settings.latenessMinutes * 60_000;
  for (;;) {
    const hour = calendar.windowOf('HOUR', state.closedThrough);
    if (hour.end.getTime() > closeBy) break;
    due.set(hour.start.getTime(), hour);
    state.closedThrough = hour.end;
  }

  const topics: FeedTopic[] = [];
  if (due.size > 0) {
    const hours = [...due.values()].sort((a, b) => a.start.getTime() - b.start.getTime());
    const changed = await judgeHours(tx, hours, upTo, state.firstHour, settings, calendar);
    if (changed) topics.push('alerts:sales');
  }
  await writeState(tx, state);
  return topics;
}

/** Judges `hours` (oldest first), stores their values and the alerts that changed; true if any did. */
async function judgeHours(
  tx: Tx,
  hours: readonly LocalWindow[],
  upTo: Position,
  firstHour: Date,
  settings: SalesAlertSettings,
  calendar: ShopCalendar,
): Promise<boolean> {
  const observed = await readObserved(tx, hours, upTo);
  const comparisons = new Map(
    hours.map((h) => [h.start.getTime(), comparisonHours(h.start, firstHour, calendar, settings.historyWeeks)]),
  );
  const products = new Set<string>();
  for (const values of observed.values()) for (const product of values.units.keys()) products.add(product);
  // The history: hours judged before (stored), overridden by the ones judged now, in order.
  const needed = new Set<number>();
  for (const comparison of comparisons.values()) for (const h of comparison?.spreadHours ?? []) needed.add(h.getTime());
  for (const h of hours) needed.delete(h.start.getTime());
  const history = await readHistory(tx, [...needed], [...products]);
  for (const [start, values] of observed) history.set(start, values);

  const alerts: AlertRow[] = [];
  const judged = new Map<number, Map<string, Judged>>();
  for (const hour of hours) {
    const comparison = comparisons.get(hour.start.getTime());
    if (!comparison) continue;
    const metrics = new Map<string, Judged>();
    judged.set(hour.start.getTime(), metrics);
    const values = observed.get(hour.start.getTime()) as HourValues;
    alerts.push(...judgeHour(hour, values, comparison, history, settings, metrics));
  }
  await storeObserved(tx, hours, observed);
  return storeAlerts(tx, hours, alerts, judged);
}

/** What one metric of one hour came to, raised or not: a CLEARED alert shows it. */
export type Judged = { expected: string; observed: string; score: number };

/** The key of a judged metric within its hour: metric, currency, product. */
export const judgedKey = (metric: SalesAlertMetric, currency: string, productId: string) =>
  `${metric}|${currency}|${productId}`;

/**
 * The verdicts of one hour: every alert it raises, and what each metric came to (`judged`, by
 * judgedKey), so that an alert it no longer raises is cleared with the new values.
 */
export function judgeHour(
  hour: LocalWindow,
  values: HourValues,
  comparison: ComparisonHours,
  history: ReadonlyMap<number, HourValues>,
  settings: SalesAlertSettings,
  judged: Map<string, Judged> = new Map(),
): AlertRow[] {
  const alerts: AlertRow[] = [];
  const samplesOf = (h: Date) => history.get(h.getTime());
  const base = { window: hour, baseline: comparison.baseline, samples: comparison.hours.length };
  // Every currency sold in the hour or in its history: a currency that stopped selling is a drop.
  const currencies = new Set(values.totals.keys());
  for (const h of comparison.hours) for (const c of samplesOf(h)?.totals.keys() ?? []) currencies.add(c);
  const none = { orders: 0, revenueMinor: 0n };
  for (const currency of [...currencies].sort()) {
    const now = values.totals.get(currency) ?? none;
    const past = comparison.hours.map((h) => samplesOf(h)?.totals.get(currency) ?? none);
    const scatter = comparison.spreadHours.map((h) => samplesOf(h)?.totals.get(currency) ?? none);
    const orders = judgeCount(now.orders, {
      samples: past.map((p) => p.orders),
      spread: scatter.map((p) => p.orders),
    });
    const volume = { expected: orders.expected, observed: now.orders, minimum: settings.minOrders };
    judged.set(judgedKey('ORDERS', currency, ''), {
      expected: String(orders.expected),
      observed: String(now.orders),
      score: orders.score,
    });
    const ordersKind = verdictOf(orders, volume, settings.sensitivity);
    if (ordersKind) {
      alerts.push({
        ...base,
        kind: ordersKind,
        metric: 'ORDERS',
        currency,
        productId: '',
        status: 'RAISED',
        expected: String(orders.expected),
        observed: String(now.orders),
        score: orders.score,
      });
    }
    const revenue = judgeRevenue(
      now.revenueMinor,
      { samples: past.map((p) => p.revenueMinor), spread: scatter.map((p) => p.revenueMinor) },
      { expected: orders.expected, observed: now.orders },
    );
    judged.set(judgedKey('REVENUE', currency, ''), {
      expected: revenue.expectedMinor.toString(),
      observed: now.revenueMinor.toString(),
      score: revenue.score,
    });
    const revenueKind = verdictOf(revenue, volume, settings.sensitivity);
    if (revenueKind) {
      alerts.push({
        ...base,
        kind: revenueKind,
        metric: 'REVENUE',
        currency,
        productId: '',
        status: 'RAISED',
        expected: revenue.expectedMinor.toString(),
        observed: now.revenueMinor.toString(),
        score: revenue.score,
      });
    }
  }
  // Spikes only per product: a drop of one product is rarely news, and there are many products.
  for (const [productId, units] of [...values.units].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const unitsOf = (h: Date) => samplesOf(h)?.units.get(productId) ?? 0;
    const product = judgeCount(
      units,
      { samples: comparison.hours.map(unitsOf), spread: comparison.spreadHours.map(unitsOf) },
      UNITS_DISPERSION,
    );
    judged.set(judgedKey('UNITS', '', productId), {
      expected: String(product.expected),
      observed: String(units),
      score: product.score,
    });
    const kind = verdictOf(
      product,
      { expected: product.expected, observed: units, minimum: settings.minUnits },
      settings.sensitivity,
      true,
    );
    if (kind) {
      alerts.push({
        ...base,
        kind,
        metric: 'UNITS',
        currency: '',
        productId,
        status: 'RAISED',
        expected: String(product.expected),
        observed: String(units),
        score: product.score,
      });
    }
  }
  return alerts;
}

async function readState(tx: Tx): Promise<State | null> {
  const { rows } = await tx.query<{ watermark: Date; first_hour: Date; closed_through: Date }>(
    'SELECT watermark, first_hour, closed_through FROM sales_alert_state',
  );
  const row = rows[0];
  return row ? { watermark: row.watermark, firstHour: row.first_hour, closedThrough: row.closed_through } : null;
}

async function writeState(tx: Tx, state: State): Promise<void> {
  await tx.query(
    `INSERT INTO sales_alert_state (watermark, first_hour, closed_through) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET watermark = EXCLUDED.watermark, first_hour = EXCLUDED.first_hour,
       closed_through = EXCLUDED.closed_through, updated_at = now()`,
    [state.watermark.toISOString(), state.firstHour.toISOString(), state.closedThrough.toISOString()],
  );
}

/**
 * Orders (distinct orderIds, a purchase without one an order of its own), revenue and units of
 * each hour, from the purchases of the log up to `upTo`: one range scan per hour of the
 * (type, occurred_at) index.
 */
async function readObserved(tx: Tx, hours: readonly LocalWindow[], upTo: Position): Promise<Map<number, HourValues>> {
  const observed = new Map<number, HourValues>();
  for (const h of hours) observed.set(h.start.getTime(), { totals: new Map(), units: new Map() });
  const { rows } = await tx.query<{
    hour: number;
    currency: string | null;
    product_id: string | null;
    orders: string | null;
    revenue: string | null;
    units: string;
  }>(
    `SELECT h.ord::int - 1 AS hour, e.currency, NULL AS product_id,
            count(DISTINCT coalesce('o:' || e.order_id, 'e:' || e.event_id))::text AS orders,
            sum(e.quantity::bigint * e.unit_price_minor)::text AS revenue, sum(e.quantity)::text AS units
       FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS h(start_at, end_at, ord)
       JOIN activity_events e ON e.type = 'PURCHASE' AND e.occurred_at >= h.start_at AND e.occurred_at < h.end_at
      WHERE (e.tx_id, e.seq) <= ($3::bigint, $4::bigint)
      GROUP BY h.ord, e.currency
     UNION ALL
     SELECT h.ord::int - 1, NULL, e.product_id, NULL, NULL, sum(e.quantity)::text
       FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS h(start_at, end_at, ord)
       JOIN activity_events e ON e.type = 'PURCHASE' AND e.occurred_at >= h.start_at AND e.occurred_at < h.end_at
      WHERE (e.tx_id, e.seq) <= ($3::bigint, $4::bigint)
      GROUP BY h.ord, e.product_id`,
    [
      hours.map((h) => h.start.toISOString()),
      hours.map((h) => h.end.toISOString()),
      upTo.txId.toString(),
      upTo.seq.toString(),
    ],
  );
  for (const row of rows) {
    const values = observed.get((hours[row.hour] as LocalWindow).start.getTime()) as HourValues;
    if (row.product_id !== null) values.units.set(row.product_id, Number(row.units));
    else if (row.currency !== null) {
      values.totals.set(row.currency, { orders: Number(row.orders), revenueMinor: BigInt(row.revenue ?? '0') });
    }
  }
  return observed;
}

/** The stored values of the hours `starts` (ms), per currency and for `products`. */
async function readHistory(
  tx: Tx,
  starts: readonly number[],
  products: readonly string[],
): Promise<Map<number, HourValues>> {
  const history = new Map<number, HourValues>();
  if (starts.length === 0) return history;
  const instants = starts.map((ms) => new Date(ms).toISOString());
  const valuesOf = (at: Date) => {
    let values = history.get(at.getTime());
    if (!values) {
      values = { totals: new Map(), units: new Map() };
      history.set(at.getTime(), values);
    }
    return values;
  };
  const totals = await tx.query<{ hour_start: Date; currency: string; orders: string; revenue_minor: string }>(
    'SELECT hour_start, currency, orders, revenue_minor FROM sales_alert_hours WHERE hour_start = ANY($1::timestamptz[])',
    [instants],
  );
  for (const row of totals.rows) {
    valuesOf(row.hour_start).totals.set(row.currency, {
      orders: Number(row.orders),
      revenueMinor: BigInt(row.revenue_minor),
    });
  }
  if (products.length > 0) {
    const units = await tx.query<{ hour_start: Date; product_id: string; units: string }>(
      `SELECT hour_start, product_id, units FROM sales_alert_product_hours
        WHERE hour_start = ANY($1::timestamptz[]) AND product_id = ANY($2::text[])`,
      [instants, products],
    );
    for (const row of units.rows) valuesOf(row.hour_start).units.set(row.product_id, Number(row.units));
  }
  return history;
}

/** Replaces the stored values of the judged hours (a late purchase changes them). */
async function storeObserved(tx: Tx, hours: readonly LocalWindow[], observed: Map<number, HourValues>): Promise<void> {
  const starts = hours.map((h) => h.start.toISOString());
  await tx.query('DELETE FROM sales_alert_hours WHERE hour_start = ANY($1::timestamptz[])', [starts]);
  await tx.query('DELETE FROM sales_alert_product_hours WHERE hour_start = ANY($1::timestamptz[])', [starts]);
  const totals: Array<[string, string, number, string]> = [];
  const units: Array<[string, string, number]> = [];
  for (const [start, values] of observed) {
    const at = new Date(start).toISOString();
    for (const [currency, t] of values.totals) totals.push([at, currency, t.orders, t.revenueMinor.toString()]);
    for (const [productId, n] of values.units) units.push([at, productId, n]);
  }
  if (totals.length > 0) {
    await tx.query(
      `INSERT INTO sales_alert_hours (hour_start, currency, orders, revenue_minor)
       SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::bigint[])`,
      [totals.map((r) => r[0]), totals.map((r) => r[1]), totals.map((r) => r[2]), totals.map((r) => r[3])],
    );
  }
  if (units.length > 0) {
    await tx.query(
      `INSERT INTO sales_alert_product_hours (hour_start, product_id, units)
       SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[])`,
      [units.map((r) => r[0]), units.map((r) => r[1]), units.map((r) => r[2])],
    );
  }
}

/**
 * Writes the verdicts of the judged hours: a new alert is inserted; a stored one is updated only
 * if its status or values changed (version + 1, re-stamped so that the feed publishes it again);
 * a stored RAISED alert the hour no longer raises is CLEARED. Every row written is queued for
 * the webhook endpoints that take SALES_ALERT, in this transaction. True if any row was written.
 */
async function storeAlerts(
  tx: Tx,
  hours: readonly LocalWindow[],
  alerts: AlertRow[],
  judged: ReadonlyMap<number, ReadonlyMap<string, Judged>>,
): Promise<boolean> {
  const keyOf = (a: { start: Date; kind: string; metric: string; currency: string; productId: string }) =>
    `${a.start.getTime()}|${a.kind}|${a.metric}|${a.currency}|${a.productId}`;
  const raised = new Set(alerts.map((a) => keyOf({ start: a.window.start, ...a })));
  const { rows: standing } = await tx.query<{
    window_start: Date;
    window_end: Date;
    local_start: string;
    kind: SalesAlertKind;
    metric: SalesAlertMetric;
    currency: string;
    product_id: string;
    expected: string;
    observed: string;
    score: number;
    baseline: SalesAlertBaseline;
    samples: number;
  }>(
    `SELECT window_start, window_end, local_start, kind, metric, currency, product_id, expected::text AS expected,
            observed::text AS observed, score, baseline, samples
       FROM sales_alerts WHERE window_start = ANY($1::timestamptz[]) AND status = 'RAISED'`,
    [hours.map((h) => h.start.toISOString())],
  );
  const rows = alerts.slice();
  for (const s of standing) {
    if (raised.has(keyOf({ start: s.window_start, productId: s.product_id, ...s }))) continue;
    // Cleared with what the metric comes to now (the stored values when it was not judged again).
    const now = judged.get(s.window_start.getTime())?.get(judgedKey(s.metric, s.currency, s.product_id));
    rows.push({
      window: { start: s.window_start, end: s.window_end, localStart: s.local_start },
      kind: s.kind,
      metric: s.metric,
      currency: s.currency,
      productId: s.product_id,
      status: 'CLEARED',
      expected: now?.expected ?? s.expected,
      observed: now?.observed ?? s.observed,
      score: now?.score ?? s.score,
      baseline: s.baseline,
      samples: s.samples,
    });
  }
  if (rows.length === 0) return false;
  // Sorted by the key, so that concurrent writers (there is one owner; a replayed batch) lock in one order.
  rows.sort((a, b) => {
    const ka = keyOf({ start: a.window.start, ...a });
    const kb = keyOf({ start: b.window.start, ...b });
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const { rows: written } = await tx.query(
    `INSERT INTO sales_alerts AS a (window_start, window_end, local_start, kind, metric, currency, product_id, status,
                                    expected, observed, score, baseline, samples)
     SELECT * FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                          $7::text[], $8::text[], $9::numeric[], $10::numeric[], $11::float8[], $12::text[], $13::int[])
     ON CONFLICT (window_start, kind, metric, currency, product_id) DO UPDATE SET
       status = EXCLUDED.status, expected = EXCLUDED.expected, observed = EXCLUDED.observed, score = EXCLUDED.score,
       baseline = EXCLUDED.baseline, samples = EXCLUDED.samples,
       version = a.version + 1,
       -- Re-stamped: the alert moves to the end of the feed and is published again.
       seq = nextval(pg_get_serial_sequence('sales_alerts', 'seq')),
       tx_id = pg_current_xact_id()::text::bigint,
       updated_at = now()
     WHERE (a.status, a.expected, a.observed) IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.expected, EXCLUDED.observed)
     RETURNING a.id::text AS id, a.window_start, a.window_end, a.local_start, a.kind, a.metric, a.currency,
               a.product_id, a.status, a.expected::text AS expected, a.observed::text AS observed, a.score,
               a.baseline, a.samples, a.version, a.raised_at, a.updated_at, a.tx_id, a.seq`,
    [
      rows.map((r) => r.window.start.toISOString()),
      rows.map((r) => r.window.end.toISOString()),
      rows.map((r) => r.window.localStart),
      rows.map((r) => r.kind),
      rows.map((r) => r.metric),
      rows.map((r) => r.currency),
      rows.map((r) => r.productId),
      rows.map((r) => r.status),
      rows.map((r) => r.expected),
      rows.map((r) => r.observed),
      rows.map((r) => r.score),
      rows.map((r) => r.baseline),
      rows.map((r) => r.samples),
    ],
  );
  await queueWebhookDeliveries(tx, 'SALES_ALERT', written.map(salesAlertWebhook));
  return written.length > 0;
}
