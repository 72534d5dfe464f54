// Recommendations: a shopper's list, as it stands now and live as it changes.
import type {
  RecommendationList as RecommendationListShape,
  Recommendation as RecommendationShape,
} from '../core/recommendations/types.js';
import { MAX_LIST_SIZE } from '../core/recommendations/types.js';
import { builder } from './builder.js';
import { loadProduct, PRODUCT_FIELD_DESCRIPTION, Product } from './catalogue.js';

const Recommendation = builder.objectRef<RecommendationShape>('Recommendation').implement({
  fields: (t) => ({
    productId: t.exposeID('productId'),
    product: t.field({
      type: Product,
      nullable: true,
      description: PRODUCT_FIELD_DESCRIPTION,
      resolve: (item, _args, context) => loadProduct(context, item.productId),
    }),
    score: t.exposeFloat('score', { description: 'Higher is better; a list is ordered by it.' }),
    reason: t.exposeString('reason', {
      description: "Why, in words a shopper understands, e.g. 'Often bought with 102'.",
    }),
  }),
});

const RecommendationList = builder.objectRef<RecommendationListShape>('RecommendationList').implement({
  fields: (t) => ({
    userId: t.exposeID('userId'),
    items: t.field({ type: [Recommendation], resolve: (list) => list.items }),
    updatedAt: t.field({
      type: 'DateTime',
      description: 'When the list last changed (now, when it changed only through what became popular).',
      resolve: (list) => list.updatedAt,
    }),
  }),
});

const LIMIT = 'How many items, 1-50 (default 10).';

builder.queryField('recommendations', (t) =>
  t.field({
    type: RecommendationList,
    description:
      'The shopper’s list now: products related to what they recently looked at, carted or bought, then what is popular; never what they bought.',
    args: {
      userId: t.arg.id({ required: true }),
      limit: t.arg.int({ description: LIMIT }),
      category: t.arg.string({
        description: `Only the list's products in this catalogue category (exact match), taken from its first ${MAX_LIST_SIZE}.`,
      }),
    },
    authScopes: (_root, { userId }) => ({ user: userId }),
    resolve: (_root, { userId, limit, category }, { core }) => core.recommendations(userId, limit, category),
  }),
);

builder.subscriptionField('recommendations', (t) =>
  t.field({
    type: RecommendationList,
    description:
      'The user’s list, first as it stands now, then each time it changes. A slow subscriber gets the latest list, not a backlog; an unchanged list is not sent again.',
    args: { userId: t.arg.id({ required: true }), limit: t.arg.int({ description: LIMIT }) },
    authScopes: (_root, { userId }) => ({ user: userId }),
    subscribe: (_root, { userId, limit }, { core }) => core.followRecommendations(userId, limit),
    // A feed error arrives as the stream's last value; returning it makes it a GraphQL error.
    resolve: (list) => list as RecommendationListShape,
  }),
);
