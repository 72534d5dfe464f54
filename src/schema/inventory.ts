// Inventory: record stock levels and adjustments, set thresholds, read levels and warnings,
// follow warnings live.
import type { StockWarningFeedItem } from '../core/inventory/feed-source.js';
import type { StockMovement as StockMovementShape } from '../core/inventory/movements.js';
import {
  STOCK_WARNING_KINDS,
  type StockLevel as StockLevelShape,
  type StockWarningKind,
} from '../core/inventory/types.js';
import { builder } from './builder.js';
import { loadProduct, PRODUCT_FIELD_DESCRIPTION, Product } from './catalogue.js';
import { ingestMutation } from './ingest.js';
import { connectionOf } from './pagination.js';

const StockWarningKindEnum = builder.enumType('StockWarningKind', { values: STOCK_WARNING_KINDS });

const StockLevel = builder.objectRef<StockLevelShape>('StockLevel').implement({
  fields: (t) => ({
    productId: t.exposeID('productId'),
    quantity: t.exposeInt('quantity', {
      description:
        'Units in stock; negative when purchases went past zero (a backorder). 0 when no level was ever set (see isSet).',
    }),
    threshold: t.exposeInt('threshold', {
      description: "The product's low-stock threshold, or LOW_STOCK_THRESHOLD when it has none of its own.",
    }),
    isSet: t.exposeBoolean('isSet', {
      description:
        'False until a level or an adjustment was recorded for the product (only setStockThreshold shows such a product).',
    }),
    updatedAt: t.field({ type: 'DateTime', resolve: (level) => level.updatedAt }),
    product: t.field({
      type: Product,
      nullable: true,
      description: PRODUCT_FIELD_DESCRIPTION,
      resolve: (level, _args, context) => loadProduct(context, level.productId),
    }),
  }),
});

const StockWarning = builder.objectRef<StockWarningFeedItem>('StockWarning').implement({
  description: 'A threshold crossing: one per crossing, never one per event.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', {
      description: 'Opaque; pass it as `after` to resume a subscription or page a query.',
    }),
    productId: t.exposeID('productId'),
    product: t.field({
      type: Product,
      nullable: true,
      description: PRODUCT_FIELD_DESCRIPTION,
      resolve: (warning, _args, context) => loadProduct(context, warning.productId),
    }),
    kind: t.field({ type: StockWarningKindEnum, resolve: (warning) => warning.kind }),
    quantity: t.exposeInt('quantity', { description: 'Stock level right after the change that caused the warning.' }),
    threshold: t.exposeInt('threshold', { description: 'The threshold in force after that change.' }),
    occurredAt: t.field({
      type: 'DateTime',
      description: "The causing event's occurredAt (for a threshold change: when it was set).",
      resolve: (warning) => warning.occurredAt,
    }),
  }),
});

const StockWarningConnection = connectionOf('StockWarning', StockWarning);

const InventoryEventInput = builder.inputType('InventoryEventInput', {
  fields: (t) => ({
    eventId: t.id({
      required: true,
      description: 'Chosen by the sender, unique per event. A repeat is a duplicate and changes nothing.',
    }),
    productId: t.id({ required: true }),
    quantity: t.int({ description: 'Absolute stock level (0 to 1000000000). Exactly one of quantity and delta.' }),
    delta: t.int({
      description: 'Relative adjustment (restock +50, write-off -2). Exactly one of quantity and delta.',
    }),
    occurredAt: t.field({ type: 'DateTime', description: 'When it happened; default: when it arrived.' }),
  }),
});

ingestMutation(
  'recordInventory',
  InventoryEventInput,
  'Validates a batch and appends its valid events to the inventory log in one transaction; answers at commit (ack STORED) or once stock levels and warnings reflect it (ack PROCESSED, the default). Levels follow event time: a count at T is the level as of T. Rejected events are reported by index.',
  (core) => core.ingestInventory,
);

builder.mutationField('setStockThreshold', (t) =>
  t.field({
    type: StockLevel,
    description:
      'Low-stock threshold of one product, 0 to 1000000000 (default comes from configuration, 10). The product is checked against it once: a level that is now at or below it raises LOW_STOCK.',
    args: { productId: t.arg.id({ required: true }), threshold: t.arg.int({ required: true }) },
    authScopes: { admin: true },
    resolve: (_root, { productId, threshold }, { core }) => core.setStockThreshold(productId, threshold),
  }),
);

builder.queryField('stockLevels', (t) =>
  t.field({
    type: [StockLevel],
    description:
      'Products whose level was set, in productId order. belowThreshold: true for those at or below their threshold, false for those above it. Page with `first` (1-500, default 500) and `after` (the last productId).',
    args: {
      productIds: t.arg.idList({ description: 'At most 1000.' }),
      belowThreshold: t.arg.boolean(),
      category: t.arg.string({ description: 'Only products in this catalogue category (exact match).' }),
      first: t.arg.int(),
      after: t.arg.id(),
    },
    authScopes: { staff: true },
    resolve: (_root, args, { core }) => core.stockLevels(args),
  }),
);

builder.queryField('stockWarnings', (t) =>
  t.field({
    type: StockWarningConnection,
    description:
      'Stored warnings, oldest first (feed order). Page with `first` (1-500, default 50) and `after`; the last endCursor can be passed to the subscription.',
    args: {
      productIds: t.arg.idList({ description: 'At most 1000.' }),
      kinds: t.arg({ type: [StockWarningKindEnum] }),
      from: t.arg({ type: 'DateTime', description: 'occurredAt at or after this instant.' }),
      to: t.arg({ type: 'DateTime', description: 'occurredAt before this instant.' }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    authScopes: { staff: true },
    resolve: (_root, { first, after, ...filter }, { core }) =>
      core.stockWarnings(filter as { kinds?: StockWarningKind[] | null }, { first, after }),
  }),
);

builder.subscriptionField('stockWarnings', (t) =>
  t.field({
    type: StockWarning,
    description:
      'Every warning as it happens, for the given products or all. With `after`, replays what was missed first, then goes live.',
    args: { productIds: t.arg.idList({ description: 'At most 1000.' }), after: t.arg.string() },
    authScopes: { staff: true },
    subscribe: (_root, { productIds, after }, { core }) => core.followStockWarnings({ productIds }, after),
    // A feed error (RESYNC_REQUIRED) arrives as the stream's last value; returning it makes it a GraphQL error.
    resolve: (item) => item as StockWarningFeedItem,
  }),
);

const StockMovementKindEnum = builder.enumType('StockMovementKind', {
  values: ['COUNT', 'ADJUSTMENT', 'PURCHASE', 'RETURN'] as const,
  description:
    'COUNT: an absolute level (recordInventory quantity); ADJUSTMENT: a delta; PURCHASE: units bought; RETURN: units of a refund with restock (recordRefunds) back in stock.',
});

const StockMovement = builder.objectRef<StockMovementShape>('StockMovement').implement({
  description: "One event that moved a product's stock, with the level right after it (in event time).",
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Opaque; pass it as `after` for the movements after this one.' }),
    productId: t.exposeID('productId'),
    product: t.field({
      type: Product,
      nullable: true,
      description: PRODUCT_FIELD_DESCRIPTION,
      resolve: (m, _args, context) => loadProduct(context, m.productId),
    }),
    kind: t.field({ type: StockMovementKindEnum, resolve: (m) => m.kind }),
    amount: t.exposeInt('amount', {
      description:
        'COUNT: the level counted; ADJUSTMENT: the delta; PURCHASE: minus the units bought; RETURN: the units returned.',
    }),
    level: t.exposeInt('level', {
      nullable: true,
      description:
        'The level right after this movement, by the rules of event time: a late event changes the levels after it. Null while no level was set (a purchase of a product never counted takes nothing).',
    }),
    occurredAt: t.field({ type: 'DateTime', resolve: (m) => m.occurredAt }),
    eventId: t.exposeID('eventId', { description: 'The inventory event, the purchase or the refund that made it.' }),
  }),
});

const StockMovementConnection = connectionOf('StockMovement', StockMovement);

builder.queryField('stockMovements', (t) =>
  t.field({
    type: StockMovementConnection,
    description:
      "A product's counts, adjustments, purchases and returns in event time (occurredAt, then arrival), each with the level after it. Page with `first` (1-500, default 50) and `after` (an endCursor).",
    args: { productId: t.arg.id({ required: true }), first: t.arg.int(), after: t.arg.string() },
    authScopes: { staff: true },
    resolve: (_root, { productId, first, after }, { core }) => core.stockMovements(productId, { first, after }),
  }),
);

builder.subscriptionField('stockLevels', (t) =>
  t.field({
    type: StockLevel,
    description:
      'The current level of each product (quantity 0 and isSet false for one never counted), then each new level as it changes. Conflated: a slow subscriber gets the latest level per product, not every step. For product pages: any signed-in shopper may follow any product.',
    args: { productIds: t.arg.idList({ required: true, description: '1 to 1000 products.' }) },
    authScopes: { shopper: true },
    subscribe: (_root, { productIds }, { core }) => core.followStockLevels(productIds),
    resolve: (level) => level as StockLevelShape,
  }),
);
