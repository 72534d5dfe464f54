// The feed's topics, one per feed table: `<stream>:<fact>`. A wake-up names only the topic;
// subscribers' filters (a user, a product) are applied when the rows are read.
export const FEED_TOPICS = ['activity:event', 'inventory:warning', 'sales:window', 'recommendations:list'] as const;

export type FeedTopic = (typeof FEED_TOPICS)[number];
