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
import { createActivitySummariesProcessor } from './activity/processor.js';
import { activityAppender } from './activity/record.js';
import { type ProductMetric, readFunnel, readTopProducts, type TimeRange } from './activity/summaries.js';
import type { ActivityEventInput, ActivityFilter } from './activity/types.js';
import { createCatalogueProcessor } from './catalogue/processor.js';
import {
  type CategorySalesWindow,
  listProducts,
  type ProductQuery,
  readCategorySales,
  readProducts,
} from './catalogue/read.js';
import { catalogueAppender } from './catalogue/record.js';
import type { ProductEventInput } from './catalogue/types.js';
import { validateProductEvent } from './catalogue/validate.js';
import type { Clock } from './clock.js';
import { Unavailable } from './errors.js';
import { type IngestStream, listDeadLetters } from './ingest/dead-letters.js';
import { createLogIngest, type LogAppender, type LogIngestOptions } from './ingest/ingest.js';
import type { IngestAck, IngestReport } from './ingest/rejections.js';
import { validateActivityEvent, validateInventoryEvent } from './ingest/validate.js';
import { stockWarningFeed } from './inventory/feed-source.js';
import { createStockLevelWatch } from './inventory/level-watch.js';
import { readStockMovements } from './inventory/movements.js';
import { createInventoryProcessor } from './inventory/processor.js';
import { checkProductIds, readStockLevels, readStockWarningPage, type StockLevelQuery } from './inventory/queries.js';
import { inventoryAppender } from './inventory/record.js';
import { createSetStockThreshold } from './inventory/threshold.js';
import type { InventoryEventInput, StockWarningFilter } from './inventory/types.js';
import type { LogName } from './processing/log.js';
import { createProcessing } from './processing/runner.js';
import { boundReads } from './reads.js';
import { createRecommendationBuilder } from './recommendations/builder.js';
import { createRecommendationsProcessor } from './recommendations/processor.js';
import { followRecommendations, readRecommendations } from './recommendations/read.js';
import { createRefundIngest } from './refunds/ingest.js';
import { createSalesAlertsProcessor } from './sales/alerts.js';
import {
  checkSalesAlertFilter,
  readSalesAlertPage,
  type SalesAlertFilter,
  salesAlertFeed,
} from './sales/alerts-feed.js';
import { salesFeed } from './sales/feed-source.js';
import { requireCurrency } from './sales/money.js';
import { createSalesProcessor } from './sales/processor.js';
import { readSalesWindows, type SalesQuery } from './sales/query.js';
import type { SalesFilter } from './sales/types.js';
import { createWebhookAdmin, readWebhookQueue, type WebhookDeliveryStatus } from './webhooks/admin.js';
import { createWebhookWorker, type WebhookOutcome } from './webhooks/worker.js';

export type CoreOptions = {
  db: Db;
  feed: Feed;
  fanout: Fanout;
  clock: Clock;
  config: Pick<
    Config,
    'db' | 'ingest' | 'inventory' | 'sales' | 'salesAlerts' | 'recommendations' | 'processing' | 'webhooks'
  >;
  /** Told the outcome of every ingest batch, for metrics. */
  onIngested?: (stream: IngestStream, report: IngestReport) => void;
  /** Told after every batch a processor commits, for metrics. */
  onBatch?: (processor: string, events: number, ms: number) => void;
  /** Told when a query is refused by a limit ('pool_wait', 'statement_timeout'), for metrics. */
  onRefused?: (limit: string) => void;
  /** For what goes wrong in the background (processors, the list builder); silent without it. */
  log?: Logger;
  /** For webhook deliveries; a child of `log` without it. */
  webhookLog?: Logger;
  /** Told how each webhook delivery attempt of this process ended, for metrics. */
  onWebhookOutcome?: (outcome: WebhookOutcome) => void;
};

export type Core = ReturnType<typeof createCore>;

export function createCore({
  db,
  feed,
  fanout,
  clock,
  config,
  onIngested,
  onBatch,
  onRefused,
  log,
  webhookLog,
  onWebhookOutcome,
}: CoreOptions) {
  const writes = trackWrites();
  // Queries get their own bounded share of connections: they cannot starve ingest, the
  // processors or subscription delivery, which use db.pool.
  const reads = boundReads(db.readPool, {
    connections: db.readPool === db.pool ? 1 : config.db.readPoolSize,
    waitMs: config.db.poolWaitMs,
    statementTimeoutMs: config.db.statementTimeoutMs,
    onRefused,
  });
  const lists = { db: db.pool, settings: config.recommendations, now: () => clock.now() };
  const defaultThreshold = config.inventory.lowStockThreshold;
  const background = log ?? pino({ level: 'silent' });

  // Ingest only appends to the log; the processors follow it (processing/runner.ts).
  const appendTo = <Input, Event extends { eventId: string }>(
    appender: LogAppender<Event>,
    validate: LogIngestOptions<Input, Event>['validate'],
  ) => createLogIngest({ pool: db.pool, fanout, clock, maxBatchSize: config.ingest.maxBatchSize, validate, appender });
  const defaultCurrency = config.ingest.defaultCurrency;
  const ingestActivity = appendTo(activityAppender, (input: ActivityEventInput, index, now) =>
    validateActivityEvent(input, index, { defaultCurrency, now }),
  );
  const ingestInventory = appendTo(inventoryAppender, (input: InventoryEventInput, index, now) =>
    validateInventoryEvent(input, index, { now }),
  );
  const ingestProducts = appendTo(catalogueAppender, (input: ProductEventInput, index, now) =>
    validateProductEvent(input, index, { defaultCurrency, now }),
  );
  // Refunds are checked against their order line in the append's transaction (refunds/ingest.ts).
  const ingestRefunds = createRefundIngest({
    pool: db.pool,
    fanout,
    clock,
    maxBatchSize: config.ingest.maxBatchSize,
    defaultCurrency,
  });
  const processing = createProcessing({
    pool: db.pool,
    fanout,
    log: background.child({ part: 'processing' }),
    ...config.processing,
    processors: [
      createInventoryProcessor({ defaultThreshold, clock }),
      createSalesProcessor(config.sales),
      createRecommendationsProcessor(config.recommendations),
      createActivitySummariesProcessor(),
      createCatalogueProcessor(),
      createSalesAlertsProcessor({ ...config.salesAlerts, shopTimeZone: config.sales.shopTimeZone }),
    ],
    onBatch,
  });
  // Stored lists are rebuilt after the processor's COMMIT; queries compute theirs at read time.
  const builder = createRecommendationBuilder({
    pool: db.pool,
    fanout,
    clock,
    settings: config.recommendations,
    log: background,
  });
  const setStockThreshold = createSetStockThreshold({ pool: db.pool, fanout, clock, defaultThreshold });
  // Live levels for product pages: one watch per process, conflated per subscriber.
  const levelWatch = createStockLevelWatch({
    db: db.pool,
    fanout,
    defaultThreshold,
    pollIntervalMs: config.processing.pollIntervalMs,
    log: background.child({ part: 'stock-levels' }),
  });
  // Webhooks: deliveries are queued with the items (inventory/stock.ts); the worker sends them.
  const webhookWorker = createWebhookWorker({
    pool: db.pool,
    settings: config.webhooks,
    log: webhookLog ?? background.child({ part: 'webhooks' }),
    onOutcome: onWebhookOutcome,
  });
  const webhooks = createWebhookAdmin({
    pool: db.pool,
    allowPrivate: config.webhooks.allowPrivate,
    onQueued: () => webhookWorker.wake(),
  });
  let stopWebhookWakeups: (() => void) | null = null;

  /** An ingest as the API calls it: stored, then (ack PROCESSED) applied by every processor that
   * follows `log`. Runs inside writes.run, so a graceful shutdown answers it before it stops the
   * processors. */
  const acknowledged =
    <Input>(log: LogName & IngestStream, ingest: (inputs: readonly Input[]) => Promise<IngestReport>) =>
    (events: readonly Input[], ack: IngestAck = 'PROCESSED') =>
      writes.run(async () => {
        const report = await ingest(events);
        onIngested?.(log, report);
        if (ack === 'PROCESSED' && report.position) await processing.waitProcessed(log, report.position);
        return report;
      });

  return {
    /** Appends a batch to the activity log; answers at COMMIT (STORED) or once processed (PROCESSED). */
    ingestActivity: acknowledged('activity', ingestActivity),

    userActivity: (filter: ActivityFilter, page: { first?: number | null; after?: string | null }) =>
      readActivityPage(reads, filter, page),

    followUserActivity: (filter: ActivityFilter, after?: string | null) =>
      feed.follow(activityFeed, { filter, after: after ? decodeCursor(after) : null }),

    sales: (query: SalesQuery) => readSalesWindows(reads, query),

    /** Each window of `filter` every time it changes; a slow subscriber gets each window's latest state. */
    followSales: (filter: SalesFilter, after?: string | null) =>
      feed.follow(salesFeed, {
        filter: { ...filter, currency: filter.currency == null ? null : requireCurrency(filter.currency) },
        after: after ? decodeCursor(after) : null,
      }),

    /** Sales alerts in feed order (each in its latest state), a page at a time. */
    salesAlerts: (filter: SalesAlertFilter, page: { first?: number | null; after?: string | null }) =>
      readSalesAlertPage(reads, filter, page),

    /** Each alert when raised and every time it changes (a late correction); conflated per alert. */
    followSalesAlerts: (filter: SalesAlertFilter, after?: string | null) =>
      feed.follow(salesAlertFeed, {
        filter: checkSalesAlertFilter(filter),
        after: after ? decodeCursor(after) : null,
      }),

    funnel: (range: TimeRange) => readFunnel(reads, range),

    /** REVENUE is summed in `currency` (default: DEFAULT_CURRENCY); other metrics ignore it. */
    topProducts: (query: TimeRange & { by: ProductMetric; limit?: number | null; currency?: string | null }) =>
      readTopProducts(reads, { ...query, currency: query.currency ?? config.ingest.defaultCurrency }),

    ingestInventory: acknowledged('inventory', ingestInventory),

    /** Appends a batch of refunds; each is checked against its order line (purchases and earlier refunds). */
    ingestRefunds: acknowledged('refunds', ingestRefunds),

    setStockThreshold: (productId: string, threshold: number) =>
      writes.run(() => setStockThreshold(productId, threshold)),

    stockLevels: (query: StockLevelQuery) =>
      readStockLevels(reads, { ...query, includeUnset: false }, { defaultThreshold }),

    /** The current level of each product, then each change (conflated: the latest per product). */
    followStockLevels: (productIds: readonly string[]) => levelWatch.follow(productIds),

    /** A product's counts, adjustments and purchases in event time, with the level after each. */
    stockMovements: (productId: string, page: { first?: number | null; after?: string | null }) =>
      readStockMovements(reads, productId, page),

    stockWarnings: (filter: StockWarningFilter, page: { first?: number | null; after?: string | null }) =>
      readStockWarningPage(reads, filter, page),

    followStockWarnings: (filter: { productIds?: readonly string[] | null }, after?: string | null) => {
      checkProductIds(filter.productIds);
      return feed.follow(stockWarningFeed, { filter, after: after ? decodeCursor(after) : null });
    },

    recommendations: (userId: string, limit?: number | null, category?: string | null) =>
      readRecommendations({ ...lists, db: reads }, userId, limit, category),

    /** The shopper's list now, then each time it changes (conflated; an unchanged list is not re-sent). */
    followRecommendations: (userId: string, limit?: number | null) => followRecommendations(lists, feed, userId, limit),

    /** Appends catalogue entries to the log; the latest entry per product in event time wins. */
    ingestProducts: acknowledged('catalogue', ingestProducts),

    /** The catalogue's entries for these products, in one query (absent: unknown to the catalogue). */
    productsById: (productIds: readonly string[]) => readProducts(reads, productIds),

    products: (query: ProductQuery) => listProducts(reads, query),

    /** Each window's revenue per category, in one query for all of them. */
    categorySales: (windows: readonly CategorySalesWindow[]) => readCategorySales(reads, windows),

    deadLetters: (options: { stream?: IngestStream | null; first?: number | null; before?: string | null }) =>
      listDeadLetters(db.prisma, options),

    registerWebhookEndpoint: (input: { url: string; kinds: readonly string[]; secret?: string | null }) =>
      webhooks.register(input),

    webhookEndpoints: () => webhooks.list(),

    setWebhookEndpointEnabled: (id: string, enabled: boolean, reason?: string | null) =>
      webhooks.setEnabled(id, enabled, reason),

    deleteWebhookEndpoint: (id: string) => webhooks.remove(id),

    webhookDeliveries: (options: {
      endpointId?: string | null;
      status?: WebhookDeliveryStatus | null;
      first?: number | null;
      before?: string | null;
    }) => webhooks.deliveries(options),

    replayWebhookDelivery: (id: string) => webhooks.replay(id),

    /** The delivery queue: pending, due, failed, oldest pending (/metrics). */
    webhookQueue: () => readWebhookQueue(db.pool),

    /** Deletes delivered webhook deliveries past WEBHOOK_DELIVERY_RETENTION_HOURS now (the worker does it once a minute). */
    pruneWebhookDeliveries: () => webhookWorker.prune(),

    /** Send queued webhook deliveries from this process (the server starts it; every server may). */
    startWebhooks: async () => {
      // Woken when a batch wrote warnings (here, in the background worker or, with Redis, elsewhere).
      const unsubscribes = [
        fanout.subscribe('inventory:warning', () => webhookWorker.wake()),
        fanout.subscribe('alerts:sales', () => webhookWorker.wake()),
      ];
      stopWebhookWakeups = () => {
        for (const unsubscribe of unsubscribes) unsubscribe();
      };
      await webhookWorker.start();
    },

    /** Follow the logs and keep stored lists up to date in the background (the server starts it).
     * Lists are built in every process (buildLists), except a server whose background worker
     * runs the recommendations: the worker builds them, next to the batches that queue them. */
    startProcessing: async (options: { buildLists?: boolean } = {}) => {
      await processing.start();
      if (options.buildLists ?? true) builder.start();
    },

    /** Process everything logged so far, then build every list queued (tests, tools). */
    settle: async () => {
      await processing.settle();
      await builder.settle();
    },

    /** Process everything logged so far, without building lists (tests of the builder). */
    settleProcessing: () => processing.settle(),

    /** Build every list queued so far (for tests: the subscription lags the processor by one build). */
    settleRecommendations: () => builder.settle(),

    /** Each processor's lag behind the head of each log it follows (/ready, /metrics). */
    processorLag: () => processing.lag(),

    /** Refuse new writes, wait for the ones in flight, the batches being processed and the list
     * build in progress (graceful shutdown); the rest is processed by another process or after
     * the restart, from the checkpoints. */
    drain: async () => {
      levelWatch.close();
      await writes.drain();
      await processing.stop();
      await builder.stop();
      stopWebhookWakeups?.();
      await webhookWorker.stop();
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
