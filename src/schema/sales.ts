// Sales windows: revenue, orders and units per tumbling window and currency; query and live.

import { checkCategory } from '../core/catalogue/read.js';
import { formatMoney } from '../core/sales/money.js';
import type { SalesWindow as SalesWindowShape } from '../core/sales/types.js';
import { SALES_WINDOW_SIZES } from '../core/sales/window.js';
import { builder } from './builder.js';
import { CategorySales, loadCategorySales } from './catalogue.js';

const SalesWindowSizeEnum = builder.enumType('SalesWindowSize', {
  values: SALES_WINDOW_SIZES,
  description:
    "Tumbling windows on the shop's clock (SHOP_TIME_ZONE, default UTC): a DAY runs from local midnight to the next (23 or 25 hours across a daylight-saving change), an HOUR starts on the local hour, a MINUTE on the UTC minute.",
});

const SalesWindow = builder.objectRef<SalesWindowShape>('SalesWindow').implement({
  description: 'Purchases and refunds whose occurredAt lies in [start, end), in one currency.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', {
      description: "Opaque; this state's position in the sales feed. Pass it as `after` to salesUpdates.",
    }),
    size: t.field({ type: SalesWindowSizeEnum, resolve: (w) => w.size }),
    start: t.field({ type: 'DateTime', resolve: (w) => w.start }),
    end: t.field({ type: 'DateTime', resolve: (w) => w.end }),
    localStart: t.exposeString('localStart', {
      description:
        'The start on the shop\'s clock (SHOP_TIME_ZONE) with its UTC offset, e.g. "2026-03-08T00:00:00-05:00": which local hour or day this is (the offset tells the two 01:00 hours of a fall-back day apart).',
    }),
    localDate: t.string({
      description: 'The local date the window starts on, e.g. "2026-03-08": for a DAY, the shop\'s day it is.',
      resolve: (w) => w.localStart.slice(0, 10),
    }),
    currency: t.exposeString('currency'),
    revenue: t.field({
      type: 'Money',
      description: 'Sum of quantity × unitPrice, exact, with the currency’s decimals ("1000.00" USD, "1500" JPY).',
      resolve: (w) => formatMoney(w.revenueMinor, w.currency),
    }),
    orders: t.exposeInt('orders', {
      description: 'Distinct orderIds, plus one per purchase without an orderId.',
    }),
    units: t.exposeInt('units'),
    byCategory: t.field({
      type: [CategorySales],
      description:
        "The window's purchases per catalogue category (by each product's category now), biggest revenue first; they add up to the window's purchases (revenue and units). Products the catalogue does not know are under category null. The windows of one answer are read in one query.",
      args: { category: t.arg.string({ description: 'Only this category (exact match).' }) },
      resolve: async (w, { category }, context) => {
        const only = category == null ? null : checkCategory(category);
        const sales = await loadCategorySales(context, { start: w.start, end: w.end, currency: w.currency });
        return only === null ? sales : sales.filter((c) => c.category === only);
      },
    }),
    refunds: t.exposeInt('refunds', {
      description:
        'Refunds (recordRefunds) whose own occurredAt lies in this window, whenever their purchase was. revenue, orders and units count sales only.',
    }),
    refundUnits: t.exposeInt('refundUnits', { description: 'Units given back by those refunds (restocked or not).' }),
    refundAmount: t.field({
      type: 'Money',
      description: 'Money given back by those refunds, exact, in the window’s currency.',
      resolve: (w) => formatMoney(w.refundMinor, w.currency),
    }),
    netRevenue: t.field({
      type: 'Money',
      description:
        'revenue - refundAmount, exact. Negative when a window gives back more than it sells (refunds of earlier sales).',
      resolve: (w) => formatMoney(w.revenueMinor - w.refundMinor, w.currency),
    }),
    revision: t.exposeInt('revision', {
      description:
        'Goes up each time a late event corrects this window: 1 when created, +1 with every later batch that changes it.',
    }),
    updatedAt: t.field({ type: 'DateTime', description: 'When it last changed.', resolve: (w) => w.updatedAt }),
  }),
});

builder.queryField('sales', (t) =>
  t.field({
    type: [SalesWindow],
    description:
      'Windows of `size` whose start is in [from, to), oldest first (then by currency). Windows without sales or refunds are left out. At most 10,000 windows per range.',
    authScopes: { staff: true },
    args: {
      size: t.arg({ type: SalesWindowSizeEnum, required: true }),
      from: t.arg({ type: 'DateTime', required: true }),
      to: t.arg({ type: 'DateTime', required: true }),
      currency: t.arg.string({ description: 'ISO 4217 code; every currency when left out.' }),
    },
    resolve: (_root, args, { core }) => core.sales(args),
  }),
);

builder.subscriptionField('salesUpdates', (t) =>
  t.field({
    type: SalesWindow,
    description:
      'Each window each time it changes (live and late corrections). A slow subscriber gets the latest state of each window, not a backlog. With `after`, first the latest state of every window changed since that cursor.',
    authScopes: { staff: true },
    args: {
      size: t.arg({ type: SalesWindowSizeEnum, required: true }),
      currency: t.arg.string({ description: 'ISO 4217 code; every currency when left out.' }),
      after: t.arg.string(),
    },
    subscribe: (_root, { size, currency, after }, { core }) => core.followSales({ size, currency }, after),
    // A feed error (UNAVAILABLE) arrives as the stream's last value; returning it makes it a GraphQL error.
    resolve: (item) => item as SalesWindowShape,
  }),
);
