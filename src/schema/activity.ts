// User activity: record events, page through them, follow them live.

import type { ActivityFeedItem } from '../core/activity/feed-source.js';
import { ACTIVITY_TYPES, type ActivityType } from '../core/activity/types.js';
import { formatMoney } from '../core/sales/money.js';
import { builder } from './builder.js';
import { loadProduct, PRODUCT_FIELD_DESCRIPTION, Product } from './catalogue.js';
import { ingestMutation } from './ingest.js';
import { connectionOf } from './pagination.js';

export const ActivityTypeEnum = builder.enumType('ActivityType', { values: ACTIVITY_TYPES });

export const ActivityEvent = builder.objectRef<ActivityFeedItem>('ActivityEvent').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor', {
      description: 'Opaque; pass it as `after` to resume a subscription or page a query.',
    }),
    eventId: t.exposeID('eventId'),
    userId: t.exposeID('userId'),
    type: t.field({ type: ActivityTypeEnum, resolve: (event) => event.type }),
    productId: t.exposeID('productId'),
    product: t.field({
      type: Product,
      nullable: true,
      description: PRODUCT_FIELD_DESCRIPTION,
      resolve: (event, _args, context) => loadProduct(context, event.productId),
    }),
    quantity: t.exposeInt('quantity'),
    unitPrice: t.field({
      type: 'Money',
      nullable: true,
      resolve: (event) =>
        event.unitPriceMinor === null || event.currency === null
          ? null
          : formatMoney(event.unitPriceMinor, event.currency),
    }),
    currency: t.exposeString('currency', { nullable: true }),
    orderId: t.exposeID('orderId', { nullable: true }),
    occurredAt: t.field({ type: 'DateTime', resolve: (event) => event.occurredAt }),
    receivedAt: t.field({
      type: 'DateTime',
      description: 'When the service stored it.',
      resolve: (event) => event.receivedAt,
    }),
  }),
});

const ActivityConnection = connectionOf('Activity', ActivityEvent);

const ActivityEventInput = builder.inputType('ActivityEventInput', {
  fields: (t) => ({
    eventId: t.id({
      required: true,
      description: 'Chosen by the sender, unique per event. A repeat is a duplicate and changes nothing.',
    }),
    userId: t.id({ required: true }),
    type: t.field({ type: ActivityTypeEnum, required: true }),
    productId: t.id({ required: true }),
    quantity: t.int({
      description: 'Units; default 1. For PURCHASE, the units bought (stock goes down by this).',
    }),
    unitPrice: t.field({
      type: 'Money',
      description: 'For PURCHASE (required there): price of one unit. Revenue = quantity × unitPrice.',
    }),
    currency: t.string({ description: 'ISO 4217 code; default from configuration.' }),
    orderId: t.id({
      description: 'Groups PURCHASE lines into one order; without it each purchase is its own order.',
    }),
    occurredAt: t.field({ type: 'DateTime', description: 'When it happened; default: when it arrived.' }),
  }),
});

ingestMutation(
  'recordActivity',
  ActivityEventInput,
  'Validates a batch and appends its valid events to the activity log in one transaction; answers at commit (ack STORED) or once every processor has applied it (ack PROCESSED, the default). Rejected events are reported by index and kept as dead letters.',
  (core) => core.ingestActivity,
);

builder.queryField('userActivity', (t) =>
  t.field({
    type: ActivityConnection,
    description:
      'Stored events, oldest first (in the order they were committed). Page with `first` (1-500, default 50) and `after`; the last endCursor can be passed to the subscription.',
    args: {
      userId: t.arg.id(),
      types: t.arg({ type: [ActivityTypeEnum] }),
      productId: t.arg.id(),
      from: t.arg({ type: 'DateTime', description: 'occurredAt at or after this instant.' }),
      to: t.arg({ type: 'DateTime', description: 'occurredAt before this instant.' }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    // Everyone's activity is for staff; a shopper may read their own.
    authScopes: (_root, { userId }) => (userId ? { user: userId } : { staff: true }),
    resolve: (_root, { first, after, ...filter }, { core }) =>
      core.userActivity(filter as ActivityFilterArgs, { first, after }),
  }),
);

builder.subscriptionField('userActivity', (t) =>
  t.field({
    type: ActivityEvent,
    description:
      "A shopper's own events, or (staff) everyone's when userId is left out. With `after`, replays what was missed first, then goes live.",
    args: {
      userId: t.arg.id(),
      types: t.arg({ type: [ActivityTypeEnum] }),
      after: t.arg.string(),
    },
    authScopes: (_root, { userId }) => (userId ? { user: userId } : { staff: true }),
    subscribe: (_root, { userId, types, after }, { core }) => core.followUserActivity({ userId, types }, after),
    // A feed error (RESYNC_REQUIRED) arrives as the stream's last value; returning it makes it a GraphQL error.
    resolve: (item) => item as ActivityFeedItem,
  }),
);

type ActivityFilterArgs = { userId?: string | null; types?: ActivityType[] | null; productId?: string | null };
