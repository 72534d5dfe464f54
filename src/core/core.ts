// The processing core as the API sees it: plain functions over plain data. Knows nothing of
// GraphQL; tests call it directly.
import { pino } from 'pino';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { decodeCursor } from '../feed/cursor.js';
import type { Fanout } from '../feed/fanout.js';
import type { Feed } from '../feed/follow.js';
import type { Logger } from '../log.js';
import { activityFeed } from './activity/feed-source.js';
import { readActivityPage } from './activity/history.js';
import { type ProductMetric, readFunnel, readTopProducts, type TimeRange } from './activity/summaries.js';
import type { ActivityEventInput, ActivityFilter } from './activity/types.js';
import type { Clock } from './clock.js';
import { Unavailable } from './errors.js';
import { type IngestStream, listDeadLetters } from './ingest/dead-letters.js';
import { createActivityIngest } from './ingest/ingest.js';
import type { IngestReport } from './ingest/rejections.js';
import { stockWarningFeed } from './inventory/feed-source.js';
import { createInventoryIngest } from './inventory/ingest.js';
import { createPurchaseProcessor } from './inventory/purchases.js';
import { checkProductIds, readStockLevels, readStockWarningPage, type StockLevelQuery } from './inventory/queries.js';
import { createSetStockThreshold } from './inventory/threshold.js';
import type { InventoryEventInput, StockWarningFilter } from './inventory/types.js';
import { createRecommendationBuilder } from './recommendations/builder.js';
import { createRecommendationsProcessor } from './recommendations/processor.js';
import { followRecommendations, readRecommendations } from './recommendations/read.js';
import { applySalesWindows } from './sales/aggregate.js';
import { salesFeed } from './sales/feed-source.js';
import { requireCurrency } from './sales/money.js';
import { readSalesWindows, type SalesQuery } from './sales/query.js';
import type { SalesFilter } from './sales/types.js';

export type CoreOptions = {
  db: Db;
  feed: Feed;
  fanout: Fanout;
  clock: Clock;
  config: Pick<Config, 'ingest' | 'inventory' | 'recommendations'>;
  /** Told the outcome of every ingest batch, for metrics. */
  onIngested?: (stream: IngestStream, report: IngestReport) => void;
  /** For what goes wrong in the background (the recommendation builder); silent without it. */
  log?: Logger;
};

export type Core = ReturnType<typeof createCore>;

export function createCore({ db, feed, fanout, clock, config, onIngested, log }: CoreOptions) {
  const writes = trackWrites();
  const reported = (stream: IngestStream) => (report: IngestReport) => {
    onIngested?.(stream, report);
    return report;
  };
  const lists = { db: db.pool, settings: config.recommendations, now: () => clock.now() };
  const defaultThreshold = config.inventory.lowStockThreshold;
  const ingestActivity = createActivityIngest({
    pool: db.pool,
    fanout,
    clock,
    maxBatchSize: config.ingest.maxBatchSize,
    defaultCurrency: config.ingest.defaultCurrency,
    // Hot rows last: the current sales windows are shared by every batch, and a row lock is held
    // from its statement until COMMIT, so concurrent batches wait on each other the least when
    // they take it just before committing.
    processors: [
      createRecommendationsProcessor(config.recommendations),
      createPurchaseProcessor({ defaultThreshold, clock }),
      applySalesWindows,
    ],
  });
  // Stored lists are rebuilt after the ingest COMMIT; queries compute theirs at read time.
  const builder = createRecommendationBuilder({
    pool: db.pool,
    fanout,
    clock,
    settings: config.recommendations,
    log: log ?? pino({ level: 'silent' }),
  });

  const ingestInventory = createInventoryIngest({
    pool: db.pool,
    fanout,
    clock,
    maxBatchSize: config.ingest.maxBatchSize,
    defaultThreshold,
  });
  const setStockThreshold = createSetStockThreshold({ pool: db.pool, fanout, clock, defaultThreshold });

  return {
    ingestActivity: (events: readonly ActivityEventInput[]) =>
      writes.run(() => ingestActivity(events).then(reported('activity'))),

    userActivity: (filter: ActivityFilter, page: { first?: number | null; after?: string | null }) =>
      readActivityPage(db.pool, filter, page),

    followUserActivity: (filter: ActivityFilter, after?: string | null) =>
      feed.follow(activityFeed, { filter, after: after ? decodeCursor(after) : null }),

    sales: (query: SalesQuery) => readSalesWindows(db.pool, query),

    /** Each window of `filter` every time it changes; a slow subscriber gets each window's latest state. */
    followSales: (filter: SalesFilter, after?: string | null) =>
      feed.follow(salesFeed, {
        filter: { ...filter, currency: filter.currency == null ? null : requireCurrency(filter.currency) },
        after: after ? decodeCursor(after) : null,
      }),

    funnel: (range: TimeRange) => readFunnel(db.pool, range),

    /** REVENUE is summed in `currency` (default: DEFAULT_CURRENCY); other metrics ignore it. */
    topProducts: (query: TimeRange & { by: ProductMetric; limit?: number | null; currency?: string | null }) =>
      readTopProducts(db.pool, { ...query, currency: query.currency ?? config.ingest.defaultCurrency }),

    ingestInventory: (events: readonly InventoryEventInput[]) =>
      writes.run(() => ingestInventory(events).then(reported('inventory'))),

    setStockThreshold: (productId: string, threshold: number) =>
      writes.run(() => setStockThreshold(productId, threshold)),

    stockLevels: (query: StockLevelQuery) =>
      readStockLevels(db.pool, { ...query, includeUnset: false }, { defaultThreshold }),

    stockWarnings: (filter: StockWarningFilter, page: { first?: number | null; after?: string | null }) =>
      readStockWarningPage(db.pool, filter, page),

    followStockWarnings: (filter: { productIds?: readonly string[] | null }, after?: string | null) => {
      checkProductIds(filter.productIds);
      return feed.follow(stockWarningFeed, { filter, after: after ? decodeCursor(after) : null });
    },

    recommendations: (userId: string, limit?: number | null) => readRecommendations(lists, userId, limit),

    /** The shopper's list now, then each time it changes (conflated; an unchanged list is not re-sent). */
    followRecommendations: (userId: string, limit?: number | null) => followRecommendations(lists, feed, userId, limit),

    deadLetters: (options: { stream?: IngestStream | null; first?: number | null; before?: string | null }) =>
      listDeadLetters(db.prisma, options),

    /** Keep stored recommendation lists up to date in the background (the server starts it). */
    startRecommendationBuilder: () => builder.start(),

    /** Build every list queued so far (for tests: the subscription lags the ingest by one build). */
    settleRecommendations: () => builder.settle(),

    /** Refuse new writes, wait for the ones in flight and for the list build in progress (graceful
     * shutdown); lists still queued are built by another process or after the restart. */
    drain: async () => {
      await writes.drain();
      await builder.stop();
    },
  };
}

/** Counts writes in flight so that shutdown can let them finish; refuses new ones after drain(). */
function trackWrites() {
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | null = null;
  return {
    async run<T>(write: () => Promise<T>): Promise<T> {
      if (draining)
        throw new Unavailable('the server is shutting down; send this batch again to another instance or later');
      inFlight++;
      try {
        return await write();
      } finally {
        inFlight--;
        if (inFlight === 0) idle?.();
      }
    },
    drain(): Promise<void> {
      draining = true;
      if (inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => {
        idle = resolve;
      });
    },
  };
}
