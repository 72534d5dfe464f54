// A shopper's list as it stands now: the query, and the subscription that sends it first and then
// each change. Both compute the list at read time with the same rule the builder stores, so
// products that became popular reach shoppers who did nothing since, and a query reads its own
// writes; the stream then sends the stored list each time the shopper's own activity changes it
// (never an unchanged list), one build (builder.ts) after the ingest commits.
import { START } from '../../feed/cursor.js';
import { type Queryable, readAfter } from '../../feed/feed.js';
import type { Feed, FeedEnd } from '../../feed/follow.js';
import { checkCategory } from '../catalogue/read.js';
import { CoreError, InvalidInput } from '../errors.js';
import { type RecommendationListItem, recommendationFeed } from './feed-source.js';
import { computeLists } from './lists.js';
import { sameItems } from './rank.js';
import {
  DEFAULT_LIST_SIZE,
  MAX_LIST_SIZE,
  type Recommendation,
  type RecommendationList,
  type RecommendationSettings,
} from './types.js';

export type ListReader = { db: Queryable; settings: RecommendationSettings; now: () => Date };

export function checkListSize(limit: number | null | undefined): number {
  const size = limit ?? DEFAULT_LIST_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_LIST_SIZE) {
    throw new InvalidInput(`limit must be a whole number from 1 to ${MAX_LIST_SIZE}, got ${size}`);
  }
  return size;
}

export async function readRecommendations(
  reader: ListReader,
  userId: string,
  limit?: number | null,
  category?: string | null,
): Promise<RecommendationList> {
  const size = checkListSize(limit);
  const only = category == null ? null : checkCategory(category);
  const { rows } = await reader.db.query('SELECT items, updated_at FROM recommendation_lists WHERE user_id = $1', [
    userId,
  ]);
  return current(reader, userId, size, rows[0] ? { items: rows[0].items, updatedAt: rows[0].updated_at } : null, only);
}

/**
 * The list now, then the stored list each time it changes. The stored row's position is read
 * (below the feed's horizon) before the list is computed, and the feed is followed after it, so
 * no change is missed; a change that shows the same first `limit` items as the last one sent is
 * skipped. At most one item waits per subscriber (the feed conflates by userId).
 */
export function followRecommendations(
  reader: ListReader,
  feed: Feed,
  userId: string,
  limit?: number | null,
): AsyncIterableIterator<RecommendationList | FeedEnd> {
  return new ListStream(reader, feed, userId, checkListSize(limit));
}

async function current(
  reader: ListReader,
  userId: string,
  size: number,
  stored: { items: Recommendation[]; updatedAt: Date } | null,
  category: string | null = null,
): Promise<RecommendationList> {
  const now = reader.now();
  const lists = await computeLists(reader.db, [userId], now, reader.settings);
  let all = lists.get(userId) ?? [];
  let storedItems = stored?.items ?? [];
  if (category !== null) {
    // The list's items in the category, from the whole computed list (up to MAX_LIST_SIZE).
    const inCategory = await productsInCategory(reader.db, [...all, ...storedItems], category);
    all = all.filter((item) => inCategory.has(item.productId));
    storedItems = storedItems.filter((item) => inCategory.has(item.productId));
  }
  const items = all.slice(0, size);
  // The stored list's time when it shows the same; otherwise the list is new as of now.
  const updatedAt = stored && sameItems(storedItems.slice(0, size), items) ? stored.updatedAt : now;
  return { userId, items, updatedAt };
}

/** Which of `items` the catalogue has in `category`. */
async function productsInCategory(
  db: Queryable,
  items: readonly Recommendation[],
  category: string,
): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const { rows } = await db.query<{ product_id: string }>(
    'SELECT product_id FROM products WHERE product_id = ANY($1::text[]) AND category = $2',
    [[...new Set(items.map((item) => item.productId))], category],
  );
  return new Set(rows.map((row) => row.product_id));
}

class ListStream implements AsyncIterableIterator<RecommendationList | FeedEnd> {
  private readonly first: Promise<RecommendationList>;
  private firstSent = false;
  private inner: AsyncIterableIterator<RecommendationListItem | FeedEnd> | null = null;
  private last: Recommendation[] = [];
  private ended = false;

  constructor(
    private readonly reader: ListReader,
    private readonly feed: Feed,
    private readonly userId: string,
    private readonly size: number,
  ) {
    this.first = this.start();
    this.first.catch(() => {}); // reported by next()
  }

  private async start(): Promise<RecommendationList> {
    const filter = { userId: this.userId };
    const page = await readAfter(this.reader.db, recommendationFeed, START, { filter, limit: 1 });
    const stored = page.items[0] ?? null;
    const list = await current(this.reader, this.userId, this.size, stored);
    // No stored row yet (or one not yet below the horizon): START replays it when it is.
    if (!this.ended) this.inner = this.feed.follow(recommendationFeed, { after: stored?.position ?? START, filter });
    return list;
  }

  async next(): Promise<IteratorResult<RecommendationList | FeedEnd>> {
    if (this.ended) return { value: undefined, done: true };
    if (!this.firstSent) {
      const list = await this.first;
      this.firstSent = true;
      this.last = list.items;
      return { value: list, done: false };
    }
    for (;;) {
      const result = await (this.inner as AsyncIterableIterator<RecommendationListItem | FeedEnd>).next();
      if (result.done || this.ended) {
        this.ended = true;
        return { value: undefined, done: true };
      }
      const item = result.value;
      if (item instanceof CoreError) {
        this.ended = true;
        return { value: item, done: false };
      }
      const items = item.items.slice(0, this.size);
      if (sameItems(items, this.last)) continue;
      this.last = items;
      return { value: { userId: item.userId, items, updatedAt: item.updatedAt }, done: false };
    }
  }

  async return(): Promise<IteratorResult<RecommendationList | FeedEnd>> {
    this.ended = true;
    await this.inner?.return?.();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<RecommendationList | FeedEnd>> {
    await this.return();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
