// The catalogue: record products (name, category, list price), read them, and the `product`
// field that every type naming a product carries (batched: a page of 500 items is one query).
import { createBatchLoader, type Loader } from '../core/catalogue/loader.js';
import type { CategorySales as CategorySalesShape, CategorySalesWindow } from '../core/catalogue/read.js';
import type { Product as ProductShape } from '../core/catalogue/types.js';
import { formatMoney } from '../core/sales/money.js';
import { builder } from './builder.js';
import type { GraphQLContext } from './context.js';
import { ingestMutation } from './ingest.js';

export const Product = builder.objectRef<ProductShape>('Product').implement({
  description: 'A product as its latest catalogue entry (recordProducts, by occurredAt) says.',
  fields: (t) => ({
    productId: t.exposeID('productId'),
    name: t.exposeString('name'),
    category: t.exposeString('category'),
    listPrice: t.field({
      type: 'Money',
      nullable: true,
      description: 'In `currency`; null when the latest entry has none.',
      resolve: (p) =>
        p.listPriceMinor === null || p.currency === null ? null : formatMoney(p.listPriceMinor, p.currency),
    }),
    currency: t.exposeString('currency', { nullable: true }),
    occurredAt: t.field({
      type: 'DateTime',
      description: 'Event time of the entry shown (a later entry replaces it, an older one arriving late does not).',
      resolve: (p) => p.occurredAt,
    }),
    updatedAt: t.field({ type: 'DateTime', resolve: (p) => p.updatedAt }),
  }),
});

// Per GraphQL context (one request, or one subscription): the ids asked for in a tick load together.
const productLoaders = new WeakMap<GraphQLContext, Loader<string, ProductShape | null>>();
const categoryLoaders = new WeakMap<GraphQLContext, Loader<CategorySalesWindow, CategorySalesShape[] | null>>();

/** The catalogue's entry for `productId`, or null when the catalogue does not know it. */
export function loadProduct(context: GraphQLContext, productId: string): Promise<ProductShape | null> {
  let load = productLoaders.get(context);
  if (!load) {
    load = createBatchLoader((ids: readonly string[]) => context.core.productsById(ids));
    productLoaders.set(context, load);
  }
  return load(productId);
}

/** A window's revenue per category; the windows of one page load in one query. */
export async function loadCategorySales(
  context: GraphQLContext,
  window: CategorySalesWindow,
): Promise<CategorySalesShape[]> {
  let load = categoryLoaders.get(context);
  if (!load) {
    load = createBatchLoader(async (windows: readonly CategorySalesWindow[]) => {
      const sales = await context.core.categorySales(windows);
      return new Map(windows.map((w, i) => [w, sales[i] ?? []]));
    });
    categoryLoaders.set(context, load);
  }
  return (await load(window)) ?? [];
}

export const PRODUCT_FIELD_DESCRIPTION =
  "The product's name and category from the catalogue; null when the catalogue does not know it.";

export const CategorySales = builder.objectRef<CategorySalesShape>('CategorySales').implement({
  description:
    "One category's part of a sales window: its products' purchases, by each product's category in the catalogue now.",
  fields: (t) => ({
    category: t.exposeString('category', {
      nullable: true,
      description: 'Null for products the catalogue does not know.',
    }),
    currency: t.exposeString('currency'),
    revenue: t.field({ type: 'Money', resolve: (c) => c.revenue }),
    units: t.exposeInt('units'),
  }),
});

const ProductEventInput = builder.inputType('ProductEventInput', {
  description: 'A catalogue entry: the whole product as of occurredAt (a later entry replaces every field).',
  fields: (t) => ({
    eventId: t.id({
      required: true,
      description: 'Chosen by the sender, unique per event. A repeat is a duplicate and changes nothing.',
    }),
    productId: t.id({ required: true }),
    name: t.string({ required: true, description: '1 to 200 characters (trimmed).' }),
    category: t.string({ required: true, description: '1 to 100 characters (trimmed); filters match it exactly.' }),
    listPrice: t.field({ type: 'Money', description: 'Optional list price of one unit, e.g. "19.99".' }),
    currency: t.string({ description: 'ISO 4217 code of listPrice; default from configuration. Only with listPrice.' }),
    occurredAt: t.field({ type: 'DateTime', description: 'When it was true; default: when it arrived.' }),
  }),
});

ingestMutation(
  'recordProducts',
  ProductEventInput,
  'Validates a batch of catalogue entries and appends the valid ones to the catalogue log in one transaction; answers at commit (ack STORED) or once the catalogue reflects them (ack PROCESSED, the default). For each product the entry latest in event time wins (occurredAt, then arrival): an older entry arriving late changes nothing. Rejected entries are reported by index and kept as dead letters.',
  (core) => core.ingestProducts,
);

builder.queryField('products', (t) =>
  t.field({
    type: [Product],
    description:
      'Catalogue entries in productId order. Page with `first` (1-500, default 50) and `after` (the last productId). Open to any signed-in shopper: a storefront shows names.',
    args: {
      productIds: t.arg.idList({ description: 'At most 1000.' }),
      category: t.arg.string({ description: 'Only products in this category (exact match).' }),
      first: t.arg.int(),
      after: t.arg.id(),
    },
    authScopes: { shopper: true },
    resolve: (_root, args, { core }) => core.products(args),
  }),
);
