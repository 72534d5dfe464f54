// Sales alerts, staff only: SALES_DROP and SALES_SPIKE per closed HOUR window, paged and live.
// The work is in src/core/sales/alerts*.ts.
import { formatAlertValue, type SalesAlert as SalesAlertShape } from '../core/sales/alerts-feed.js';
import { SALES_ALERT_KINDS, SALES_ALERT_METRICS } from '../core/sales/alerts-rules.js';
import { builder } from './builder.js';
import { connectionOf } from './pagination.js';

const SalesAlertKindEnum = builder.enumType('SalesAlertKind', {
  values: SALES_ALERT_KINDS,
  description: 'SALES_DROP: an hour well below what is normal for it; SALES_SPIKE: well above.',
});

const SalesAlertMetricEnum = builder.enumType('SalesAlertMetric', {
  values: SALES_ALERT_METRICS,
  description: 'ORDERS and REVENUE: the whole shop, per currency. UNITS: one product (spikes only).',
});

const SalesAlertStatusEnum = builder.enumType('SalesAlertStatus', {
  values: ['RAISED', 'CLEARED'] as const,
  description: 'CLEARED: late events changed the hour so that it is no longer unusual.',
});

const SalesAlertBaselineEnum = builder.enumType('SalesAlertBaseline', {
  values: ['WEEKS', 'DAYS', 'HOURS'] as const,
  description:
    "What the hour was compared with: the same hour of the shop's week over the trailing weeks; while that history is short, the same hour of the trailing days; else the hours just before.",
});

const SalesAlert = builder.objectRef<SalesAlertShape>('SalesAlert').implement({
  description:
    "An HOUR window (on the shop's clock) whose orders, revenue or product units were unusual, judged once the window closed in event time (its end plus SALES_ALERT_LATENESS_MINUTES behind the latest activity). A late correction updates it (version).",
  fields: (t) => ({
    cursor: t.exposeString('cursor', {
      description: "Opaque; this state's position in the alerts feed. Pass it as `after` to resume.",
    }),
    id: t.exposeID('id', { description: 'The same for every version of one alert.' }),
    kind: t.field({ type: SalesAlertKindEnum, resolve: (a) => a.kind }),
    metric: t.field({ type: SalesAlertMetricEnum, resolve: (a) => a.metric }),
    status: t.field({ type: SalesAlertStatusEnum, resolve: (a) => a.status }),
    windowStart: t.field({ type: 'DateTime', resolve: (a) => a.windowStart }),
    windowEnd: t.field({ type: 'DateTime', resolve: (a) => a.windowEnd }),
    localStart: t.exposeString('localStart', {
      description: 'The start on the shop\'s clock with its UTC offset, e.g. "2026-03-08T14:00:00-05:00".',
    }),
    currency: t.exposeString('currency', { nullable: true, description: 'ORDERS and REVENUE only.' }),
    productId: t.exposeID('productId', { nullable: true, description: 'UNITS only.' }),
    expected: t.string({
      description:
        'What is normal for this hour: the median of the comparison hours. A count (may end in .5), or money in the currency for REVENUE.',
      resolve: (a) => formatAlertValue(a.metric, a.expected, a.currency),
    }),
    observed: t.string({
      description: 'What the hour had: a count, or money for REVENUE.',
      resolve: (a) => formatAlertValue(a.metric, a.observed, a.currency),
    }),
    score: t.exposeFloat('score', {
      description:
        'How unusual: robust standard deviations from normal on the square-root scale (negative for a drop). Alerts start at ±SALES_ALERT_SENSITIVITY.',
    }),
    baseline: t.field({ type: SalesAlertBaselineEnum, resolve: (a) => a.baseline }),
    samples: t.exposeInt('samples', { description: 'How many comparison hours the expected value is the median of.' }),
    version: t.exposeInt('version', { description: '1 when raised, +1 with every later change (a late correction).' }),
    updatedAt: t.field({
      type: 'DateTime',
      description: 'When this version was written.',
      resolve: (a) => a.updatedAt,
    }),
  }),
});

const SalesAlertConnection = connectionOf('SalesAlert', SalesAlert);

builder.queryField('salesAlerts', (t) =>
  t.field({
    type: SalesAlertConnection,
    description:
      'Sales alerts in feed order, each in its latest state (a changed alert moves to the end). Page with `first` (1-500, default 50) and `after`; the last endCursor can be passed to the subscription.',
    args: {
      kinds: t.arg({ type: [SalesAlertKindEnum] }),
      metrics: t.arg({ type: [SalesAlertMetricEnum] }),
      from: t.arg({ type: 'DateTime', description: 'Windows starting at or after this instant.' }),
      to: t.arg({ type: 'DateTime', description: 'Windows starting before this instant.' }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    authScopes: { staff: true },
    resolve: (_root, { kinds, metrics, from, to, first, after }, { core }) =>
      core.salesAlerts({ kinds, metrics, from, to }, { first, after }),
  }),
);

builder.subscriptionField('salesAlerts', (t) =>
  t.field({
    type: SalesAlert,
    description:
      'Each alert when raised and again whenever it changes (a late correction, CLEARED). Conflated: a slow subscriber gets the latest state of each alert. With `after`, first every alert changed since that cursor.',
    args: {
      kinds: t.arg({ type: [SalesAlertKindEnum] }),
      metrics: t.arg({ type: [SalesAlertMetricEnum] }),
      after: t.arg.string(),
    },
    authScopes: { staff: true },
    subscribe: (_root, { kinds, metrics, after }, { core }) => core.followSalesAlerts({ kinds, metrics }, after),
    // A feed error (UNAVAILABLE) arrives as the stream's last value; returning it makes it a GraphQL error.
    resolve: (item) => item as SalesAlertShape,
  }),
);
