// The recommendation_lists table read as a STATE feed: one row per shopper, re-stamped only when
// the shopper's list changes, so a follower gets each change once and a slow one only the latest.
import type { Position } from '../../feed/cursor.js';
import { type FeedSource, positionOf } from '../../feed/feed.js';
import type { Recommendation, RecommendationList } from './types.js';

export type RecommendationListItem = RecommendationList & { position: Position };

export type RecommendationFilter = { userId: string };

export const recommendationFeed: FeedSource<RecommendationListItem, RecommendationFilter> = {
  topic: 'recommendations:list',
  table: 'recommendation_lists',
  columns: 't.user_id, t.items, t.updated_at',
  toItem(row) {
    return {
      position: positionOf(row),
      userId: row.user_id as string,
      items: row.items as Recommendation[],
      updatedAt: row.updated_at as Date,
    };
  },
  where: (filter, bind) => [`t.user_id = ${bind(filter.userId)}`],
  route: { ofItem: (list) => list.userId, ofFilter: (filter) => filter.userId },
  matches: (list, filter) => list.userId === filter.userId,
  keyOf: (list) => list.userId,
};
