// The vocabulary of the recommendations stream, named as in contract.graphql.

/** One recommended product; `reason` is shown to the shopper as is. */
export type Recommendation = {
  productId: string;
  /** Higher is better; a list is ordered by it. */
  score: number;
  reason: string;
};

export type RecommendationList = {
  userId: string;
  items: Recommendation[];
  updatedAt: Date;
};

/** bought: both products carted or bought by one shopper; viewed: both looked at by one shopper. */
export type PairKind = 'bought' | 'viewed';

/** The settings of src/config.ts that the stream uses. */
export type RecommendationSettings = {
  weights: { browse: number; addToCart: number; purchase: number };
  recentProducts: number;
  partnersPerProduct: number;
  sessionMinutes: number;
  popularWindowHours: number;
};

/** Lists are stored this long; a query or subscription asks for 1 to this many items. */
export const MAX_LIST_SIZE = 50;
export const DEFAULT_LIST_SIZE = 10;
