// Reading user activity back: pages in feed order (oldest first), so that the last page's
// endCursor can be handed to the subscription to continue live with no gap.
import { decodeCursor, START } from '../../feed/cursor.js';
import { type Queryable, readAfter } from '../../feed/feed.js';
import { checkPageSize, type Page } from '../paging.js';
import { type ActivityFeedItem, activityFeed } from './feed-source.js';
import type { ActivityFilter } from './types.js';

export async function readActivityPage(
  db: Queryable,
  filter: ActivityFilter,
  page: { first?: number | null; after?: string | null },
): Promise<Page<ActivityFeedItem>> {
  const first = checkPageSize(page.first);
  const after = page.after ? decodeCursor(page.after) : START;
  // One extra row tells whether there is a next page.
  const result = await readAfter(db, activityFeed, after, { filter, limit: first + 1 });
  const items = result.items.slice(0, first);
  return {
    items,
    hasNextPage: result.items.length > first || result.heldBack,
    endCursor: items.at(-1)?.cursor ?? page.after ?? null,
  };
}
