// Summaries of user activity over a time range: the funnel and the top products.
import {
  type Funnel as FunnelShape,
  PRODUCT_METRICS,
  type ProductStat as ProductStatShape,
} from '../core/activity/summaries.js';
import { builder } from './builder.js';

const ProductMetricEnum = builder.enumType('ProductMetric', {
  values: PRODUCT_METRICS,
  description:
    'BROWSES and CARTS count BROWSE and ADD_TO_CART events; PURCHASES sums the units bought; REVENUE sums quantity × unitPrice in one currency.',
});

const Funnel = builder.objectRef<FunnelShape>('Funnel').implement({
  description: 'Distinct users with a BROWSE, an ADD_TO_CART and a PURCHASE whose occurredAt is in [from, to).',
  fields: (t) => ({
    from: t.field({ type: 'DateTime', nullable: true, resolve: (f) => f.from }),
    to: t.field({ type: 'DateTime', nullable: true, resolve: (f) => f.to }),
    browsers: t.exposeInt('browsers'),
    carters: t.exposeInt('carters'),
    purchasers: t.exposeInt('purchasers'),
    conversionRate: t.exposeFloat('conversionRate', { description: 'purchasers / browsers, 0 when there are none.' }),
  }),
});

const ProductStat = builder.objectRef<ProductStatShape>('ProductStat').implement({
  fields: (t) => ({
    productId: t.exposeID('productId'),
    metric: t.field({ type: ProductMetricEnum, resolve: (s) => s.metric }),
    value: t.exposeString('value', {
      description: 'A whole number, or for REVENUE a Money decimal in the requested currency.',
    }),
  }),
});

builder.queryField('funnel', (t) =>
  t.field({
    type: Funnel,
    description: 'From browse to cart to purchase, by occurredAt in [from, to); an open end is unbounded.',
    authScopes: { staff: true },
    args: { from: t.arg({ type: 'DateTime' }), to: t.arg({ type: 'DateTime' }) },
    resolve: (_root, range, { core }) => core.funnel(range),
  }),
);

builder.queryField('topProducts', (t) =>
  t.field({
    type: [ProductStat],
    description:
      'The products with the highest `by` in [from, to) (occurredAt; an open end is unbounded), highest first, ties by productId.',
    authScopes: { staff: true },
    args: {
      by: t.arg({ type: ProductMetricEnum, required: true }),
      from: t.arg({ type: 'DateTime' }),
      to: t.arg({ type: 'DateTime' }),
      limit: t.arg.int({ description: '1 to 100, default 10.' }),
      currency: t.arg.string({
        description: 'For REVENUE: only purchases in this ISO 4217 currency; default from configuration.',
      }),
    },
    resolve: (_root, args, { core }) => core.topProducts(args),
  }),
);
