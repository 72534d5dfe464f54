// Summaries of user activity over a time range: the funnel and the top products.
import {
  type Funnel as FunnelShape,
  PRODUCT_METRICS,
  type ProductStat as ProductStatShape,
} from '../core/activity/summaries.js';
import { builder } from './builder.js';
import { loadProduct, PRODUCT_FIELD_DESCRIPTION, Product } from './catalogue.js';

const ProductMetricEnum = builder.enumType('ProductMetric', {
  values: PRODUCT_METRICS,
  description:
    'BROWSES and CARTS count BROWSE and ADD_TO_CART events; PURCHASES sums the units bought; REVENUE sums quantity × unitPrice in one currency.',
});

const Funnel = builder.objectRef<FunnelShape>('Funnel').implement({
  description:
    'A true funnel over the events whose occurredAt is in [from, to): each step counts the shoppers of the step before who went on. Each step is at most the one before, and the rate at most 1.',
  fields: (t) => ({
    from: t.field({ type: 'DateTime', nullable: true, resolve: (f) => f.from }),
    to: t.field({ type: 'DateTime', nullable: true, resolve: (f) => f.to }),
    browsers: t.exposeInt('browsers', { description: 'Shoppers with a BROWSE in the range.' }),
    carters: t.exposeInt('carters', {
      description: 'Browsers with an ADD_TO_CART in the range at or after their first BROWSE in it.',
    }),
    purchasers: t.exposeInt('purchasers', {
      description: 'Carters with a PURCHASE in the range at or after that first ADD_TO_CART.',
    }),
    conversionRate: t.exposeFloat('conversionRate', {
      description: 'purchasers / browsers (at most 1), 0 when there are none.',
    }),
  }),
});

const ProductStat = builder.objectRef<ProductStatShape>('ProductStat').implement({
  fields: (t) => ({
    productId: t.exposeID('productId'),
    product: t.field({
      type: Product,
      nullable: true,
      description: PRODUCT_FIELD_DESCRIPTION,
      resolve: (s, _args, context) => loadProduct(context, s.productId),
    }),
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
      category: t.arg.string({
        description:
          'Only products in this catalogue category (exact match; products the catalogue does not know are left out).',
      }),
    },
    resolve: (_root, args, { core }) => core.topProducts(args),
  }),
);
