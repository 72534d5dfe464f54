// The feed's topics, one per feed table: `<stream>:<fact>`. A wake-up names only the topic;
// subscribers' filters (a user, a product) are applied when the rows are read.
export const FEED_TOPICS = [
  'activity:event',
  'inventory:warning',
  'sales:window',
  'recommendations:list',
  'alerts:sales',
] as const;

// Wake-ups for background work rather than for subscribers: there is no feed table behind them,
// so they are kept out of FEED_TOPICS (metrics and subscriber counts iterate over that list).
// 'recommendations:rebuild': shoppers were queued in recommendation_rebuilds; build their lists.
// 'inventory:event': inventory events were appended to the log (the activity log's wake-up is
// its feed topic, 'activity:event'). 'processing:checkpoint': a processor committed a batch.
// 'catalogue:event': catalogue entries were appended to the log.
// 'refunds:event': refunds were appended to their log.
export const WORK_TOPICS = [
  'recommendations:rebuild',
  'inventory:event',
  'processing:checkpoint',
  'catalogue:event',
  'refunds:event',
] as const;

/** Anything a wake-up may name: a feed table's topic or a work topic. */
export type FeedTopic = (typeof FEED_TOPICS)[number] | (typeof WORK_TOPICS)[number];
